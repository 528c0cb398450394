//! What a pull takes from a registry: its options ([`PullOptions`]), the
//! manifests it chooses from an index (the host's platform, `--platform`,
//! or every one with `--all-platforms`), and whether it keeps the index
//! itself. `pull.rs` fetches by these rules, and `present.rs` asks them
//! whether the store already holds what a pull would store.

use oci_spec::image::{Descriptor, ImageIndex};

use crate::transport::options::ClientOptions;
use img_core::digest::Digest;
use img_core::error::{Error, Kind, Result};
use img_core::image::{is_index, is_manifest, nested_index};
use img_core::platform::Platform;
use img_core::reference::Reference;

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform to choose from an index (the host's when `None`).
    pub platform: Option<Platform>,
    /// Keep the whole index with every platform's image.
    pub all_platforms: bool,
    /// Blobs downloaded at once.
    pub max_concurrent_downloads: usize,
    /// How to reach the registry (and its mirrors).
    pub client: ClientOptions,
}

/// Whether a pull keeps (and names) the whole index: with
/// `--all-platforms`, or when the reference pins a digest.
pub fn keeps_index(options: &PullOptions, reference: &Reference) -> bool {
    options.all_platforms || reference.digest().is_some()
}

/// The index entries to pull: all of them, or the one for the platform —
/// the first entry for it, as Docker picks. `digest` is the index's own.
/// An entry that is itself an index, when it would be pulled, is refused
/// (see [`nested_index`]).
pub fn choose(
    index: &ImageIndex,
    digest: &Digest,
    options: &PullOptions,
    reference: &Reference,
) -> Result<Vec<Descriptor>> {
    let entries: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| is_manifest(d.media_type()) || is_index(d.media_type()))
        .collect();
    let nested = entries.iter().find(|d| is_index(d.media_type()));
    if options.all_platforms {
        if let Some(child) = nested {
            return Err(nested_index(digest, child, Kind::Remote));
        }
        return Ok(entries.into_iter().cloned().collect());
    }
    let wanted = options.platform.clone().unwrap_or_else(Platform::host);
    let platform_of = |d: &Descriptor| {
        d.platform().as_ref().map(|p| {
            Platform::new(
                &p.os().to_string(),
                &p.architecture().to_string(),
                p.variant().as_deref(),
            )
        })
    };
    let found = entries
        .iter()
        .find(|d| platform_of(d).is_some_and(|p| wanted.matches(&p)))
        .or_else(|| {
            // An index without platforms and a single entry: that one.
            (entries.len() == 1 && platform_of(entries[0]).is_none()).then(|| &entries[0])
        });
    match (found, nested) {
        (Some(d), _) if is_index(d.media_type()) => Err(nested_index(digest, d, Kind::Remote)),
        (Some(d), _) => Ok(vec![(*d).clone()]),
        // No image for the platform, and an index that may hide one.
        (None, Some(child)) => Err(nested_index(digest, child, Kind::Remote)),
        (None, None) => {
            let present: Vec<String> = entries
                .iter()
                .filter_map(|d| platform_of(d))
                .filter(|p| p.os != "unknown")
                .map(|p| p.to_string())
                .collect();
            Err(Error::not_found(format!(
                "no matching manifest for {wanted} in the manifest list entries of {} (it has: {}; choose one with --platform)",
                reference.familiar(),
                present.join(", ")
            )))
        }
    }
}
