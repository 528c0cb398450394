//! Writing the cache `--cache-to` names, after the image is built: the
//! steps this build went through (`mode=min`: the final image's, with the
//! other stages' as keys only; `mode=max`: every stage's), nothing else —
//! so a cache tag references what the last build used, and what older
//! builds left stops being referenced instead of piling up.
//!
//! To a registry, through img-push's code (`registry/upload.rs`): each
//! blob is first asked for with HEAD and skipped when the registry has it,
//! else mounted from a repository of the same registry that the caches
//! read or the base images came from, else uploaded; the cache config, then
//! the manifest under the tag, go last. Exporting a cache in which one
//! step changed uploads that step's layer, the config and the manifest.
//!
//! With `compression=`, layers compressed otherwise are converted first
//! (without it, the layers img keeps uncompressed are gzipped);
//! each conversion is remembered beside the build cache (an entry whose
//! blob garbage collection removed is dropped with it), so the next export
//! of the same layer does not compress it again.

use std::collections::HashMap;
use std::fs;

use oci_spec::image::{Descriptor, MediaType};
use serde_json::json;

use super::format::{self, ExportStep, CACHE_CONFIG};
use super::layout;
use super::spec::{Export, Location};
use img_core::digest::{self, Digest};
use img_core::error::{Error, Kind, Result};
use img_core::progress::Progress;
use img_core::reference::Reference;
use img_layers::compression::Compression;
use img_registry::manifest::{self, OCI_MANIFEST};
use img_registry::transport::auth::Scope;
use img_registry::transport::client::Client;
use img_registry::transport::options::ClientOptions;
use img_registry::upload::{self, Destination, Uploaded};
use img_store::Store;

/// Blobs uploaded at once.
const CONCURRENCY: usize = 3;

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exported {
    /// Steps written (records of a step, not of a base).
    pub records: usize,
    /// Layers the cache lists.
    pub layers: usize,
    /// Blobs sent (layers and config).
    pub sent: usize,
    /// Blobs the destination had already.
    pub present: usize,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Blobs no longer referenced that were removed (layout directories).
    pub removed: usize,
}

/// Where an export's blobs may come from besides the store, and the
/// cache mounts the build used.
pub struct Sources<'e> {
    /// The `RUN --mount=type=cache` directories of the build, by id.
    pub cache_mounts: &'e [(String, std::path::PathBuf)],
    /// Images whose repositories may hold the layers (for mounts).
    pub mount_from: &'e [Reference],
    /// Put a layer the store lacks into it (a hit's layer that no step
    /// needed, fetched from the cache it came from).
    pub fetch: &'e (dyn Fn(&Descriptor) -> Result<()> + Sync),
}

/// Write the cache of `steps` where `spec` says (a registry or a layout
/// directory; inline caches are written into the image by the builder).
pub fn export(
    spec: &Export,
    steps: &[ExportStep],
    store: &Store,
    options: &ClientOptions,
    sources: &Sources<'_>,
    progress: &dyn Progress,
) -> Result<Exported> {
    let steps = match spec.compression {
        Some(wanted) => convert(store, steps, wanted, &|_| true, sources.fetch)?,
        // The layers img keeps uncompressed leave gzipped, as BuildKit
        // exports them (see `img_layers::outbound`).
        None => convert(
            store,
            steps,
            Compression::Gzip,
            &img_layers::outbound::is_uncompressed,
            sources.fetch,
        )?,
    };
    let mut mounts = Vec::new();
    if spec.cache_mounts {
        for (id, dir) in sources.cache_mounts {
            // The tar of the directory as it is now (nothing when empty).
            let empty = std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none());
            if empty {
                continue;
            }
            let (blob, diff_id) = img_layers::upper::store_layer(store, dir, Default::default())
                .map_err(|e| e.context(format!("storing cache mount {id:?}")))?;
            mounts.push((id.clone(), blob, diff_id));
        }
    }
    let encoded = format::encode(&steps, &mounts)?;
    let config_bytes = serde_json::to_vec(&encoded.config)
        .map_err(|e| Error::invalid(format!("encoding the cache config: {e}")))?;
    let config = Descriptor::new(
        MediaType::Other(CACHE_CONFIG.into()),
        config_bytes.len() as u64,
        digest::of_bytes(&config_bytes),
    );
    let manifest_bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config,
        "layers": encoded.layers,
    }))
    .map_err(|e| Error::invalid(format!("encoding the cache manifest: {e}")))?;
    let mut exported = Exported {
        records: encoded
            .config
            .records
            .iter()
            .filter(|r| r.step.is_some())
            .count(),
        layers: encoded.layers.len(),
        ..Exported::default()
    };
    match &spec.location {
        Location::Registry(reference) => {
            store.write_blob(&config_bytes)?;
            let mut blobs = encoded.layers.clone();
            blobs.push(config);
            to_registry(
                store,
                reference,
                &blobs,
                &manifest_bytes,
                options,
                sources,
                &mut exported,
            )?;
            progress.message(&format!(
                "Exported the cache to {}: {} steps, {} layers ({} sent, {} already there, {} mounted)",
                reference.familiar(),
                exported.records,
                exported.layers,
                exported.sent,
                exported.present,
                exported.mounted
            ));
        }
        Location::Local { dir, tag } => {
            let writer = layout::Writer::open(dir)?;
            for layer in &encoded.layers {
                if !writer.has(layer) && !store.has_blob(layer.digest()) {
                    (sources.fetch)(layer)?;
                }
                if writer.put_from_store(store, layer)? {
                    exported.sent += 1;
                } else {
                    exported.present += 1;
                }
            }
            writer.put_bytes(&config_bytes)?;
            let digest = writer.put_bytes(&manifest_bytes)?;
            let descriptor = Descriptor::new(
                MediaType::ImageManifest,
                manifest_bytes.len() as u64,
                digest,
            );
            writer.set_tag(tag, &descriptor)?;
            exported.removed = writer.collect_garbage()?;
            progress.message(&format!(
                "Exported the cache to {}: {} steps, {} layers ({} written, {} already there, {} unused blobs removed)",
                spec.location.label(),
                exported.records,
                exported.layers,
                exported.sent,
                exported.present,
                exported.removed
            ));
        }
        Location::Inline => {}
    }
    Ok(exported)
}

