//! Helpers for the archive tests (img-save, img-load, img-import,
//! img-export): file trees compared the way `umoci unpack` leaves them,
//! store snapshots that show a failed load changed nothing, tar rewriting to
//! make broken archives, podman confined to a temporary root.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::Env;

/// Every path under `root` (relative, sorted) with its type, mode, owner,
/// symlink target and content digest: what "the same file tree" means.
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let ft = meta.file_type();
        let what = if ft.is_symlink() {
            format!("link -> {}", std::fs::read_link(&path).unwrap().display())
        } else if ft.is_dir() {
            "dir".to_string()
        } else if ft.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            format!("file {}", img_core::digest::of_bytes(&bytes))
        } else {
            format!("special {:o}", meta.mode() & 0o170000)
        };
        let mode = if ft.is_symlink() {
            0
        } else {
            meta.permissions().mode() & 0o7777
        };
        out.insert(
            rel,
            format!("{what} mode {mode:o} owner {}:{}", meta.uid(), meta.gid()),
        );
        if ft.is_dir() {
            walk(root, &path, out);
        }
    }
}

/// Assert two trees are equal, listing the differences.
#[track_caller]
pub fn assert_same_tree(want: &Path, got: &Path) {
    let a = tree(want);
    let b = tree(got);
    let mut diff = Vec::new();
    for (k, v) in &a {
        match b.get(k) {
            Some(w) if w == v => {}
            Some(w) => diff.push(format!("{k}: want {v}, got {w}")),
            None => diff.push(format!("{k}: missing ({v})")),
        }
    }
    for (k, v) in &b {
        if !a.contains_key(k) {
            diff.push(format!("{k}: unexpected ({v})"));
        }
    }
    assert!(diff.is_empty(), "trees differ:\n{}", diff.join("\n"));
}

/// [`tree`] and more: every entry's modification time, extended
/// attributes and device number, and which paths are hard links of one
/// file (named by the first of them) — what "exactly the same tree" means.
pub fn exact_tree(root: &Path) -> BTreeMap<String, String> {
    use std::collections::HashMap;
    let mut out = tree(root);
    let mut inodes: HashMap<(u64, u64), String> = HashMap::new();
    for (rel, what) in out.iter_mut() {
        let path = root.join(rel);
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mut list = vec![0u8; 1 << 16];
        let n = rustix::fs::llistxattr(&path, &mut list[..]).unwrap_or(0);
        let mut names: Vec<&[u8]> = list[..n]
            .split(|b| *b == 0)
            .filter(|n| !n.is_empty())
            .collect();
        names.sort();
        let mut xattrs = Vec::new();
        for name in names {
            let mut value = vec![0u8; 1 << 16];
            let key = std::ffi::OsStr::from_bytes(name);
            let n = rustix::fs::lgetxattr(&path, key, &mut value[..]).unwrap_or(0);
            xattrs.push(format!(
                "{}={}",
                key.to_string_lossy(),
                String::from_utf8_lossy(&value[..n])
            ));
        }
        what.push_str(&format!(
            " mtime {} xattrs [{}]",
            meta.mtime(),
            xattrs.join(",")
        ));
        let kind = meta.mode() & 0o170000;
        if kind == 0o020000 || kind == 0o060000 {
            what.push_str(&format!(" device {:x}", meta.rdev()));
        }
        if !meta.is_dir() && meta.nlink() > 1 {
            // Sorted walk: the first path of a file names it.
            let first = inodes
                .entry((meta.dev(), meta.ino()))
                .or_insert_with(|| rel.clone());
            what.push_str(&format!(" hard link of {first}"));
        }
    }
    out
}

/// Assert two trees are exactly equal ([`exact_tree`]), listing the
/// differences.
#[track_caller]
pub fn assert_exact_tree(want: &Path, got: &Path) {
    let (a, b) = (exact_tree(want), exact_tree(got));
    let mut diff = Vec::new();
    for (k, v) in &a {
        match b.get(k) {
            Some(w) if w == v => {}
            Some(w) => diff.push(format!("{k}: want {v}, got {w}")),
            None => diff.push(format!("{k}: missing ({v})")),
        }
    }
    for (k, v) in &b {
        if !a.contains_key(k) {
            diff.push(format!("{k}: unexpected ({v})"));
        }
    }
    assert!(diff.is_empty(), "trees differ:\n{}", diff.join("\n"));
}

/// What a store holds: index.json's bytes, its blob names, and its ingest
/// area's files (which must be empty between programs).
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    index: Vec<u8>,
    blobs: Vec<String>,
    ingest: Vec<String>,
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Take a snapshot of the store at `root`.
pub fn snapshot(root: &Path) -> Snapshot {
    Snapshot {
        index: std::fs::read(root.join("index.json")).unwrap_or_default(),
        blobs: names(&root.join("blobs/sha256")),
        ingest: names(&root.join(".img/ingest")),
    }
}

/// The manifest digest and image ID (config digest) that `name` has in the
/// store at `root`.
pub fn digests(root: &Path, name: &str) -> (String, String) {
    let store = img_store::Store::open(root).unwrap();
    let found = store.resolve(name).unwrap();
    (found.target.digest().to_string(), found.id().to_string())
}

/// Copy the tar at `src` to `dst`, letting `change` rewrite or drop each
/// entry: it gets the path, the header and the data, and returns the entry
/// to write (or `None` to leave it out).
pub fn rewrite_tar(
    src: &Path,
    dst: &Path,
    mut change: impl FnMut(&str, tar::Header, Vec<u8>) -> Option<(String, tar::Header, Vec<u8>)>,
) {
    let mut archive = tar::Archive::new(std::fs::File::open(src).unwrap());
    let mut builder = tar::Builder::new(std::fs::File::create(dst).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if let Some((path, mut header, data)) = change(&path, header, data) {
            header.set_size(data.len() as u64);
            // Raw name bytes, so that hostile paths (`..`) survive.
            let name = header.as_old_mut();
            name.name = [0; 100];
            name.name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, &data[..]).unwrap();
        }
    }
    builder.finish().unwrap();
}

/// The entries of a tar file.
pub fn tar_paths(file: &Path) -> Vec<String> {
    let mut archive = tar::Archive::new(std::fs::File::open(file).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect()
}

/// A podman command confined to a store under the environment's directory
/// (never the system's /var/lib/containers).
pub fn podman(env: &Env) -> String {
    let root: PathBuf = env.path("podman");
    format!(
        "podman --root {0}/root --runroot {0}/run --storage-driver vfs --cgroup-manager cgroupfs --events-backend none",
        root.display()
    )
}
