//! `img-tag`: give an image another name, as `docker tag` does. The name is
//! recorded by the store ([`Store::set_name`]), the rule for a new name is
//! `img_core::reference::new_name`.

use oci_spec::image::Descriptor;

use img_core::error::{Result, ResultExt};
use img_core::reference::new_name;
use img_store::{ImageArg, Store};

/// Give the image `source` names the name `target`; returns its record.
pub fn tag(store: &Store, source: &ImageArg, target: &str) -> Result<Descriptor> {
    let reference = new_name(target)?;
    let found = source
        .resolve(store)
        .with_context(|| format!("tagging {}", source.display()))?;
    store.set_name(&found.target, &reference)
}
