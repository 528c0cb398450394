//! `img-tag`: give an image another name, as `docker tag` does. The name is
//! recorded by the store ([`Store::set_name`]), the rule for a new name is
//! `img_core::reference::new_name`.

use oci_spec::image::Descriptor;

use img_core::error::{Result, ResultExt};
use img_core::image::Target;
use img_core::reference::new_name;
use img_store::{ImageArg, Store};

/// Give the image `source` names the name `target`; returns the image and
/// the new name's record.
pub fn tag(store: &Store, source: &ImageArg, target: &str) -> Result<(Target, Descriptor)> {
    let reference = new_name(target)?;
    let found = source
        .resolve(store)
        .with_context(|| format!("tagging {}", source.display()))?;
    let record = store.set_name(&found.target, &reference)?;
    Ok((found.target, record))
}
