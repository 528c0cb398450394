//! Images as stored: a manifest with its config and layers, or a
//! multi-platform index of such manifests. Reads OCI and Docker schema 2
//! media types alike (they share one JSON shape). An image's ID is its config
//! digest, as Docker shows it; a multi-platform index's ID is its own digest.

use chrono::{DateTime, Utc};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

use crate::digest::Digest;
use crate::error::{Error, Kind, Result, ResultExt};
use crate::platform::Platform;
use crate::store::Store;

/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker schema 2 manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
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
        self.config.created().as_deref().and_then(parse_time)
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
                            images.iter().map(|i| i.platform().to_string()).collect::<Vec<_>>().join(", ")
                        ))
                    })
            }
        }
    }
}

/// Parse an RFC 3339 time as configs carry it.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Store {
    /// Read the image whose manifest `descriptor` names.
    pub fn load_image(&self, descriptor: &Descriptor) -> Result<Image> {
        let what = || format!("reading image manifest {}", descriptor.digest());
        let bytes = self.read_blob(descriptor).with_context(what)?;
        let manifest: ImageManifest = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                Kind::InvalidInput,
                format!("{}: not an image manifest: {e}", what()),
            )
        })?;
        let config_bytes = self
            .read_blob(manifest.config())
            .with_context(|| format!("reading config of image {}", descriptor.digest()))?;
        let config_json: serde_json::Value =
            serde_json::from_slice(&config_bytes).map_err(|e| {
                Error::invalid(format!(
                    "config {} is not JSON: {e}",
                    manifest.config().digest()
                ))
            })?;
        let config: ImageConfiguration =
            serde_json::from_value(config_json.clone()).map_err(|e| {
                Error::invalid(format!(
                    "config {} is not an image config: {e}",
                    manifest.config().digest()
                ))
            })?;
        Ok(Image {
            descriptor: descriptor.clone(),
            manifest,
            config,
            config_json,
        })
    }

    /// Fail with NotFound unless every blob of `target` is in the store: the
    /// index or manifest, and each present image's config and layers.
    pub fn require_complete(&self, target: &Target) -> Result<()> {
        let images: Vec<&Image> = match target {
            Target::Image(image) => vec![image],
            Target::Index(index) => index.images.iter().collect(),
        };
        let own = std::iter::once(target.descriptor());
        let children = images.iter().flat_map(|i| {
            std::iter::once(&i.descriptor)
                .chain(std::iter::once(i.manifest.config()))
                .chain(i.manifest.layers())
        });
        for descriptor in own.chain(children) {
            if !self.has_blob(descriptor.digest()) {
                return Err(Error::not_found(format!(
                    "image {} is incomplete: blob {} is missing (it was removed meanwhile; pull or load it again)",
                    target.digest(),
                    descriptor.digest()
                )));
            }
        }
        Ok(())
    }

    /// Read what an index entry or record names: a manifest or an index.
    pub fn load_target(&self, descriptor: &Descriptor) -> Result<Target> {
        if !is_index(descriptor.media_type()) {
            return self
                .load_image(descriptor)
                .map(|i| Target::Image(Box::new(i)));
        }
        let bytes = self.read_blob(descriptor)?;
        let index: ImageIndex = serde_json::from_slice(&bytes).map_err(|e| {
            Error::invalid(format!(
                "index {} is not an image index: {e}",
                descriptor.digest()
            ))
        })?;
        let mut images = Vec::new();
        for child in index.manifests() {
            if is_manifest(child.media_type()) && self.has_blob(child.digest()) {
                let mut image = self.load_image(child)?;
                if let Some(p) = child.platform() {
                    // The index's platform entry is the authority for variant.
                    if image.config.variant().is_none() {
                        image.config.set_variant(p.variant().clone());
                    }
                }
                images.push(image);
            }
        }
        Ok(Target::Index(Box::new(PlatformIndex {
            descriptor: descriptor.clone(),
            index,
            images,
        })))
    }
}
