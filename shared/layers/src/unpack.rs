//! Unpacking layers into the store's snapshots: a layer blob decompressed,
//! applied in overlay form (whiteouts as overlayfs writes them) into a
//! scratch directory, its uncompressed bytes checked against the diff_id
//! the image config names, and adopted as that layer's snapshot (see
//! `img_store::Snapshots`). A snapshot is one layer's own tree, so there is
//! nothing to decide between layers: its entries are made as they are read,
//! by the same [`crate::place`] that `img-export --output-dir`'s engine
//! ([`crate::rootfs`]) makes an image's entries with (large files written
//! by a thread of their own while the next bytes are inflated, metadata
//! set through each file's descriptor). A snapshot that exists is not unpacked again;
//! the missing snapshots of an image are unpacked in parallel, one thread
//! per layer (as many as there are cores).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use oci_spec::image::Descriptor;

use crate::{compression, extract};
use img_core::digest::{self, Digest, DigestReader};
use img_core::error::{Error, IoContext, Kind, Result};
use img_store::{Snapshots, Store};

/// The snapshot of `layer` (a layer blob in the store) whose
/// uncompressed tar is `diff_id`, unpacked now unless it exists.
pub fn snapshot(snapshots: &Snapshots, layer: &Descriptor, diff_id: &Digest) -> Result<PathBuf> {
    digest::ensure_sha256(diff_id)?;
    let path = snapshots.path(diff_id);
    // One made before the machine went down may have lost its files'
    // contents (see `img_store::snapshots`): it is unpacked again.
    let suspect = path.is_dir() && snapshots.is_suspect(diff_id);
    if path.is_dir() && !suspect {
        return Ok(path);
    }
    let tmp = snapshots.scratch()?;
    unpack_into(snapshots.store(), layer, diff_id, tmp.path())?;
    match suspect {
        true => snapshots.replace(tmp, diff_id),
        false => snapshots.adopt(tmp, diff_id),
    }
}

/// Unpack `layer` in overlay form into the empty directory `into`,
/// checking that its tar hashes to `diff_id` (an error of kind
/// DigestMismatch when not), as a snapshot of it is made; img-fsck compares
/// snapshots with layers unpacked afresh by this same code.
pub fn unpack_into(store: &Store, layer: &Descriptor, diff_id: &Digest, into: &Path) -> Result<()> {
    let blob = store.open_blob(layer)?;
    let (_, tar) = compression::decompress(BufReader::with_capacity(1 << 20, blob))?;
    let mut tar = DigestReader::new(tar);
    let options = extract::Options {
        preserve_owners: true,
        overlay: true,
    };
    let unpacked = extract::apply(&mut tar, into, &options).and_then(|_| {
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
    Ok(())
}

/// The snapshots of an image's `layers` (whose diff_ids its config
/// lists), unpacked where missing, top first as an overlay stacks them.
pub fn snapshots_of(
    snapshots: &Snapshots,
    layers: &[Descriptor],
    diff_ids: &[Digest],
) -> Result<Vec<PathBuf>> {
    if diff_ids.len() != layers.len() {
        return Err(Error::invalid(format!(
            "the image has {} layers but its config lists {} diff_ids",
            layers.len(),
            diff_ids.len()
        )));
    }
    // Missing layers are unpacked at once, each by a thread of its own (as
    // `img-export --output-dir` decompresses an image's layers): a
    // snapshot depends on its layer alone.
    let pairs: Vec<(&Descriptor, &Digest)> = layers.iter().zip(diff_ids).collect();
    let threads = img_core::parallel::cores(pairs.len());
    let mut lowers = img_core::parallel::map(&pairs, threads, &Default::default(), |(l, d)| {
        snapshot(snapshots, l, d)
    })?;
    lowers.reverse();
    Ok(lowers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::create;
    use img_core::error::Kind;
    use img_store::Store;
    use std::fs;
    use std::path::Path;

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
        let snapshots = Snapshots::of(&store);
        let tree = dir.path().join("tree");
        fs::create_dir_all(tree.join("etc")).unwrap();
        fs::write(tree.join("etc/motd"), b"hi\n").unwrap();
        let (layer, diff_id) = layer_blob(&store, &tree);
        let path = snapshot(&snapshots, &layer, &diff_id).unwrap();
        assert_eq!(fs::read(path.join("etc/motd")).unwrap(), b"hi\n");
        // Present: not unpacked again.
        fs::write(path.join("marker"), b"").unwrap();
        assert_eq!(snapshot(&snapshots, &layer, &diff_id).unwrap(), path);
        assert!(path.join("marker").exists());

        let wrong = digest::of_bytes(b"another layer");
        let err = snapshot(&snapshots, &layer, &wrong).unwrap_err();
        assert_eq!(err.kind(), Kind::DigestMismatch);
        assert!(!snapshots.path(&wrong).exists());
        let left: Vec<_> = fs::read_dir(snapshots.dir()).unwrap().collect();
        assert_eq!(left.len(), 1, "no scratch directory left behind");
    }
}
