//! `img-layer`: each subcommand is one call here, so that the program itself
//! only parses its command line and reports. `create` and `diff` write a new
//! layer (never into the trees they read), `apply` unpacks one onto a
//! directory, `list_files` lists a layer's entries, `list` an image's
//! layers, and `extract` writes one of them out of the store.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

use img_core::error::{IoContext, Result};
use img_core::output::{Sink, TarJob};
use img_core::platform::Platform;
use img_store::{ImageArg, Store};

use crate::{compression, create, diff, extract, list, stored, Compression};

/// Where and how a new layer is written.
#[derive(Debug, Clone, Copy)]
pub struct NewLayer<'a> {
    /// A file (written completely or not at all), or stdout for none or `-`.
    pub output: Option<&'a Path>,
    /// How the tar is compressed.
    pub compression: Compression,
    /// Modification times later than this (seconds since the epoch) are
    /// written as this.
    pub clamp_mtime: Option<u64>,
}

impl NewLayer<'_> {
    fn options(&self) -> create::Options {
        create::Options {
            clamp_mtime: self.clamp_mtime,
            exclude: Vec::new(),
        }
        .excluding_stdout()
    }
}

/// `img-layer create`: the tree `dir` as a reproducible layer. Returns the
/// number of sockets left out (a layer cannot hold them).
pub fn create_layer(dir: &Path, to: NewLayer<'_>) -> Result<u64> {
    create::check_dir(dir)?;
    create::check_output_outside(to.output, &[dir])?;
    let mut sockets = 0;
    create::write_compressed(to.output, to.compression, |out| {
        let (_, report) = create::create(dir, out, to.options())?;
        sockets = report.skipped_sockets;
        Ok(())
    })?;
    Ok(sockets)
}

/// `img-layer diff`: the layer that turns the tree `lower` into `upper`.
/// Returns the number of sockets left out.
pub fn diff_layer(lower: &Path, upper: &Path, to: NewLayer<'_>) -> Result<u64> {
    create::check_dir(lower)?;
    create::check_dir(upper)?;
    create::check_output_outside(to.output, &[lower, upper])?;
    let mut sockets = 0;
    create::write_compressed(to.output, to.compression, |out| {
        let (_, report) = diff::diff(lower, upper, out, to.options())?;
        sockets = report.skipped_sockets;
        Ok(())
    })?;
    Ok(sockets)
}

/// `img-layer apply`: the layer in `layer` unpacked onto the directory `dir`.
pub fn apply(layer: File, dir: &Path) -> Result<extract::Report> {
    create::check_dir(dir)?;
    extract::apply_file(layer, dir, &extract::Options::default())
}

/// `img-layer ls --files`: the entries of the layer read from `input`
/// (compressed or not), like `tar -tv`.
pub fn list_files(input: impl Read, out: &mut impl Write) -> Result<()> {
    let (_, tar) = compression::decompress(input)?;
    list::list_files(tar, out)?;
    out.flush().io_context(|| "writing the list".into())
}

/// How `img-layer ls` shows an image's layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// A table (digests truncated unless `no_trunc`).
    Table {
        /// Show whole digests.
        no_trunc: bool,
    },
    /// The digests alone.
    Quiet {
        /// Show whole digests.
        no_trunc: bool,
    },
    /// The layer descriptors as records.
    Records,
}

/// `img-layer ls IMAGE`: the layers of `image` (for `platform` when it is
/// an index), bottom first.
pub fn list(
    store: &Store,
    image: &ImageArg,
    platform: Option<&Platform>,
    view: View,
    out: &mut impl Write,
) -> Result<()> {
    let found = image.resolve(store)?;
    let layers = stored::layers(found.target.image_for(platform)?);
    let what = || "writing the list".to_string();
    match view {
        View::Records => {
            for layer in &layers {
                img_core::record::write(&mut *out, &layer.descriptor)?;
            }
        }
        View::Quiet { no_trunc } => {
            for layer in &layers {
                writeln!(
                    out,
                    "{}",
                    stored::shown(layer.descriptor.digest(), no_trunc)
                )
                .io_context(what)?;
            }
        }
        View::Table { no_trunc } => out
            .write_all(stored::table(&layers, no_trunc).as_bytes())
            .io_context(what)?,
    }
    out.flush().io_context(what)
}

/// `img-layer extract`: one layer of `image` (`which`: a position, digest
/// or diff_id; the top one for none) written as stored, or its tar when
/// `uncompressed`, into `output` (complete or not at all) or stdout.
pub fn extract(
    store: &Store,
    image: &ImageArg,
    which: Option<&str>,
    uncompressed: bool,
    output: Option<&Path>,
    platform: Option<&Platform>,
) -> Result<()> {
    let found = image.resolve(store)?;
    let layers = stored::layers(found.target.image_for(platform)?);
    let layer = stored::pick(&layers, which)?;
    img_core::output::write_tar(output, "a layer", Blob(store, &layer, uncompressed))?;
    Ok(())
}

/// One layer of the store as a tar job.
struct Blob<'a>(&'a Store, &'a stored::Layer, bool);

impl TarJob for Blob<'_> {
    fn write<W: Sink>(self, mut out: W) -> Result<W> {
        stored::write_layer(self.0, self.1, self.2, &mut out)?;
        Ok(out)
    }
}
