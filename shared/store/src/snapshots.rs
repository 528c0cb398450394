//! Snapshots: image layers unpacked for overlay mounts, as Docker's
//! overlay2 driver keeps them.
//!
//! ```text
//! ROOT/.img/snapshots/HEX/     one layer, in overlay form, named by its diff_id
//! ROOT/.img/snapshots/tmp-*    a layer being unpacked (or a build step's upper
//!                              directory being made a snapshot)
//! ```
//!
//! A snapshot holds one layer's own entries, its whiteouts written as
//! overlayfs writes them (see `img_layers::extract`'s overlay mode), so a stack
//! of snapshots mounted as overlay lower directories is the image's root
//! filesystem. It is named by the layer's diff_id (the digest of its
//! uncompressed tar), so images that share a layer share its snapshot.
//!
//! A snapshot appears whole or not at all: it is made in a `tmp-`
//! directory ([`Snapshots::scratch`]) and renamed into place
//! ([`Snapshots::adopt`]); `img_layers::unpack` fills it from a layer blob,
//! checking the uncompressed bytes against the diff_id on the way. Writers hold the store's shared gc
//! lock while they make snapshots and register the containers that use
//! them; the sweep (under the exclusive lock) keeps every snapshot an image
//! in the store or a container names.

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;

use crate::{remove_tree, Store};
use img_core::digest::{self, Digest};
use img_core::error::{Error, IoContext, Result};
use img_core::image::Target;

const SNAPSHOTS: &str = "snapshots";
const TMP_PREFIX: &str = "tmp-";

/// The snapshots of a store.
pub struct Snapshots<'a> {
    store: &'a Store,
}

impl<'a> Snapshots<'a> {
    /// The snapshots of `store`.
    pub fn of(store: &'a Store) -> Snapshots<'a> {
        Snapshots { store }
    }

    /// The store they belong to.
    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// The directory of the snapshots.
    pub fn dir(&self) -> PathBuf {
        self.store.state_dir().join(SNAPSHOTS)
    }

    /// The snapshot directory of the layer `diff_id` (which may not exist).
    pub fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir().join(diff_id.digest())
    }

    /// A fresh directory beside the snapshots, for one to be made in; it
    /// is removed when dropped unless [`Snapshots::adopt`] takes it.
    pub fn scratch(&self) -> Result<tempfile::TempDir> {
        self.store.hold_writer_lock()?;
        let dir = self.dir();
        fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
        tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempdir_in(&dir)
            .io_context(|| format!("creating a directory in {}", dir.display()))
    }

    /// Make `unpacked` (a directory from [`Snapshots::scratch`] holding
    /// the layer `diff_id` in overlay form) that layer's snapshot. When
    /// another program made it meanwhile, theirs stays.
    pub fn adopt(&self, unpacked: tempfile::TempDir, diff_id: &Digest) -> Result<PathBuf> {
        let path = self.path(diff_id);
        let from = unpacked.keep();
        match fs::rename(&from, &path) {
            Ok(()) => Ok(path),
            Err(_) if path.is_dir() => {
                let _ = fs::remove_dir_all(&from);
                Ok(path)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&from);
                Err(Error::io(format!("storing snapshot {}", path.display()), e))
            }
        }
    }

    /// Remove the snapshots of layers no image in the store and none of
    /// `also_keep` (the layers of containers) names, and abandoned scratch
    /// directories. The caller holds the gc lock exclusively. Returns how
    /// many snapshots went.
    pub(crate) fn sweep(&self, also_keep: &HashSet<Digest>) -> Result<usize> {
        let dir = self.dir();
        if !dir.is_dir() {
            return Ok(0);
        }
        let mut keep = self.image_diff_ids()?;
        keep.extend(also_keep.iter().cloned());
        let mut removed = 0;
        for entry in fs::read_dir(&dir).io_context(|| format!("listing {}", dir.display()))? {
            let entry = entry.io_context(|| format!("listing {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let unused = name.starts_with(TMP_PREFIX)
                || digest::from_hex(&name).is_ok_and(|d| !keep.contains(&d));
            if unused {
                remove_tree(&entry.path())?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The diff_ids of every image the index reaches (every platform of
    /// an index that the store holds).
    fn image_diff_ids(&self) -> Result<HashSet<Digest>> {
        let mut ids = HashSet::new();
        for entry in self.store.index()?.entries() {
            let Ok(target) = self.store.load_target(&entry.descriptor) else {
                continue; // an incomplete image has nothing unpacked to keep
            };
            let images = match &target {
                Target::Image(image) => std::slice::from_ref(image.as_ref()),
                Target::Index(index) => index.images.as_slice(),
            };
            for image in images {
                let diff_ids = image.config.rootfs().diff_ids();
                ids.extend(diff_ids.iter().filter_map(|d| digest::parse(d).ok()));
            }
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot of `diff_id` holding one file, made as a layer's unpacking
    /// makes it: in scratch, then adopted.
    fn made(snapshots: &Snapshots, diff_id: &Digest) -> PathBuf {
        let tmp = snapshots.scratch().unwrap();
        fs::write(tmp.path().join("f"), diff_id.digest()).unwrap();
        snapshots.adopt(tmp, diff_id).unwrap()
    }

    #[test]
    fn adopting_keeps_the_first_snapshot_made() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let snapshots = Snapshots::of(&store);
        let id = digest::of_bytes(b"one layer");
        let path = made(&snapshots, &id);
        assert_eq!(path, snapshots.path(&id));
        let again = snapshots.scratch().unwrap();
        fs::write(again.path().join("f"), b"other").unwrap();
        assert_eq!(snapshots.adopt(again, &id).unwrap(), path);
        assert_eq!(fs::read(path.join("f")).unwrap(), id.digest().as_bytes());
        let left: Vec<_> = fs::read_dir(snapshots.dir()).unwrap().collect();
        assert_eq!(left.len(), 1, "no scratch directory left behind");
    }

    #[test]
    fn the_sweep_keeps_what_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let snapshots = Snapshots::of(&store);
        let one_id = digest::of_bytes(b"1");
        let two_id = digest::of_bytes(b"2");
        made(&snapshots, &one_id);
        made(&snapshots, &two_id);
        let abandoned = snapshots.scratch().unwrap().keep();
        let kept: HashSet<Digest> = [two_id.clone()].into();
        assert_eq!(snapshots.sweep(&kept).unwrap(), 2);
        assert!(!snapshots.path(&one_id).exists());
        assert!(snapshots.path(&two_id).exists());
        assert!(!abandoned.exists());
    }
}
