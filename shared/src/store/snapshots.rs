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
//! overlayfs writes them (see `layer::extract`'s overlay mode), so a stack
//! of snapshots mounted as overlay lower directories is the image's root
//! filesystem. It is named by the layer's diff_id (the digest of its
//! uncompressed tar), so images that share a layer share its snapshot.
//!
//! The missing snapshots of an image are unpacked in parallel, one thread
//! per layer (as many as there are cores). A snapshot appears whole or not
//! at all: it is unpacked into a `tmp-`
//! directory, the uncompressed bytes hashed on the way and compared with
//! the diff_id, and renamed into place. Writers hold the store's shared gc
//! lock while they make snapshots and register the containers that use
//! them; the sweep (under the exclusive lock) keeps every snapshot an image
//! in the store or a container names.

use std::collections::HashSet;
use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use oci_spec::image::Descriptor;

use super::Store;
use crate::digest::{self, Digest, DigestReader};
use crate::error::{Error, IoContext, Kind, Result};
use crate::image::Target;
use crate::layer::{compression, extract};

const SNAPSHOTS: &str = "snapshots";
const TMP_PREFIX: &str = "tmp-";

impl Store {
    /// The directory of the snapshots.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.state_dir().join(SNAPSHOTS)
    }

    /// The snapshot directory of the layer `diff_id` (which may not exist).
    pub fn snapshot_path(&self, diff_id: &Digest) -> PathBuf {
        self.snapshots_dir().join(diff_id.digest())
    }

    /// The snapshot of `layer` (a layer blob in the store) whose
    /// uncompressed tar is `diff_id`, unpacked now unless it exists.
    pub fn snapshot(&self, layer: &Descriptor, diff_id: &Digest) -> Result<PathBuf> {
        digest::ensure_sha256(diff_id)?;
        let path = self.snapshot_path(diff_id);
        if path.is_dir() {
            return Ok(path);
        }
        self.hold_writer_lock()?;
        let tmp = self.snapshot_scratch()?;
        let blob = self.open_blob(layer)?;
        let (_, tar) = compression::decompress(BufReader::with_capacity(1 << 20, blob))?;
        let mut tar = DigestReader::new(tar);
        let options = extract::Options {
            preserve_owners: true,
            overlay: true,
        };
        let unpacked = extract::apply(&mut tar, tmp.path(), &options).and_then(|_| {
            // The tar's end blocks may be followed by padding the tar
            // reader leaves unread: the diff_id covers all of it.
            std::io::copy(&mut tar, &mut std::io::sink())
                .io_context(|| format!("reading layer {}", layer.digest()))
        });
        unpacked.map_err(|e| e.context(format!("unpacking layer {}", layer.digest())))?;
        let (actual, _) = tar.digest();
        if &actual != diff_id {
            return Err(Error::new(
                Kind::DigestMismatch,
                format!(
                    "layer {} unpacks to {actual}, but the image config says {diff_id}",
                    layer.digest()
                ),
            ));
        }
        self.adopt_snapshot(tmp, diff_id)
    }

    /// The snapshots of an image's `layers` (whose diff_ids its config
    /// lists), unpacked where missing, top first as an overlay stacks them.
    pub fn snapshots_of(&self, layers: &[Descriptor], diff_ids: &[Digest]) -> Result<Vec<PathBuf>> {
        if diff_ids.len() != layers.len() {
            return Err(Error::invalid(format!(
                "the image has {} layers but its config lists {} diff_ids",
                layers.len(),
                diff_ids.len()
            )));
        }
        // Missing layers are unpacked at once, each by a thread of its
        // own (as `img-export --output-dir` decompresses an image's
        // layers): a snapshot depends on its layer alone.
        let pairs: Vec<(&Descriptor, &Digest)> = layers.iter().zip(diff_ids).collect();
        let threads = crate::parallel::cores(pairs.len());
        let mut lowers = crate::parallel::map(&pairs, threads, &Default::default(), |(l, d)| {
            self.snapshot(l, d)
        })?;
        lowers.reverse();
        Ok(lowers)
    }

    /// A fresh directory beside the snapshots, for one to be made in; it
    /// is removed when dropped unless [`Store::adopt_snapshot`] takes it.
    pub fn snapshot_scratch(&self) -> Result<tempfile::TempDir> {
        self.hold_writer_lock()?;
        let dir = self.snapshots_dir();
        fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
        tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempdir_in(&dir)
            .io_context(|| format!("creating a directory in {}", dir.display()))
    }

    /// Make `unpacked` (a directory from [`Store::snapshot_scratch`]
    /// holding the layer `diff_id` in overlay form) that layer's snapshot.
    /// When another program made it meanwhile, theirs stays.
    pub fn adopt_snapshot(&self, unpacked: tempfile::TempDir, diff_id: &Digest) -> Result<PathBuf> {
        let path = self.snapshot_path(diff_id);
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
    pub(crate) fn sweep_snapshots(&self, also_keep: &HashSet<Digest>) -> Result<usize> {
        let dir = self.snapshots_dir();
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
        for entry in self.index()?.entries() {
            let Ok(target) = self.load_target(&entry.descriptor) else {
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

/// Remove a file, or a directory tree.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    let removed = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match removed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::create;

    fn layer_blob(store: &Store, tree: &Path) -> (Descriptor, Digest) {
        let (tar, _) = create::create(tree, Vec::new(), create::Options::default()).unwrap();
        let diff_id = digest::of_bytes(&tar);
        let (digest, size) = store.write_blob(&tar).unwrap();
        let descriptor = oci_spec::image::DescriptorBuilder::default()
            .media_type(oci_spec::image::MediaType::ImageLayer)
            .digest(digest)
            .size(size)
            .build()
            .unwrap();
        (descriptor, diff_id)
    }

    #[test]
    fn a_layer_is_unpacked_once_and_checked_against_its_diff_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::write(tree.join("etc/motd"), b"hi\n").unwrap();
        let (layer, diff_id) = layer_blob(&store, &tree);
        let path = store.snapshot(&layer, &diff_id).unwrap();
        assert_eq!(fs::read(path.join("etc/motd")).unwrap(), b"hi\n");
        // Present: not unpacked again.
        fs::write(path.join("marker"), b"").unwrap();
        assert_eq!(store.snapshot(&layer, &diff_id).unwrap(), path);
        assert!(path.join("marker").exists());

        let wrong = digest::of_bytes(b"another layer");
        let err = store.snapshot(&layer, &wrong).unwrap_err();
        assert_eq!(err.kind(), Kind::DigestMismatch);
        assert!(!store.snapshot_path(&wrong).exists());
        let left: Vec<_> = fs::read_dir(store.snapshots_dir()).unwrap().collect();
        assert_eq!(left.len(), 1, "no scratch directory left behind");
    }

    #[test]
    fn the_sweep_keeps_what_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let tree = dir.path().join("tree");
        fs::create_dir_all(&tree).unwrap();
        fs::write(tree.join("f"), b"1").unwrap();
        let (one, one_id) = layer_blob(&store, &tree);
        fs::write(tree.join("f"), b"2").unwrap();
        let (two, two_id) = layer_blob(&store, &tree);
        store.snapshot(&one, &one_id).unwrap();
        store.snapshot(&two, &two_id).unwrap();
        let abandoned = store.snapshot_scratch().unwrap().keep();
        let kept: HashSet<Digest> = [two_id.clone()].into();
        assert_eq!(store.sweep_snapshots(&kept).unwrap(), 2);
        assert!(!store.snapshot_path(&one_id).exists());
        assert!(store.snapshot_path(&two_id).exists());
        assert!(!abandoned.exists());
    }
}
