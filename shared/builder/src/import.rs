//! `img-import`: a root filesystem tar becomes a one-layer image, as
//! `docker import` makes it. The tar is stored as it comes (plain, gzip or
//! zstd) and checked to be a tar whose paths stay inside the root; the
//! config gets the platform, the `--change` instructions, and Docker's
//! comment (`Imported from SOURCE`, or the message given).

use std::io::Read;

use oci_spec::image::Descriptor;
use serde_json::json;

use img_core::error::{Result, ResultExt};
use img_core::image::Target;
use img_core::platform::Platform;
use img_core::reference::Reference;
use img_dockerfile::change;
use img_layers::ingest;
use img_store::compose;
use img_store::Store;

/// What to make of the imported tar.
#[derive(Debug, Clone)]
pub struct Options {
    /// The name to give the image, if any.
    pub reference: Option<Reference>,
    /// Dockerfile instructions applied to the config.
    pub changes: Vec<String>,
    /// The commit message; Docker's default is `Imported from SOURCE`.
    pub message: Option<String>,
    /// The image's platform.
    pub platform: Platform,
    /// Where the tar came from, for the default message: Docker writes `-`
    /// for a tar the client sent, a file included.
    pub source: String,
    /// The tar as errors name it: its path, or `-` for stdin.
    pub input: String,
}

/// Import the tar read from `input`; returns the image and its record.
pub fn import(store: &Store, input: impl Read, options: &Options) -> Result<(Target, Descriptor)> {
    // Check the changes before reading anything: bad usage changes nothing.
    let mut runtime = serde_json::Map::new();
    change::apply_all(&mut runtime, &options.changes)?;
    let layer =
        ingest::ingest(store, input).with_context(|| format!("importing {}", options.input))?;
    let created = compose::creation_time()?;
    let message = options
        .message
        .clone()
        .unwrap_or_else(|| format!("Imported from {}", options.source));
    let mut config = compose::empty_config(&options.platform, created);
    config["comment"] = json!(message);
    *compose::runtime_config(&mut config)? = runtime;
    compose::add_layer(
        &mut config,
        &layer.diff_id,
        json!({"created": compose::timestamp(created), "comment": message}),
    )?;
    let target = compose::write_image(store, &config, &[layer.descriptor])?;
    let record = compose::name(store, &target, options.reference.as_ref())?;
    Ok((target, record))
}
