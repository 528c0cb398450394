//! Naming images: `img-tag`, and the naming step of every program that
//! produces an image.

use oci_spec::image::Descriptor;

use crate::cli::ImageArg;
use crate::error::{Result, ResultExt};
use crate::image::Target;
use crate::record;
use crate::reference::Reference;
use crate::store::Store;

/// Parse `name` as a new name for an image: a name@digest cannot be
/// given, only found, so the name must carry a tag (Docker's rule).
pub fn new_name(name: &str) -> Result<Reference> {
    let reference = Reference::parse(name)?;
    if reference.tag().is_none() {
        return Err(crate::Error::invalid(format!(
            "cannot name an image with a digest reference {name:?}: give the new name a tag"
        )));
    }
    Ok(reference)
}

/// Give the image `source` names the name `target`; returns its record.
pub fn tag(store: &Store, source: &ImageArg, target: &str) -> Result<Descriptor> {
    let reference = new_name(target)?;
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
