//! `img-pull`: an image from a registry into the store, as `docker pull`.
//!
//! Where from: the endpoints `registries.conf` and `--registry-mirror` give
//! (`mirrors.rs`), tried in order (`sources.rs`). A tag is first resolved
//! with HEAD, which fetches nothing: when the store already holds what it
//! names (`present.rs`), the pull names it and is done ("Image is up to
//! date"), having downloaded nothing — Docker Hub does not count a HEAD as a
//! pull. A digest reference the store holds needs no request at all.
//!
//! Otherwise the manifest is fetched by digest (OCI or Docker, image or
//! index); for an index the host's platform (or `--platform`) is chosen, or
//! every platform with `--all-platforms`. Blobs already in the store are
//! skipped; the others download in parallel, resumably (see
//! `download.rs`). Every digest is verified. The store changes in the safe
//! order: blobs, then manifests, then the index, then the name.
//!
//! What gets the name: the image manifest, when one platform of a tag is
//! pulled (as Docker shows it; its entry remembers the index's digest); the
//! index, with `--all-platforms` or when the reference pins the index's
//! digest (so that `name@digest` finds it). The status line says whether
//! the name changed, as Docker's does.

use std::collections::HashSet;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

pub use crate::choice::PullOptions;

use super::download::Fetched;
use super::manifest::RemoteManifest;
use crate::choice::{choose, keeps_index};
use crate::present;
use crate::sources::Sources;
use img_core::digest::{self, Digest};
use img_core::error::{Error, Kind, Result, ResultExt};
use img_core::format::human_size_precision;
use img_core::image::{nested_index, Target};
use img_core::progress::Progress;
use img_core::reference::Reference;
use img_store::Store;

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The record of the image as named in the store.
    pub record: Descriptor,
    /// The image ID.
    pub id: digest::Digest,
    /// Blobs downloaded (0 when everything was already there).
    pub downloaded: usize,
}

