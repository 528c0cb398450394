//! Unpacking gives the tree that extracting the flattened layers gives
//! (`img-export | tar -x`), whatever the number of workers; it never writes
//! outside the root.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::*;
use crate::test_layers::{layer, stack, tree, Mem, E};
use crate::{extract, flatten};

/// Unpack `layers` with `workers` workers into a new directory of `tmp`.
fn unpacked(tmp: &Path, name: &str, layers: &[Vec<u8>], workers: usize) -> Result<Report> {
    let dest = tmp.join(name);
    fs::create_dir(&dest).unwrap();
    let sources: Vec<Mem> = layers.iter().map(|l| Mem(l.clone())).collect();
    let refs: Vec<&(dyn LayerSource + Sync)> = sources
        .iter()
        .map(|s| s as &(dyn LayerSource + Sync))
        .collect();
    let options = Options {
        preserve_owners: false,
        workers,
    };
    unpack(&refs, &Root::open(&dest)?, &options)
}

/// Flatten `layers` (as `img-export` does) and extract the result into a
/// new directory of `tmp` (as `tar -x` does).
fn applied(tmp: &Path, name: &str, layers: &[Vec<u8>]) {
    let dest = tmp.join(name);
    fs::create_dir(&dest).unwrap();
    let options = extract::Options {
        preserve_owners: false,
        overlay: false,
    };
    let sources: Vec<Mem> = layers.iter().map(|l| Mem(l.clone())).collect();
    let refs: Vec<&dyn LayerSource> = sources.iter().map(|s| s as &dyn LayerSource).collect();
    let flat = flatten::flatten(&refs, Vec::new()).unwrap();
    extract::apply(&flat[..], &dest, &options).unwrap();
}

#[test]
fn unpacking_equals_extracting_the_flattened_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = stack();
    applied(tmp.path(), "applied", &layers);
    let want = tree(&tmp.path().join("applied"));
    assert!(want.contains_key("a/hl"));
    for workers in [1, 2, 3] {
        let name = format!("unpacked-{workers}");
        unpacked(tmp.path(), &name, &layers, workers).unwrap();
        assert_eq!(tree(&tmp.path().join(&name)), want, "{workers} workers");
    }
}

#[test]
fn a_hard_link_keeps_content_its_target_had_in_its_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = vec![
        layer(&[E::File("t", "old", 0o644)]),
        layer(&[E::Hard("l1", "t"), E::Hard("l2", "t")]),
        layer(&[E::File("t", "new", 0o600)]),
    ];
    applied(tmp.path(), "applied", &layers);
    let want = tree(&tmp.path().join("applied"));
    assert!(want["l1"].contains("\"old\" links 2"), "{want:?}");
    for workers in [1, 3] {
        let name = format!("unpacked-{workers}");
        unpacked(tmp.path(), &name, &layers, workers).unwrap();
        assert_eq!(tree(&tmp.path().join(&name)), want, "{workers} workers");
    }
}

#[test]
fn a_hard_link_to_nothing_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = vec![layer(&[E::Hard("l", "missing")])];
    let err = unpacked(tmp.path(), "u", &layers, 2).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn nothing_is_written_outside_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("victim"), "intact").unwrap();
    let layers = vec![
        layer(&[E::Sym("out", ".."), E::Sym("abs", "/")]),
        layer(&[E::File("out/victim", "overwritten", 0o644)]),
        layer(&[E::File("abs/victim", "overwritten", 0o644)]),
    ];
    unpacked(tmp.path(), "u", &layers, 3).unwrap();
    assert_eq!(
        fs::read_to_string(tmp.path().join("victim")).unwrap(),
        "intact"
    );
    // Each higher layer's directory hides the link below it, as in an
    // overlay.
    assert!(tmp.path().join("u/out").is_dir());
    assert!(tmp.path().join("u/abs/victim").is_file());
    // The tar crate refuses to write such a name: set it in the header.
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../victim");
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(11);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"overwritten"[..]).unwrap();
    let escaping = b.into_inner().unwrap();
    assert!(unpacked(tmp.path(), "v", &[escaping], 1).is_err());
    assert_eq!(
        fs::read_to_string(tmp.path().join("victim")).unwrap(),
        "intact"
    );
}

