//! Images as stored: a manifest with its config and layers, or a
//! multi-platform index of such manifests. Reads OCI and Docker schema 2
//! media types alike (they share one JSON shape). An image's ID is its config
//! digest, as Docker shows it; a multi-platform index's ID is its own digest.

use chrono::{DateTime, Utc};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

use crate::digest::Digest;
use crate::error::{Error, Kind, Result};
use crate::platform::Platform;

/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 2 manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker uncompressed layer (containerd's `MediaTypeDockerSchema2Layer`).
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Whether a media type names a manifest (OCI or Docker schema 2).
pub fn is_manifest(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageManifest) || media_type.to_string() == DOCKER_MANIFEST
}

/// Whether a media type names an index (OCI index or Docker manifest list).
pub fn is_index(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageIndex) || media_type.to_string() == DOCKER_MANIFEST_LIST
}

/// The error for an index that lists an index. img follows one level: an
/// index of image manifests, as `docker pull` of Docker Engine 20.10 (the
/// reference here) takes it — an index entry for the platform must be an
/// image manifest. containerd follows nested indexes without a bound; no
/// image Docker, BuildKit, skopeo or podman makes nests them. So a chain of
/// indexes, or one that names itself (through a link in an archive), is
/// refused where the first nesting is found, naming what was found.
pub fn nested_index(parent: &Digest, child: &Descriptor, kind: Kind) -> Error {
    let what = if child.digest() == parent {
        "itself".to_string()
    } else {
        format!("another index, {}", child.digest())
    };
    let platform = child
        .platform()
        .as_ref()
        .map(|p| format!(" (for {}/{})", p.os(), p.architecture()))
        .unwrap_or_default();
    Error::new(
        kind,
        format!(
            "index {parent} lists {what}{platform}: img reads an index of image manifests, \
             one level deep as docker pull does, and does not follow an index inside an index"
        ),
    )
}

/// One platform's image: manifest, config, and the config's raw JSON (which
/// keeps Docker fields that the OCI config type does not model).
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest's descriptor.
    pub descriptor: Descriptor,
    /// The parsed manifest.
    pub manifest: ImageManifest,
    /// The parsed config.
    pub config: ImageConfiguration,
    /// The config as JSON, every field kept.
    pub config_json: serde_json::Value,
}

impl Image {
    /// The image ID: the config digest.
    pub fn id(&self) -> &Digest {
        self.manifest.config().digest()
    }

    /// When the image was created, from its config.
    pub fn created(&self) -> Option<DateTime<Utc>> {
        self.config
            .created()
            .as_deref()
            .and_then(crate::timestamp::parse_rfc3339)
    }

    /// The bytes the image occupies in the store: config and layer blobs.
    pub fn content_size(&self) -> u64 {
        self.manifest.config().size() + self.manifest.layers().iter().map(|l| l.size()).sum::<u64>()
    }

    /// The chain ID of each layer, bottom first: the layer's diff_id for
    /// the first, then the digest of `PARENT_CHAIN_ID DIFF_ID` (the OCI
    /// spec's ChainID, the IDs Docker's layer store gives layers).
    pub fn chain_ids(&self) -> Vec<Digest> {
        let mut chain: Vec<Digest> = Vec::new();
        for diff_id in self.config.rootfs().diff_ids() {
            let next = match chain.last() {
                None => crate::digest::parse(diff_id),
                Some(parent) => Ok(crate::digest::of_bytes(
                    format!("{parent} {diff_id}").as_bytes(),
                )),
            };
            // A config whose diff_ids do not parse has no chain to report.
            let Ok(next) = next else { return Vec::new() };
            chain.push(next);
        }
        chain
    }

    /// The platform the config declares.
    pub fn platform(&self) -> Platform {
        Platform::new(
            &self.config.os().to_string(),
            &self.config.architecture().to_string(),
            self.config.variant().as_deref(),
        )
    }
}

/// A multi-platform index with the platform images present in the store.
#[derive(Debug, Clone)]
pub struct PlatformIndex {
    /// The index's descriptor.
    pub descriptor: Descriptor,
    /// The parsed index.
    pub index: ImageIndex,
    /// The platform images whose manifests are in the store.
    pub images: Vec<Image>,
}