/// Pull `reference` into `store`, reporting to `progress`.
pub fn pull(
    store: &Store,
    reference: &Reference,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<Pulled> {
    let doing = format!("pulling {}", reference.familiar());
    let endpoints = options
        .client
        .registries
        .pull_endpoints(reference)
        .context(&doing)?;
    let sources = Sources::new(endpoints, &options.client, progress);
    pull_from(store, &sources, reference, options, progress).context(&doing)
}

/// Pull from the endpoints of `sources`.
fn pull_from(
    store: &Store,
    sources: &Sources<'_>,
    reference: &Reference,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<Pulled> {
    let repository = reference.repository();
    let wanted = match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.to_string(),
        (None, None) => img_core::reference::DEFAULT_TAG.to_string(),
    };
    let (top_digest, fetched) = match reference.digest() {
        Some(d) => (d.clone(), None),
        None => {
            let resolved = sources.resolve(&wanted)?;
            (resolved.digest, resolved.manifest)
        }
    };
    let before = store
        .index()?
        .find_name(reference)
        .map(|e| e.digest().clone());
    if fetched.is_none() {
        if let Some(target) = present::find(store, &top_digest, reference, options)? {
            progress.message(&format!("{wanted}: Pulling from {repository}"));
            return finish(store, &target, reference, &top_digest, before, 0, progress);
        }
    }
    let top = match fetched {
        Some(m) => m,
        None => sources.manifest(&top_digest)?,
    };
    let mut images: Vec<(Descriptor, RemoteManifest, ImageManifest)> = Vec::new();
    if top.is_index() {
        let index: ImageIndex = parse(&top)?;
        for child in choose(&index, &top.digest, options, reference)? {
            let m = sources.manifest(child.digest())?;
            if m.is_index() {
                // Declared an image manifest, served an index.
                return Err(nested_index(&top.digest, &child, Kind::Remote));
            }
            if m.bytes.len() as u64 != child.size() {
                return Err(Error::new(
                    Kind::DigestMismatch,
                    format!(
                        "manifest {} is {} bytes where the index says {}",
                        child.digest(),
                        m.bytes.len(),
                        child.size()
                    ),
                ));
            }
            let parsed: ImageManifest = parse(&m)?;
            let mut descriptor = descriptor_of(&m);
            descriptor.set_platform(child.platform().clone());
            images.push((descriptor, m, parsed));
        }
    } else {
        let parsed: ImageManifest = parse(&top)?;
        images.push((descriptor_of(&top), top.clone(), parsed));
    }

    let blobs = blobs_of(&images)?;
    progress.message(&format!("{wanted}: Pulling from {repository}"));
    let stored = fetch_all(
        store,
        sources,
        &blobs,
        options.max_concurrent_downloads,
        progress,
    )
    .and_then(|downloaded| {
        for (_, m, _) in &images {
            store_manifest(store, m)?;
        }
        let named = if keeps_index(options, reference) || !top.is_index() {
            if top.is_index() {
                store_manifest(store, &top)?;
            }
            descriptor_of(&top)
        } else {
            images
                .first()
                .map(|(d, _, _)| present::chosen_from(d, &top.digest))
                .ok_or_else(|| Error::not_found("the index holds no image"))?
        };
        let target = store.load_target(&named)?;
        finish(
            store,
            &target,
            reference,
            &top.digest,
            before,
            downloaded,
            progress,
        )
    });
    stored.map_err(|e| {
        // What is still to come: each missing blob less what its partial
        // download holds, and the manifests.
        let needed = blobs
            .iter()
            .filter(|(d, _)| !store.has_blob(d.digest()))
            .map(|(d, _)| d.size() - store.partial_bytes(d.digest(), d.size()))
            .sum::<u64>()
            + images
                .iter()
                .map(|(_, m, _)| m.bytes.len() as u64)
                .sum::<u64>();
        store.out_of_space(e, "this pull", Some(needed))
    })
}

/// Name the pulled image and say what happened, as Docker does: "Image is
/// up to date" when the name already pointed at it.
fn finish(
    store: &Store,
    target: &Target,
    reference: &Reference,
    top: &Digest,
    before: Option<Digest>,
    downloaded: usize,
    progress: &dyn Progress,
) -> Result<Pulled> {
    let record = store.set_name(target, reference)?;
    progress.message(&format!("Digest: {top}"));
    let status = if before.as_ref() == Some(target.digest()) {
        "Image is up to date for"
    } else {
        "Downloaded newer image for"
    };
    progress.message(&format!("Status: {status} {}", reference.familiar()));
    Ok(Pulled {
        record,
        id: target.id().clone(),
        downloaded,
    })
}

fn parse<T: serde::de::DeserializeOwned>(m: &RemoteManifest) -> Result<T> {
    serde_json::from_slice(&m.bytes).map_err(|e| {
        Error::new(
            Kind::Remote,
            format!(
                "manifest {} ({}) does not parse: {e}",
                m.digest, m.media_type
            ),
        )
    })
}

fn descriptor_of(m: &RemoteManifest) -> Descriptor {
    Descriptor::new(
        MediaType::from(m.media_type.as_str()),
        m.bytes.len() as u64,
        m.digest.clone(),
    )
}

/// Every config and layer of the images, each once, configs first.
fn blobs_of(
    images: &[(Descriptor, RemoteManifest, ImageManifest)],
) -> Result<Vec<(Descriptor, bool)>> {
    let mut seen = HashSet::new();
    let mut blobs = Vec::new();
    for (_, _, m) in images {
        digest::ensure_sha256(m.config().digest())?;
        if seen.insert(m.config().digest().clone()) {
            blobs.push((m.config().clone(), false));
        }
    }
    for (_, _, m) in images {
        for layer in m.layers() {
            digest::ensure_sha256(layer.digest())?;
            if seen.insert(layer.digest().clone()) {
                blobs.push((layer.clone(), true));
            }
        }
    }
    Ok(blobs)
}

fn store_manifest(store: &Store, m: &RemoteManifest) -> Result<()> {
    if store.has_blob_for_write(&m.digest)? {
        return Ok(());
    }
    let (stored, _) = store.write_blob(&m.bytes)?;
    if stored != m.digest {
        return Err(Error::digest_mismatch(&m.digest, &stored));
    }
    Ok(())
}

/// Download what is missing, `concurrency` blobs at a time; returns how
/// many were downloaded.
fn fetch_all(
    store: &Store,
    sources: &Sources<'_>,
    blobs: &[(Descriptor, bool)],
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<usize> {
    let mut todo = Vec::new();
    for (d, is_layer) in blobs {
        let id = digest::short(d.digest()).to_string();
        if store.has_blob_for_write(d.digest())? {
            if *is_layer {
                progress.status(&id, "Already exists");
            }
        } else {
            if *is_layer {
                progress.status(&id, "Pulling fs layer");
            }
            todo.push((d, *is_layer, id));
        }
    }
    // Largest first: each layer's check inflates it on a core, so the
    // largest is the longest step, and started last it would leave one
    // core idle at the end while it runs alone (longest-first scheduling).
    todo.sort_by_key(|(d, _, _)| std::cmp::Reverse(d.size()));
    let downloaded = img_core::parallel::count_each(&todo, concurrency, |(d, is_layer, id)| {
        fetch_one(store, sources, d, *is_layer, id, progress)
    });
    progress.finish();
    downloaded
}

/// Fetch one blob from the first endpoint that serves it right.
fn fetch_one(
    store: &Store,
    sources: &Sources<'_>,
    d: &Descriptor,
    is_layer: bool,
    id: &str,
    progress: &dyn Progress,
) -> Result<bool> {
    let total = d.size();
    let report = |n: u64| {
        if is_layer {
            progress.bytes(id, "Downloading", n, total);
        }
    };
    let retrying = || {
        if is_layer {
            progress.status(id, "Retrying (checksum mismatch)");
        }
    };
    let fetched = sources.blob(store, d, is_layer, &report, &retrying)?;
    if is_layer {
        if let Fetched::Downloaded { resumed_from } = fetched {
            if resumed_from > 0 {
                progress.status(
                    id,
                    &format!("Resumed after {}", human_size_precision(resumed_from, 4)),
                );
            }
        }
        progress.status(id, "Verifying Checksum");
        progress.status(id, "Download complete");
        progress.status(id, "Pull complete");
    }
    Ok(matches!(fetched, Fetched::Downloaded { .. }))
}

/// Every tag of `reference`'s repository, as references (`--all-tags`),
/// listed by the first endpoint that may serve tags (a mirror passed over
/// is warned about on `progress`).
pub fn all_tags(
    reference: &Reference,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<Vec<Reference>> {
    if reference.digest().is_some() {
        return Err(Error::invalid(format!(
            "{} names a digest; --all-tags takes a repository name",
            reference.familiar()
        )));
    }
    let doing = || format!("listing the tags of {}", reference.familiar_name());
    let tags = crate::sources::tags_via_mirrors(reference, &options.client, progress)
        .with_context(doing)?;
    tags.iter().map(|t| reference.with_tag(t)).collect()
}
