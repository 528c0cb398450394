//! Image archives: one tar holding images with their blobs, as `docker save`
//! writes and `docker load` reads them.
//!
//! img writes ([`save()`]) two formats:
//! * **docker** (the default), the archive Docker 25 and later write: an OCI
//!   image layout (`oci-layout`, `index.json`, `blobs/sha256/…`) plus
//!   Docker's `manifest.json` (Config, RepoTags, Layers as paths to the same
//!   blobs) and `repositories`, so that old and new `docker load`, podman,
//!   skopeo (`docker-archive:` and `oci-archive:`) and containerd all read it;
//! * **oci**, the plain OCI image layout as a tar (`skopeo`'s `oci-archive:`).
//!
//! Blobs go into the tar as they are stored (never recompressed), each once
//! however many images share it, copied by the kernel (never through img's
//! memory), large ones aligned in the tar for the kernel's fastest copy.
//!
//! img reads ([`load()`]) both, the legacy Docker archive (`<id>/layer.tar`,
//! `<id>.json`, `manifest.json`: older Docker, `skopeo copy …
//! docker-archive:`, `podman save`), OCI archives, and any of them
//! compressed with gzip or zstd. Every file is streamed into the store's
//! ingest area and hashed as it arrives (a pipe cannot be rewound, and an
//! archive's manifests may come after its layers); `blobs/sha256/HEX` must
//! hash to HEX. An uncompressed archive in a regular file ([`load_file`]) is
//! staged several files at once, one per core, since hashing every byte is
//! what bounds the speed. Only when the whole archive has been read and every image in
//! it checked (manifests and configs parse, every blob they name is present
//! with the right size, legacy layers match their config's diff_ids) are the
//! blobs committed, children before parents, and the names written last in
//! one update of `index.json`. A truncated, malformed or lying archive
//! changes nothing.
//!
//! A thin archive ([`thin`]) leaves out layers the receiving store has;
//! loading completes it from the store, or fails naming what is missing.

mod legacy;
mod load;
mod precheck;
mod read;
mod save;
mod tarwrite;
pub mod thin;

use serde::{Deserialize, Serialize};

pub use load::{load, load_file, Loaded};
pub use save::{save, Format};
pub use thin::Exclusions;

/// The annotation containerd and Docker 25+ put the full image name in.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// One entry of Docker's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestItem {
    /// The config's path in the archive.
    #[serde(rename = "Config")]
    pub config: String,
    /// The image's names, in Docker's familiar form (`busybox:latest`).
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    /// The layers' paths in the archive, bottom first.
    #[serde(rename = "Layers", default)]
    pub layers: Vec<String>,
}
