//! What the store already holds of the manifest or index a registry names
//! by digest — so that a pull whose tag still names what was pulled before
//! fetches nothing after its HEAD (`Status: Image is up to date for …`).
//!
//! A digest is present when the store has that manifest with its config
//! and layers; or has that index with the image the pull would choose from
//! it (every platform's, with `--all-platforms`). A pull of one platform
//! keeps only that platform's image, not the index: its entry in
//! `index.json` carries the index's digest in the [`PULLED_FROM_INDEX`]
//! annotation, so that the next pull of the tag recognizes it. (An image is
//! what it is whatever name it has, so the annotation may travel with
//! `img-tag` to other names: it still says truly where the image is found.)

use oci_spec::image::{Descriptor, ImageIndex, MediaType};

use super::manifest;
use crate::choice::{choose, keeps_index, PullOptions};
use img_core::digest::Digest;
use img_core::error::Result;
use img_core::image::{is_index, Target};
use img_core::platform::Platform;
use img_core::reference::Reference;
use img_store::{Store, MAX_METADATA_SIZE};

/// The `index.json` annotation of an image pulled from a multi-platform
/// index: that index's digest.
pub const PULLED_FROM_INDEX: &str = "io.img.pulled-from-index";

/// The image (or index) the store holds for `digest` as a pull of
/// `reference` with `options` would store it, complete; `None` when
/// something is missing and the pull must fetch.
pub fn find(
    store: &Store,
    digest: &Digest,
    reference: &Reference,
    options: &PullOptions,
) -> Result<Option<Target>> {
    if let Some(found) = from_blob(store, digest, reference, options)? {
        return Ok(Some(found));
    }
    if keeps_index(options, reference) {
        return Ok(None);
    }
    let wanted = options.platform.clone().unwrap_or_else(Platform::host);
    for entry in store.index()?.entries() {
        let annotated = entry
            .descriptor
            .annotations()
            .as_ref()
            .and_then(|a| a.get(PULLED_FROM_INDEX))
            .is_some_and(|d| d == digest.as_ref());
        if !annotated {
            continue;
        }
        if let Some(target) = complete(store, &entry.descriptor) {
            if let Target::Image(image) = &target {
                if wanted.matches(&image.platform()) {
                    return Ok(Some(target));
                }
            }
        }
    }
    Ok(None)
}

/// The descriptor of `child`, chosen from the index `index`, as the store
/// names it: with the index's digest in [`PULLED_FROM_INDEX`].
pub fn chosen_from(child: &Descriptor, index: &Digest) -> Descriptor {
    let mut d = Descriptor::new(
        child.media_type().clone(),
        child.size(),
        child.digest().clone(),
    );
    d.set_platform(child.platform().clone());
    d.set_annotations(Some(
        [(PULLED_FROM_INDEX.to_string(), index.to_string())].into(),
    ));
    d
}

/// What the blob `digest` itself gives, when the store has it.
fn from_blob(
    store: &Store,
    digest: &Digest,
    reference: &Reference,
    options: &PullOptions,
) -> Result<Option<Target>> {
    // Only a manifest or index, never a layer read whole into memory.
    let fits = store
        .blob_size(digest)
        .is_ok_and(|size| size <= MAX_METADATA_SIZE);
    if !fits {
        return Ok(None);
    }
    let bytes = store.read_blob_by_digest(digest)?;
    let Ok(media_type) = manifest::media_type_of(&bytes, None) else {
        return Ok(None);
    };
    let descriptor = Descriptor::new(
        MediaType::from(media_type.as_str()),
        bytes.len() as u64,
        digest.clone(),
    );
    if !is_index(descriptor.media_type()) {
        return Ok(complete(store, &descriptor));
    }
    let Ok(index) = serde_json::from_slice::<ImageIndex>(&bytes) else {
        return Ok(None);
    };
    let children = choose(&index, digest, options, reference)?;
    if keeps_index(options, reference) {
        let all_there = children
            .iter()
            .all(|child| complete(store, child).is_some());
        return Ok(if all_there {
            complete(store, &descriptor)
        } else {
            None
        });
    }
    Ok(children
        .first()
        .and_then(|child| complete(store, &chosen_from(child, digest))))
}

/// The target `descriptor` names, when the store has all of it.
fn complete(store: &Store, descriptor: &Descriptor) -> Option<Target> {
    if !store.has_blob(descriptor.digest()) {
        return None;
    }
    let target = store.load_target(descriptor).ok()?;
    store.require_complete(&target).ok()?;
    Some(target)
}