/// What an index entry holds: one image, or a multi-platform index.
#[derive(Debug, Clone)]
pub enum Target {
    /// A single-platform image.
    Image(Box<Image>),
    /// A multi-platform index.
    Index(Box<PlatformIndex>),
}

impl Target {
    /// The ID Docker shows: config digest of an image, digest of an index.
    pub fn id(&self) -> &Digest {
        match self {
            Target::Image(image) => image.id(),
            Target::Index(index) => index.descriptor.digest(),
        }
    }

    /// The digest of the manifest or index.
    pub fn digest(&self) -> &Digest {
        self.descriptor().digest()
    }

    /// The descriptor of the manifest or index.
    pub fn descriptor(&self) -> &Descriptor {
        match self {
            Target::Image(image) => &image.descriptor,
            Target::Index(index) => &index.descriptor,
        }
    }

    /// The newest creation time among the images.
    pub fn created(&self) -> Option<DateTime<Utc>> {
        match self {
            Target::Image(image) => image.created(),
            Target::Index(index) => index.images.iter().filter_map(Image::created).max(),
        }
    }

    /// Bytes of the content in the store, each blob counted once.
    pub fn content_size(&self) -> u64 {
        match self {
            Target::Image(image) => image.content_size(),
            Target::Index(index) => {
                let mut seen = std::collections::HashSet::new();
                let mut total = index.descriptor.size();
                for image in &index.images {
                    total += image.descriptor.size();
                    for d in std::iter::once(image.manifest.config()).chain(image.manifest.layers())
                    {
                        if seen.insert(d.digest().clone()) {
                            total += d.size();
                        }
                    }
                }
                total
            }
        }
    }

    /// The image for `platform`, or for the host's when `None` (then also
    /// the only one an index holds): what img-export, img-commit, img-run
    /// and img-layer work on.
    pub fn image_for(&self, platform: Option<&Platform>) -> Result<&Image> {
        let Some(wanted) = platform else {
            return self.host_image();
        };
        match self {
            Target::Image(image) if wanted.matches(&image.platform()) => Ok(image),
            Target::Image(image) => Err(Error::not_found(format!(
                "image {} is for {}, not {wanted}",
                image.descriptor.digest(),
                image.platform()
            ))),
            Target::Index(index) => index
                .images
                .iter()
                .find(|i| wanted.matches(&i.platform()))
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "index {} holds no image for {wanted} in the store (platforms present: {})",
                        index.descriptor.digest(),
                        platforms(&index.images)
                    ))
                }),
        }
    }

    /// Every blob of the target the store holds: the index, and each
    /// present image's manifest, config and layers.
    pub fn blobs(&self) -> Vec<&Descriptor> {
        let images: Vec<&Image> = match self {
            Target::Image(image) => vec![image],
            Target::Index(index) => index.images.iter().collect(),
        };
        let mut blobs = Vec::new();
        if let Target::Index(index) = self {
            blobs.push(&index.descriptor);
        }
        for image in images {
            blobs.push(&image.descriptor);
            blobs.push(image.manifest.config());
            blobs.extend(image.manifest.layers());
        }
        blobs
    }

    /// The image for the host platform (or the only one present).
    pub fn host_image(&self) -> Result<&Image> {
        match self {
            Target::Image(image) => Ok(image),
            Target::Index(index) => {
                let PlatformIndex {
                    descriptor, images, ..
                } = index.as_ref();
                let host = Platform::host();
                images
                    .iter()
                    .find(|i| host.matches(&i.platform()))
                    .or_else(|| if images.len() == 1 { images.first() } else { None })
                    .ok_or_else(|| {
                        let nested = index.index.manifests().iter().find(|d| is_index(d.media_type()));
                        if let (true, Some(child)) = (images.is_empty(), nested) {
                            return nested_index(descriptor.digest(), child, Kind::NotFound);
                        }
                        Error::not_found(format!(
                            "index {} holds no image for {host} in the store (platforms present: {})",
                            descriptor.digest(),
                            platforms(images)
                        ))
                    })
            }
        }
    }
}

/// The platforms of `images`, for messages: `linux/amd64, linux/arm64`.
fn platforms(images: &[Image]) -> String {
    images
        .iter()
        .map(|i| i.platform().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
