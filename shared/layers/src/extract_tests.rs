//! Tests of layer extraction, and of flattening against it: applying layers
//! one by one and applying their flattened tar must give the same tree.

use std::fs;

use super::*;
use crate::flatten::{self, LayerSource};
use crate::test_layers::{layer, tree, Mem, E};

fn options() -> Options {
    Options {
        preserve_owners: false,
        overlay: false,
    }
}

#[test]
fn layers_applied_in_order_equal_their_flattened_tar() {
    let l1 = layer(&[
        E::Dir("a", 0o750),
        E::Dir("a/b", 0o755),
        E::File("a/b/f", "one", 0o644),
        E::Hard("a/hl", "a/b/f"),
        E::Hard("a/hl2", "a/b/f"),
        E::Dir("c", 0o755),
        E::File("c/k", "keep", 0o4755),
        E::Sym("c/sym", "../a/b/f"),
        E::Dir("d", 0o755),
        E::File("d/g", "gone", 0o644),
        E::Dir("d/sub", 0o755),
        E::File("d/sub/x", "deep", 0o644),
        E::Dir("e", 0o755),
        E::File("e/x", "x", 0o644),
        E::Dir("f", 0o755),
        E::File("f/inside", "in", 0o644),
    ]);
    let l2 = layer(&[
        E::Dir("a", 0o700),
        E::File("a/b/f", "two", 0o600),
        E::Dir("d", 0o755),
        E::File("d/.wh..wh..opq", "", 0o644),
        E::File("d/n", "new", 0o644),
        E::File("c/.wh.k", "", 0o644),
        E::File(".wh.e", "", 0o644),
        E::File("f", "file now", 0o644),
    ]);
    let l3 = layer(&[
        E::Dir("e", 0o755),
        E::File("e/y", "back", 0o644),
        E::Sym("lnk", "/nowhere"),
    ]);
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    fs::create_dir(&one).unwrap();
    fs::create_dir(&two).unwrap();
    for l in [&l1, &l2, &l3] {
        apply(&l[..], &one, &options()).unwrap();
    }
    let sources = [Mem(l1), Mem(l2), Mem(l3)];
    let refs: Vec<&dyn LayerSource> = sources.iter().map(|s| s as &dyn LayerSource).collect();
    let flat = flatten::flatten(&refs, Vec::new()).unwrap();
    apply(&flat[..], &two, &options()).unwrap();
    let want = tree(&one, false);
    assert_eq!(want, tree(&two, false));
    assert_eq!(want["a"], "dir 700");
    assert_eq!(want["a/b/f"], "file 600 \"two\" links 1");
    assert_eq!(want["a/hl"], "file 644 \"one\" links 2");
    assert_eq!(want["d/n"], "file 644 \"new\" links 1");
    assert_eq!(want["f"], "file 644 \"file now\" links 1");
    assert_eq!(want["lnk"], "-> /nowhere");
    for gone in ["c/k", "d/g", "d/sub", "e/x", "f/inside"] {
        assert!(!want.contains_key(gone), "{gone}: {want:?}");
    }
    assert!(want.contains_key("e/y"));
}

#[test]
fn never_writes_outside_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let outside = tmp.path().join("outside");
    fs::create_dir(&root).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("keep"), "mine").unwrap();
    // From `root/esc`, `../outside` is the real `outside` beside the root:
    // where the link would lead if it were followed on the host.
    let escape = format!("../{}", outside.file_name().unwrap().to_str().unwrap());
    let hostile = layer(&[
        E::Sym("esc", &escape),
        E::Sym("abs", "/"),
        E::File("esc/pwned", "x", 0o644),
        E::File("abs/tmp/pwned", "x", 0o644),
        E::File("esc/.wh.keep", "", 0o644),
    ]);
    let report = apply(&hostile[..], &root, &options()).unwrap();
    assert_eq!(report.written, 4);
    assert!(!outside.join("pwned").exists());
    assert_eq!(fs::read_to_string(outside.join("keep")).unwrap(), "mine");
    assert!(root.join("outside/pwned").is_file());
    assert!(root.join("tmp/pwned").is_file());
    // a hard link to a host file through a symlink finds nothing inside
    let link = layer(&[E::Hard("h", "abs/etc/hostname")]);
    let err = apply(&link[..], &root, &options()).unwrap_err();
    assert_eq!(err.kind(), img_core::Kind::InvalidInput, "{err}");
    // `..` leaving the root is refused outright
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_entry_type(tar::EntryType::Regular);
    h.as_old_mut().name[..9].copy_from_slice(b"../evil\0\0");
    h.set_cksum();
    b.append(&h, &b"x"[..]).unwrap();
    let err = apply(&b.into_inner().unwrap()[..], &root, &options()).unwrap_err();
    assert_eq!(err.kind(), img_core::Kind::InvalidInput);
    assert!(!tmp.path().join("evil").exists());
}

#[test]
fn whiteouts_of_the_root_or_its_parent_are_refused_and_delete_nothing() {
    for (hostile, overlay) in [
        (&[E::File(".wh...", "", 0o644)][..], false),
        (
            &[E::Dir("dir", 0o755), E::File("dir/.wh...", "", 0o644)][..],
            false,
        ),
        (&[E::File(".wh..", "", 0o644)][..], false),
        (
            &[E::Sym("r", "/"), E::File("r/.wh...", "", 0o644)][..],
            false,
        ),
        (&[E::File(".wh...", "", 0o644)][..], true),
        (&[E::Sym("r", "/"), E::File("r/.wh..", "", 0o644)][..], true),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir(&root).unwrap();
        fs::write(root.join("lower"), "lower layer").unwrap();
        fs::write(tmp.path().join("beside"), "victim").unwrap();
        let options = Options {
            preserve_owners: false,
            overlay,
        };
        let err = apply(&layer(hostile)[..], &root, &options).unwrap_err();
        assert_eq!(err.kind(), img_core::Kind::InvalidInput, "{err}");
        assert!(err.to_string().contains("whiteout"), "{err}");
        assert_eq!(
            fs::read_to_string(tmp.path().join("beside")).unwrap(),
            "victim"
        );
        assert_eq!(
            fs::read_to_string(root.join("lower")).unwrap(),
            "lower layer"
        );
    }
}
