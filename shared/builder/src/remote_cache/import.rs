//! Reading a cache named by `--cache-from`: its manifest and config only,
//! which are small; the layers stay where they are until a step needs them
//! (`fetch.rs`).
//!
//! A registry reference is resolved as img-pull resolves one (registries.conf
//! mirrors and locations, HEAD first, credentials and TLS), and may name a
//! cache manifest (BuildKit's image-manifest form, or its older index form)
//! or an image whose config holds an inline cache. A layout directory names
//! its cache by tag in index.json. The cache config (or image config) is
//! kept in the store as a blob, so an unchanged cache is not downloaded
//! again.

use oci_spec::image::Descriptor;
use serde_json::Value;

use super::fetch::Origin;
use super::format::{self, CacheConfig, Table, CACHE_CONFIG, INLINE_KEY};
use super::layout;
use super::spec::{Import, Location};
use img_core::digest::{self, Digest};
use img_core::error::{Error, Kind, Result};
use img_core::platform::Platform;
use img_core::progress::Progress;
use img_core::reference::Reference;
use img_registry::manifest::OCI_INDEX;
use img_registry::sources::Sources;
use img_registry::transport::options::ClientOptions;
use img_store::Store;

/// A cache read: what it holds, and where its blobs come from.
pub struct Imported<'a> {
    /// How the cache is named in messages.
    pub label: String,
    /// Its steps.
    pub table: Table,
    /// Where its layers come from.
    pub origin: Origin<'a>,
}

/// Read the cache `spec` names.
pub fn import<'a>(
    spec: &Import,
    store: &Store,
    options: &'a ClientOptions,
    progress: &'a dyn Progress,
) -> Result<Imported<'a>> {
    let label = spec.location.label();
    match &spec.location {
        Location::Registry(reference) => {
            let endpoints = options.registries.pull_endpoints(reference)?;
            let sources = Sources::new(endpoints, options, progress);
            let table = from_registry(&sources, store, reference)?;
            Ok(Imported {
                label,
                table,
                origin: Origin::Registry(sources),
            })
        }
        Location::Local { dir, tag } => {
            let found = layout::find(dir, tag)?;
            let bytes = layout::read_small(dir, &found)?;
            let table = read(
                &bytes,
                &|d: &Descriptor| layout::read_small(dir, d),
                &|d: &Digest| {
                    let descriptor = Descriptor::new(
                        oci_spec::image::MediaType::ImageManifest,
                        img_store::MAX_METADATA_SIZE,
                        d.clone(),
                    );
                    read_unsized(dir, &descriptor)
                },
            )?;
            Ok(Imported {
                label,
                table,
                origin: Origin::Layout(dir.clone()),
            })
        }
        Location::Inline => Err(Error::invalid(
            "an inline cache is read from its image (--cache-from type=registry,ref=IMAGE)",
        )),
    }
}

