//! `img-push`: an image or multi-platform index from the store to a
//! registry, as `docker push`.
//!
//! Blobs go first, several at once (see `upload.rs`: HEAD, cross-repository
//! mount, upload), then each platform's manifest by digest, then the image's
//! manifest or index under the tag. Manifests are sent as the exact bytes in
//! the store, so the registry's digest is the store's: an image whose
//! layers img keeps uncompressed (what img-build makes) is first gzipped
//! in the store (`img_layers::outbound`), as `docker push` compresses. Mount candidates are
//! the other repositories of the same registry that images in the store are
//! named after and that hold the blob (where it was most likely pulled from).
//!
//! A push goes to where `registries.conf` locates the name (its
//! `location`), never to a mirror; a blocked registry is refused.

use std::collections::{HashMap, HashSet};

use oci_spec::image::Descriptor;

use super::manifest;
use super::upload::{self, Destination, Uploaded};
use crate::transport::auth::Scope;
use crate::transport::client::Client;
use crate::transport::options::ClientOptions;
use img_core::digest::{self, Digest};
use img_core::error::{Error, Result, ResultExt};
use img_core::image::{Image, Target};
use img_core::progress::Progress;
use img_core::reference::Reference;
use img_store::Store;

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Blobs uploaded at once.
    pub max_concurrent_uploads: usize,
    /// How to reach the registry.
    pub client: ClientOptions,
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The record of the pushed image, named `dest`.
    pub record: Descriptor,
    /// Blobs uploaded (not already there, not mounted).
    pub uploaded: usize,
}

/// Push `target` (from `store`) to `dest`: to where registries.conf
/// locates it (never to a mirror), unless it is blocked there.
pub fn push(
    store: &Store,
    target: &Target,
    dest: &Reference,
    options: &PushOptions,
    progress: &dyn Progress,
) -> Result<Pushed> {
    let doing = format!("pushing {}", dest.familiar());
    let located = options
        .client
        .registries
        .push_reference(dest)
        .context(&doing)?;
    let client = Client::connect(located.registry(), &options.client).context(&doing)?;
    // Layers img keeps uncompressed are gzipped first, as Docker's push
    // compresses them; the store's image takes that form.
    let target = img_layers::outbound::compressed(store, target).context(&doing)?;
    let mut pushed =
        push_with(store, &client, &target, &located, options, progress).context(&doing)?;
    pushed.record = img_core::record::for_target(&target, Some(dest));
    Ok(pushed)
}

/// Every image the store names with a tag of the repository `name`, by
/// tag (`img-push --all-tags`, as `docker push -a`).
pub fn tagged(store: &Store, name: &str) -> Result<Vec<(Reference, Target)>> {
    let repository = Reference::parse(name)?;
    let tagless =
        !name.contains('@') && name.rfind(':').is_none_or(|i| name[i + 1..].contains('/'));
    if !tagless {
        return Err(Error::invalid(format!(
            "{name}: tag can't be used with --all-tags/-a (give the repository name alone)"
        )));
    }
    let mut found = Vec::new();
    for entry in store.index()?.entries() {
        let Some(entry_name) = entry.name else {
            continue;
        };
        if entry_name.name() == repository.name() && entry_name.tag().is_some() {
            let target = store
                .load_target(&entry.descriptor)
                .with_context(|| format!("pushing {}", entry_name.familiar()))?;
            found.push((entry_name, target));
        }
    }
    if found.is_empty() {
        return Err(Error::not_found(format!(
            "no image in the store is named {} with a tag (list them with img-ls {})",
            repository.familiar_name(),
            repository.familiar_name()
        )));
    }
    found.sort_by(|a, b| a.0.tag().cmp(&b.0.tag()));
    Ok(found)
}

