//! Layers and trees for the unit tests of extraction, flattening and the
//! rootfs engine, which compare what each makes of the same layers.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use img_core::error::Result;

use crate::flatten::LayerSource;

/// One entry of a test layer.
pub(crate) enum E<'a> {
    Dir(&'a str, u32),
    File(&'a str, &'a str, u32),
    Sym(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

/// A layer of `entries`, the nth modified at 1 000 000 + n seconds.
pub(crate) fn layer(entries: &[E<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (n, e) in entries.iter().enumerate() {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_000_000 + n as u64);
        match e {
            E::Dir(p, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            E::File(p, text, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(text.len() as u64);
                b.append_data(&mut h, p, text.as_bytes()).unwrap();
            }
            E::Sym(p, t) | E::Hard(p, t) => {
                h.set_entry_type(if matches!(e, E::Sym(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                });
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, t).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// Every path with its type, mode, content, link count and, `with_times`,
/// (except for links) modification time.
pub(crate) fn tree(root: &Path, with_times: bool) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, with_times: bool, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let time = if with_times {
                format!(" {}", m.mtime())
            } else {
                String::new()
            };
            let desc = if m.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                walk(root, &p, with_times, out);
                format!("dir {:o}{time}", m.permissions().mode() & 0o7777)
            } else {
                format!(
                    "file {:o} {:?} links {}{time}",
                    m.permissions().mode() & 0o7777,
                    fs::read_to_string(&p).unwrap(),
                    m.nlink(),
                )
            };
            out.insert(rel, desc);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, with_times, &mut out);
    out
}

/// A layer held in memory.
pub(crate) struct Mem(pub Vec<u8>);

impl LayerSource for Mem {
    fn open(&self) -> Result<Box<dyn Read + '_>> {
        Ok(Box::new(&self.0[..]))
    }
    fn describe(&self) -> String {
        "test layer".into()
    }
}
