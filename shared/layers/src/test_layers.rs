//! Layers made in memory for the unpackers' tests, and the trees they
//! leave described as text: one home for what the tests of `extract`,
//! `rootfs` and `unpack` build.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::flatten::LayerSource;
use img_core::error::Result;

/// One entry of a test layer.
pub enum E<'a> {
    /// A directory and its mode.
    Dir(&'a str, u32),
    /// A regular file, its content and mode.
    File(&'a str, &'a str, u32),
    /// A symbolic link and its target.
    Sym(&'a str, &'a str),
    /// A hard link and its target.
    Hard(&'a str, &'a str),
}

/// A layer tar of `entries`, each a second newer than the one before.
pub fn layer(entries: &[E<'_>]) -> Vec<u8> {
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

/// Every path with its type, mode, content, link count and (except for
/// links) modification time.
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let desc = if m.file_type().is_symlink() {
                format!("-> {}", fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                walk(root, &p, out);
                format!("dir {:o} {}", m.permissions().mode() & 0o7777, m.mtime())
            } else {
                format!(
                    "file {:o} {:?} links {} {}",
                    m.permissions().mode() & 0o7777,
                    fs::read_to_string(&p).unwrap(),
                    m.nlink(),
                    m.mtime()
                )
            };
            out.insert(rel, desc);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// `tree` without directories' times, which applying layers one at a
/// time sets to now wherever a later layer writes into a directory (as
/// `tar -x` of each layer in turn does).
pub fn untimed_dirs(tree: BTreeMap<String, String>) -> BTreeMap<String, String> {
    tree.into_iter()
        .map(|(path, desc)| match desc.strip_prefix("dir ") {
            Some(rest) => (
                path,
                format!("dir {}", rest.split(' ').next().unwrap_or("")),
            ),
            None => (path, desc),
        })
        .collect()
}

/// A layer held in memory.
pub struct Mem(pub Vec<u8>);

impl LayerSource for Mem {
    fn open(&self) -> Result<Box<dyn Read + '_>> {
        Ok(Box::new(&self.0[..]))
    }
    fn describe(&self) -> String {
        "test layer".into()
    }
}

/// Three layers with every kind of entry, whiteouts, an opaque directory,
/// hard links, a path written twice and a read-only directory.
pub fn stack() -> Vec<Vec<u8>> {
    let l1 = layer(&[
        E::Dir("a", 0o750),
        E::Dir("a/b", 0o755),
        E::File("a/b/f", "one", 0o644),
        E::Hard("a/hl", "a/b/f"),
        E::Hard("a/hl2", "a/b/f"),
        E::Dir("c", 0o755),
        E::File("c/k", "keep", 0o4755),
        E::Sym("c/sym", "../a/b/f"),
        E::File("c/same", "kept", 0o600),
        E::Hard("c/same-link", "c/same"),
        E::Dir("d", 0o755),
        E::File("d/g", "gone", 0o644),
        E::Dir("d/sub", 0o755),
        E::File("d/sub/x", "deep", 0o644),
        E::Dir("e", 0o755),
        E::File("e/x", "x", 0o644),
        E::Dir("f", 0o755),
        E::File("f/inside", "in", 0o644),
        E::Dir("ro", 0o555),
        E::File("ro/file", "in a read-only directory", 0o444),
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
        E::File("twice", "first", 0o644),
        E::File("twice", "second", 0o640),
    ]);
    let l3 = layer(&[
        E::Dir("e", 0o755),
        E::File("e/y", "back", 0o644),
        E::Sym("lnk", "/nowhere"),
        E::Dir("ro", 0o500),
    ]);
    vec![l1, l2, l3]
}