/// Push with an already connected client.
pub(crate) fn push_with(
    store: &Store,
    client: &Client,
    target: &Target,
    dest: &Reference,
    options: &PushOptions,
    progress: &dyn Progress,
) -> Result<Pushed> {
    let repository = dest.repository();
    progress.message(&format!("The push refers to repository [{}]", dest.name()));
    let images = images_of(store, target)?;
    let mut seen = HashSet::new();
    let mut blobs: Vec<(Descriptor, bool)> = Vec::new();
    for image in &images {
        // Docker lists the top layer first.
        for layer in image.manifest.layers().iter().rev() {
            if seen.insert(layer.digest().clone()) {
                blobs.push((layer.clone(), true));
            }
        }
        if seen.insert(image.manifest.config().digest().clone()) {
            blobs.push((image.manifest.config().clone(), false));
        }
    }
    let mounts = mount_candidates(store, dest)?;
    let destination = Destination { client, repository };
    let uploaded = upload_all(
        store,
        &destination,
        &blobs,
        &mounts,
        options.max_concurrent_uploads,
        progress,
    )?;

    let scope = Scope::push(repository);
    let reference = dest
        .tag()
        .map(str::to_string)
        .unwrap_or_else(|| target.digest().to_string());
    if let Target::Index(_) = target {
        for image in &images {
            let bytes = store.read_blob(&image.descriptor)?;
            manifest::put(
                client,
                repository,
                image.descriptor.digest().as_ref(),
                &media_type(&image.descriptor),
                &bytes,
                &scope,
            )?;
        }
    }
    let descriptor = target.descriptor();
    let bytes = store.read_blob(descriptor)?;
    manifest::put(
        client,
        repository,
        &reference,
        &media_type(descriptor),
        &bytes,
        &scope,
    )?;
    let label = dest.tag().unwrap_or("latest");
    progress.message(&format!(
        "{label}: digest: {} size: {}",
        descriptor.digest(),
        bytes.len()
    ));
    Ok(Pushed {
        record: img_core::record::for_target(target, Some(dest)),
        uploaded,
    })
}

fn media_type(descriptor: &Descriptor) -> String {
    descriptor.media_type().to_string()
}

/// The images to push: the image, or every platform image of the index
/// (all of which must be in the store).
fn images_of(store: &Store, target: &Target) -> Result<Vec<Image>> {
    match target {
        Target::Image(image) => Ok(vec![(**image).clone()]),
        Target::Index(index) => {
            let mut images = Vec::new();
            for child in index.index.manifests() {
                if !store.has_blob(child.digest()) {
                    return Err(Error::not_found(format!(
                        "the index {} names manifest {} ({}), which is not in the store; pull the image with --all-platforms first",
                        index.descriptor.digest(),
                        child.digest(),
                        child
                            .platform()
                            .as_ref()
                            .map(|p| format!("{}/{}", p.os(), p.architecture()))
                            .unwrap_or_else(|| "no platform".into())
                    )));
                }
                if img_core::image::is_manifest(child.media_type()) {
                    images.push(store.load_image(child)?);
                }
            }
            Ok(images)
        }
    }
}

/// For each blob, the other repositories of `dest`'s registry that images
/// in the store come from and that hold it.
fn mount_candidates(store: &Store, dest: &Reference) -> Result<HashMap<Digest, Vec<String>>> {
    let mut candidates: HashMap<Digest, Vec<String>> = HashMap::new();
    for entry in store.index()?.entries() {
        let Some(name) = entry.name else { continue };
        if name.registry() != dest.registry() || name.repository() == dest.repository() {
            continue;
        }
        let Ok(target) = store.load_target(&entry.descriptor) else {
            continue;
        };
        let images: Vec<&Image> = match &target {
            Target::Image(i) => vec![i],
            Target::Index(x) => x.images.iter().collect(),
        };
        for image in images {
            for blob in image
                .manifest
                .layers()
                .iter()
                .chain([image.manifest.config()])
            {
                let repos = candidates.entry(blob.digest().clone()).or_default();
                if !repos.iter().any(|r| r == name.repository()) {
                    repos.push(name.repository().to_string());
                }
            }
        }
    }
    Ok(candidates)
}

fn upload_all(
    store: &Store,
    dest: &Destination<'_>,
    blobs: &[(Descriptor, bool)],
    mounts: &HashMap<Digest, Vec<String>>,
    concurrency: usize,
    progress: &dyn Progress,
) -> Result<usize> {
    for (d, is_layer) in blobs {
        if *is_layer {
            progress.status(digest::short(d.digest()), "Preparing");
        }
    }
    let uploaded = img_core::parallel::count_each(blobs, concurrency, |(d, is_layer)| {
        let id = digest::short(d.digest()).to_string();
        let total = d.size();
        let report = |n: u64| {
            if *is_layer {
                progress.bytes(&id, "Pushing", n, total);
            }
        };
        let from = mounts
            .get(d.digest())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let outcome = upload::upload(dest, store, d, from, &report)?;
        if *is_layer {
            let status = match &outcome {
                Uploaded::Exists => "Layer already exists".to_string(),
                Uploaded::Mounted(from) => format!("Mounted from {from}"),
                Uploaded::Pushed => "Pushed".to_string(),
            };
            progress.status(&id, &status);
        }
        Ok(outcome == Uploaded::Pushed)
    });
    progress.finish();
    uploaded
}