#[test]
fn the_staging_directory_is_gone_after_success_and_failure() {
    let tmp = tempfile::tempdir().unwrap();
    unpacked(tmp.path(), "ok", &stack(), 3).unwrap();
    let names: Vec<String> = fs::read_dir(tmp.path().join("ok"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(".img-unpack")),
        "{names:?}"
    );
    let bad = vec![stack()[0].clone(), b"not a tar at all".repeat(64)];
    assert!(unpacked(tmp.path(), "bad", &bad, 2).is_err());
    let names: Vec<String> = fs::read_dir(tmp.path().join("bad"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(".img-unpack")),
        "{names:?}"
    );
}

/// A lower layer that says when it was read to its end.
struct Signal(Vec<u8>, std::sync::mpsc::Sender<()>);

/// The top layer, held back until every lower layer was read to its end:
/// their entries all wait in the staging directory for its facts.
struct Gate(Vec<u8>, Mutex<std::sync::mpsc::Receiver<()>>, usize);

/// Bytes, with something done before the first read or at the end.
struct Reading<'a> {
    bytes: &'a [u8],
    first: Option<Box<dyn FnOnce() + 'a>>,
    at_end: Option<Box<dyn FnOnce() + 'a>>,
}

impl Read for Reading<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(first) = self.first.take() {
            first();
        }
        let n = self.bytes.read(buf)?;
        if n == 0 {
            if let Some(at_end) = self.at_end.take() {
                at_end();
            }
        }
        Ok(n)
    }
}

impl LayerSource for Signal {
    fn open(&self) -> Result<Box<dyn Read + '_>> {
        let send = self.1.clone();
        Ok(Box::new(Reading {
            bytes: &self.0,
            first: None,
            at_end: Some(Box::new(move || send.send(()).unwrap())),
        }))
    }
    fn describe(&self) -> String {
        "lower test layer".into()
    }
}

impl LayerSource for Gate {
    fn open(&self) -> Result<Box<dyn Read + '_>> {
        let wait = move || {
            let received = self.1.lock().unwrap();
            for _ in 0..self.2 {
                received.recv().unwrap();
            }
        };
        Ok(Box::new(Reading {
            bytes: &self.0,
            first: Some(Box::new(wait)),
            at_end: None,
        }))
    }
    fn describe(&self) -> String {
        "top test layer".into()
    }
}

#[test]
fn lower_layers_read_before_the_top_one_give_the_same_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let layers = stack();
    applied(tmp.path(), "applied", &layers);
    let dest = tmp.path().join("gated");
    fs::create_dir(&dest).unwrap();
    let (send, received) = std::sync::mpsc::channel();
    let lower: Vec<Signal> = layers[..2]
        .iter()
        .map(|l| Signal(l.clone(), send.clone()))
        .collect();
    let top = Gate(layers[2].clone(), Mutex::new(received), 2);
    let mut refs: Vec<&(dyn LayerSource + Sync)> = lower
        .iter()
        .map(|s| s as &(dyn LayerSource + Sync))
        .collect();
    refs.push(&top);
    let options = Options {
        preserve_owners: false,
        workers: 3,
    };
    unpack(&refs, &Root::open(&dest).unwrap(), &options).unwrap();
    assert_eq!(tree(&dest), tree(&tmp.path().join("applied")));
}

#[test]
fn a_big_file_is_written_whole_by_its_own_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let big: String = (0..(9 << 20) / 16).map(|i| format!("{i:015}\n")).collect();
    let layers = vec![
        layer(&[E::File("big", &big, 0o640)]),
        layer(&[E::File("small", "s", 0o644)]),
    ];
    unpacked(tmp.path(), "u", &layers, 2).unwrap();
    assert_eq!(fs::read_to_string(tmp.path().join("u/big")).unwrap(), big);
    let meta = fs::metadata(tmp.path().join("u/big")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert_eq!(meta.mtime(), 1_000_000);
    // Cut short: the error says the layer is bad.
    let mut cut = layers[0].clone();
    cut.truncate(5 << 20);
    let err = unpacked(tmp.path(), "cut", &[cut], 1).unwrap_err();
    assert_eq!(err.kind(), img_core::Kind::InvalidInput, "{err}");
}
