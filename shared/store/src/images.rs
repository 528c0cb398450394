//! Images read from the store: a manifest with its config, or an index with
//! the manifests of it that the store holds, parsed into `img_core::image`'s
//! types; and the check that every blob of an image is present.

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};

use crate::Store;
use img_core::error::{Error, Kind, Result, ResultExt};
use img_core::image::{is_index, is_manifest, Image, PlatformIndex, Target};

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