fn to_registry(
    store: &Store,
    reference: &Reference,
    blobs: &[Descriptor],
    manifest_bytes: &[u8],
    options: &ClientOptions,
    sources: &Sources<'_>,
    exported: &mut Exported,
) -> Result<()> {
    let located = options.registries.push_reference(reference)?;
    let client = Client::connect(located.registry(), options)?;
    let repository = located.repository();
    let destination = Destination {
        client: &client,
        repository,
    };
    let mut candidates: Vec<String> = Vec::new();
    for other in sources.mount_from {
        if other.registry() == located.registry()
            && other.repository() != repository
            && !candidates.iter().any(|c| c == other.repository())
        {
            candidates.push(other.repository().to_string());
        }
    }
    let outcomes = img_core::parallel::map(
        blobs,
        CONCURRENCY,
        &img_core::parallel::Spare::default(),
        |blob| {
            match upload::upload(&destination, store, blob, &candidates, &|_| {}) {
                // Neither there nor mountable, and not in the store: a
                // hit's layer no step needed; fetch it, then send it.
                Err(e) if e.kind() == Kind::NotFound && !store.has_blob(blob.digest()) => {
                    (sources.fetch)(blob)?;
                    upload::upload(&destination, store, blob, &candidates, &|_| {})
                }
                other => other,
            }
        },
    )?;
    for outcome in outcomes {
        match outcome {
            Uploaded::Exists => exported.present += 1,
            Uploaded::Mounted(_) => exported.mounted += 1,
            Uploaded::Pushed => exported.sent += 1,
        }
    }
    let tag = located
        .tag()
        .map(str::to_string)
        .or_else(|| located.digest().map(ToString::to_string))
        .unwrap_or_else(|| img_core::reference::DEFAULT_TAG.to_string());
    manifest::put(
        &client,
        repository,
        &tag,
        OCI_MANIFEST,
        manifest_bytes,
        &Scope::push(repository),
    )
}

/// `steps` with every layer that `which` picks in `wanted`'s compression
/// (converted layers stored in `store`; a layer to convert that the store
/// lacks is fetched first).
fn convert(
    store: &Store,
    steps: &[ExportStep],
    wanted: Compression,
    which: &dyn Fn(&Descriptor) -> bool,
    fetch: &(dyn Fn(&Descriptor) -> Result<()> + Sync),
) -> Result<Vec<ExportStep>> {
    let mut converted: HashMap<Digest, Descriptor> = HashMap::new();
    let mut out = steps.to_vec();
    for step in out.iter_mut().filter(|s| s.with_layers) {
        for layer in &mut step.layers {
            if Compression::from_media_type(layer.media_type()) == Some(wanted) || !which(layer) {
                continue;
            }
            if let Some(done) = converted.get(layer.digest()) {
                *layer = done.clone();
                continue;
            }
            let done = convert_layer(store, layer, wanted, fetch)?;
            converted.insert(layer.digest().clone(), done.clone());
            *layer = done;
        }
    }
    Ok(out)
}

/// The memo of a conversion: an entry of the build cache directory
/// (`converted-HEX-COMPRESSION.json`) whose `layers` is the converted
/// layer, so that garbage collection drops it with its blob.
fn memo_path(store: &Store, layer: &Digest, wanted: Compression) -> std::path::PathBuf {
    store.state_dir().join("build-cache").join(format!(
        "converted-{}-{}.json",
        layer.digest(),
        name(wanted)
    ))
}

fn name(compression: Compression) -> &'static str {
    match compression {
        Compression::None => "uncompressed",
        Compression::Gzip => "gzip",
        Compression::Zstd => "zstd",
    }
}

fn convert_layer(
    store: &Store,
    layer: &Descriptor,
    wanted: Compression,
    fetch: &(dyn Fn(&Descriptor) -> Result<()> + Sync),
) -> Result<Descriptor> {
    let memo = memo_path(store, layer.digest(), wanted);
    let remembered = fs::read(&memo)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.pointer("/layers/0").cloned())
        .and_then(|d| serde_json::from_value::<Descriptor>(d).ok())
        .filter(|d| store.has_blob(d.digest()));
    if let Some(done) = remembered {
        return Ok(done);
    }
    if !store.has_blob(layer.digest()) {
        fetch(layer)?;
    }
    let done = img_layers::outbound::recompress(store, layer, wanted)?;
    if let Some(dir) = memo.parent() {
        if fs::create_dir_all(dir).is_ok() {
            let entry = json!({"layers": [done], "source": layer});
            // A memo that could not be written only costs a conversion.
            let _ = img_store::write_atomic(dir, &memo, entry.to_string().as_bytes());
        }
    }
    Ok(done)
}
