//! Naming images: `img-tag`, and the naming step of every program that
//! produces an image.

use oci_spec::image::Descriptor;

use crate::cli::ImageArg;
use crate::error::{Result, ResultExt};
use crate::image::Target;
use crate::record;
use crate::reference::Reference;
use crate::store::Store;

/// Give the image `source` names the name `target`; returns its record.
pub fn tag(store: &Store, source: &ImageArg, target: &str) -> Result<Descriptor> {
    let reference = Reference::parse(target)?;
    if reference.tag().is_none() {
        return Err(crate::Error::invalid(format!(
            "cannot tag with a digest reference {target:?}: give the new name a tag"
        )));
    }
    let found = source
        .resolve(store)
        .with_context(|| format!("tagging {}", source.display()))?;
    name(store, &found.target, &reference)
}

/// Record `reference` as the name of `target` in the store's index.
pub fn name(store: &Store, target: &Target, reference: &Reference) -> Result<Descriptor> {
    let descriptor = target.descriptor().clone();
    store.update_index(|index| {
        // Under the lock, garbage collection cannot run: make sure it did
        // not take the image away since it was found.
        store.require_complete(target)?;
        index.set_name(reference, &descriptor);
        Ok(())
    })?;
    Ok(record::for_target(target, Some(reference)))
}
