//! What a pull takes from a registry: its options ([`PullOptions`]), the
//! manifests it chooses from an index (the host's platform, `--platform`,
//! or every one with `--all-platforms`), and whether it keeps the index
//! itself. `pull.rs` fetches by these rules, and `present.rs` asks them
//! whether the store already holds what a pull would store.

use oci_spec::image::{Descriptor, ImageIndex};

use crate::transport::options::ClientOptions;
use img_core::error::{Error, Result};
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

/// The index entries to pull: all of them, or the one for the platform.
pub fn choose(
    index: &ImageIndex,
    options: &PullOptions,
    reference: &Reference,
) -> Result<Vec<Descriptor>> {
    let manifests: Vec<&Descriptor> = index
        .manifests()
        .iter()
        .filter(|d| img_core::image::is_manifest(d.media_type()))
        .collect();
    if options.all_platforms {
        return Ok(manifests.into_iter().cloned().collect());
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
    let found = manifests
        .iter()
        .find(|d| platform_of(d).is_some_and(|p| wanted.matches(&p)))
        .or_else(|| {
            // An index without platforms and a single image: that image.
            (manifests.len() == 1 && platform_of(manifests[0]).is_none()).then(|| &manifests[0])
        });
    match found {
        Some(d) => Ok(vec![(*d).clone()]),
        None => {
            let present: Vec<String> = manifests
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
