//! What img's fuzz targets share: scratch directories in memory (under
//! `/dev/shm` when the machine has it), so that targets that make a store or
//! unpack a tree on every input run at memory speed, and the checks that
//! hold whatever the input (a store stays consistent, nothing outside a
//! layer's root changes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A fresh directory, removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = {
        let mut b = tempfile::Builder::new();
        b.prefix("img-fuzz-");
        b
    };
    if shm.is_dir() {
        builder
            .tempdir_in(shm)
            .expect("a scratch directory in /dev/shm")
    } else {
        builder.tempdir().expect("a scratch directory")
    }
}

/// A fresh, empty store in a scratch directory.
pub fn store() -> (tempfile::TempDir, img_store::Store) {
    let dir = scratch();
    let store = img_store::Store::open(dir.path().join("store")).expect("a new store");
    (dir, store)
}

/// Panic unless the store is consistent: every blob hashes to its name,
/// every name reaches complete content, no temporary file is left.
pub fn assert_consistent(store: &img_store::Store) {
    let problems = img_check::verify(store).expect("verifying the store");
    assert!(problems.is_empty(), "inconsistent store: {problems:?}");
}

/// Every path below `dir` (not following links) with its type, mode, size
/// and link target: what "nothing changed here" compares.
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let link = std::fs::read_link(&path).ok();
            let content = if meta.is_file() {
                std::fs::read(&path)
                    .ok()
                    .map(|b| img_core::digest::of_bytes(&b).to_string())
            } else {
                None
            };
            out.insert(
                path.clone(),
                format!("{:o} {} {:?} {:?}", meta.mode(), meta.len(), link, content),
            );
            if meta.is_dir() {
                pending.push(path);
            }
        }
    }
    out
}