/// A manifest of a layout whose size an index entry did not say.
fn read_unsized(dir: &std::path::Path, descriptor: &Descriptor) -> Result<Vec<u8>> {
    let path = dir.join("blobs/sha256").join(descriptor.digest().digest());
    let size = std::fs::metadata(&path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?
        .len();
    let mut sized = descriptor.clone();
    sized.set_size(size);
    layout::read_small(dir, &sized)
}

fn from_registry(sources: &Sources<'_>, store: &Store, reference: &Reference) -> Result<Table> {
    let top = match reference.digest() {
        Some(d) => sources.manifest(d)?,
        None => {
            let tag = reference.tag().unwrap_or(img_core::reference::DEFAULT_TAG);
            let resolved = sources.resolve(tag)?;
            match resolved.manifest {
                Some(m) => m,
                None => sources.manifest(&resolved.digest)?,
            }
        }
    };
    let small = |d: &Descriptor| -> Result<Vec<u8>> {
        digest::ensure_sha256(d.digest())?;
        // Refused before a byte is fetched: a config is small.
        if d.size() > img_store::MAX_METADATA_SIZE {
            return Err(Error::new(
                Kind::Remote,
                format!("its config {} declares {} bytes", d.digest(), d.size()),
            ));
        }
        if !store.has_blob(d.digest()) {
            sources.blob(store, d, false, &|_| {}, &|| {})?;
        }
        store.read_blob(d)
    };
    let manifest = |d: &Digest| sources.manifest(d).map(|m| m.bytes);
    read(&top.bytes, &small, &manifest)
}

/// The table of the cache whose top manifest is `bytes`; `small` fetches a
/// config blob, `manifest` a manifest by digest.
fn read(
    bytes: &[u8],
    small: &dyn Fn(&Descriptor) -> Result<Vec<u8>>,
    manifest: &dyn Fn(&Digest) -> Result<Vec<u8>>,
) -> Result<Table> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::new(Kind::Remote, format!("the cache manifest is not JSON: {e}")))?;
    if let Some(list) = value.get("manifests").and_then(Value::as_array) {
        let entries: Vec<Descriptor> = list
            .iter()
            .map(|m| serde_json::from_value(m.clone()))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::new(Kind::Remote, format!("the cache index is malformed: {e}")))?;
        // BuildKit's older form: an index of the layers and the config.
        if let Some(config) = entries
            .iter()
            .find(|d| d.media_type().to_string() == CACHE_CONFIG)
        {
            let layers: Vec<Descriptor> = entries
                .iter()
                .filter(|d| d.digest() != config.digest())
                .cloned()
                .collect();
            return from_config(&small(config)?, &layers);
        }
        // An image index: the cache inline in this platform's image.
        let host = Platform::host();
        let chosen = entries
            .iter()
            .find(|d| {
                d.platform().as_ref().is_some_and(|p| {
                    host.matches(&Platform::new(
                        &p.os().to_string(),
                        &p.architecture().to_string(),
                        p.variant().as_deref(),
                    ))
                })
            })
            .or_else(|| (entries.len() == 1).then(|| &entries[0]))
            .ok_or_else(|| {
                Error::not_found(format!(
                    "the index holds no image for {host} with an inline cache"
                ))
            })?;
        let child = manifest(chosen.digest())?;
        if digest::of_bytes(&child) != *chosen.digest() {
            return Err(Error::digest_mismatch(
                chosen.digest(),
                &digest::of_bytes(&child),
            ));
        }
        return read(&child, small, manifest);
    }
    let media_type = value
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if media_type == OCI_INDEX {
        return Err(Error::new(
            Kind::Remote,
            "the cache index lists no manifests",
        ));
    }
    let config: Descriptor = value
        .get("config")
        .cloned()
        .and_then(|c| serde_json::from_value(c).ok())
        .ok_or_else(|| Error::new(Kind::Remote, "the cache manifest has no config"))?;
    let layers: Vec<Descriptor> = value
        .get("layers")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| {
            Error::new(
                Kind::Remote,
                format!("the manifest's layers are malformed: {e}"),
            )
        })?
        .unwrap_or_default();
    if config.media_type().to_string() == CACHE_CONFIG {
        return from_config(&small(&config)?, &layers);
    }
    // An image: its inline cache, if it has one.
    let image_config: Value = serde_json::from_slice(&small(&config)?)
        .map_err(|e| Error::new(Kind::Remote, format!("the image config is not JSON: {e}")))?;
    let records = image_config
        .get(INLINE_KEY)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::not_found(
                "it is an image without an inline cache (build it with --cache-to type=inline)",
            )
        })?;
    let layers: Vec<Descriptor> = layers.iter().map(crate::commit::as_oci_layer).collect();
    super::inline::decode(records, &image_config, &layers)
}

fn from_config(bytes: &[u8], layers: &[Descriptor]) -> Result<Table> {
    let config: CacheConfig = serde_json::from_slice(bytes)
        .map_err(|e| Error::new(Kind::Remote, format!("the cache config is malformed: {e}")))?;
    format::decode(&config, layers)
}
