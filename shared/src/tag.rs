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
/// given, only found, so the name must carry a tag; and a name that is 64
/// hex digits would read as an image ID (both Docker's rules).
pub fn new_name(name: &str) -> Result<Reference> {
    if name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(crate::Error::invalid(format!(
            "invalid repository name ({name}), cannot specify 64-byte hexadecimal strings"
        )));
    }
    let reference = Reference::parse(name)?;
    if reference.tag().is_none() {
        return Err(crate::Error::invalid(format!(
            "cannot name an image with a digest reference {name:?}: give the new name a tag"
        )));
    }
    Ok(reference)
}

/// Give the image `source` names the name `target`; returns the image and
/// the new name's record.
pub fn tag(store: &Store, source: &ImageArg, target: &str) -> Result<(Target, Descriptor)> {
    let reference = new_name(target)?;
    let found = source
        .resolve(store)
        .with_context(|| format!("tagging {}", source.display()))?;
    let record = name(store, &found.target, &reference)?;
    Ok((found.target, record))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_names_follow_dockers_rules() {
        let hex = "0123456789abcdef".repeat(4);
        let err = new_name(&hex).unwrap_err();
        assert_eq!(err.kind(), crate::Kind::InvalidInput);
        assert!(err.to_string().contains("64-byte hexadecimal"), "{err}");
        // with a tag or a path it names a repository, as current Docker has it
        assert!(new_name(&format!("{hex}:1")).is_ok());
        assert!(new_name(&format!("team/{hex}")).is_ok());
        assert_eq!(new_name("busybox").unwrap().tag(), Some("latest"));
        assert!(new_name(&format!("busybox@sha256:{hex}")).is_err());
    }
}
