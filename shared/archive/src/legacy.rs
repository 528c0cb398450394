//! Docker's `manifest.json` images: what older Docker, `skopeo copy …
//! docker-archive:` and `podman save` write (`<id>/layer.tar` or
//! `<diff_id>.tar` layers, `<id>.json` configs), and the manifest.json half
//! of Docker 25+ archives. Such an archive has no manifests, only configs and
//! layers: the layers are (usually uncompressed) tars whose digests are the
//! config's diff_ids. img checks every layer against its diff_id, keeps the
//! config bytes as they are (so the image ID survives), and writes an OCI
//! manifest for the blobs as they came, as Docker 25 does on load.

use std::io::Read;

use oci_spec::image::MediaType;
use serde_json::json;

use super::read::StagedArchive;
use super::ManifestItem;
use img_core::digest::{self, Digest, Hasher};
use img_core::error::{Error, Kind, Result, ResultExt};
use img_core::reference::Reference;
use img_layers::compression::{self, Compression};
use img_store::{StagedBlob, Store, MAX_METADATA_SIZE};

/// One image of `manifest.json`, checked.
pub struct LegacyImage<'a> {
    /// The config, as it came.
    pub config: &'a StagedBlob,
    /// The layers, bottom first.
    pub layers: Vec<&'a StagedBlob>,
    /// The OCI manifest img writes for it.
    pub manifest: Vec<u8>,
    /// The names from RepoTags.
    pub names: Vec<Reference>,
}

/// The items of `manifest.json`, if the archive has one.
pub fn items(store: &Store, staged: &StagedArchive) -> Result<Option<Vec<ManifestItem>>> {
    let Some(file) = staged.file("manifest.json")? else {
        return Ok(None);
    };
    let bytes = file.read_small(store, MAX_METADATA_SIZE, "manifest.json")?;
    let items: Vec<ManifestItem> = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("the archive's manifest.json is not valid: {e}")))?;
    Ok(Some(items))
}

/// The config digest an item names, without checking it.
pub fn config_digest(staged: &StagedArchive, item: &ManifestItem) -> Option<Digest> {
    staged
        .file(&item.config)
        .ok()
        .flatten()
        .map(|b| b.digest.clone())
}

/// Check one item: its config parses, every layer is present and matches its
/// diff_id; make its manifest.
pub fn check<'a>(
    store: &Store,
    staged: &'a StagedArchive,
    item: &ManifestItem,
) -> Result<LegacyImage<'a>> {
    let what = format!("manifest.json image {}", item.config);
    let config = staged
        .file(&item.config)?
        .ok_or_else(|| missing(&item.config, &what))?;
    // Read as an image config, as the OCI path and img-fsck read it: one
    // reading of the same bytes everywhere (a JSON value would take the
    // last of two `rootfs` keys where the typed parse stops at the first).
    let parsed: oci_spec::image::ImageConfiguration =
        serde_json::from_slice(&config.read_small(store, MAX_METADATA_SIZE, &what)?)
            .map_err(|e| Error::invalid(format!("{what}: not an image config: {e}")))?;
    let diff_ids: Vec<Digest> = parsed
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| digest::parse(d))
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("{what}: rootfs.diff_ids"))?;
    if diff_ids.len() != item.layers.len() {
        return Err(Error::invalid(format!(
            "{what}: lists {} layers but its config has {} diff_ids",
            item.layers.len(),
            diff_ids.len()
        )));
    }
    let mut layers = Vec::new();
    let mut descriptors = Vec::new();
    for (path, diff_id) in item.layers.iter().zip(&diff_ids) {
        let layer = staged.file(path)?.ok_or_else(|| missing(path, &what))?;
        let compression = Compression::detect(&layer.head);
        let actual = match compression {
            Compression::None => layer.digest.clone(),
            _ => uncompressed_digest(store, layer).with_context(|| format!("layer {path}"))?,
        };
        if &actual != diff_id {
            return Err(Error::new(
                Kind::DigestMismatch,
                format!("{what}: layer {path} has diff_id {actual} but the config says {diff_id}"),
            ));
        }
        descriptors.push(json!({
            "mediaType": compression.oci_layer_media_type().to_string(),
            "digest": layer.digest.to_string(),
            "size": layer.size,
        }));
        layers.push(layer);
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MediaType::ImageManifest.to_string(),
        "config": {
            "mediaType": MediaType::ImageConfig.to_string(),
            "digest": config.digest.to_string(),
            "size": config.size,
        },
        "layers": descriptors,
    });
    let names = item
        .repo_tags
        .iter()
        .flatten()
        .map(|t| Reference::parse(t).with_context(|| format!("{what}: RepoTags")))
        .collect::<Result<Vec<_>>>()?;
    Ok(LegacyImage {
        config,
        layers,
        manifest: img_core::json::canonical(&manifest)?,
        names,
    })
}

fn missing(path: &str, what: &str) -> Error {
    Error::invalid(format!("{what}: the archive has no file {path}"))
}

/// The digest of a compressed layer's uncompressed content.
fn uncompressed_digest(store: &Store, layer: &StagedBlob) -> Result<Digest> {
    let (_, mut reader) = compression::decompress(layer.open(store)?)?;
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; compression::BUFFER];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| Error::invalid(format!("decompressing: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.digest())
}
