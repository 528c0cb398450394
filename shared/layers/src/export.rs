//! `img-export`: an image's root filesystem as one tar, its layers applied
//! in order with whiteouts and opaque directories resolved (see
//! [`crate::flatten`]), or written into a directory ([`unpack`], through
//! [`crate::rootfs`]). Each layer is read from the store (twice for a tar,
//! once for a directory), decompressed as its first bytes say, and verified
//! against its digest.

use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use oci_spec::image::Descriptor;

use crate::compression::{self, Compression};
use crate::extract::Report;
use crate::flatten::{self, LayerSource, ReadSeek};
use crate::rootfs;
use img_core::error::{Error, IoContext, Result, ResultExt};
use img_core::platform::Platform;
use img_store::ImageArg;
use img_store::Store;

/// A layer blob in the store.
struct StoreLayer<'s> {
    store: &'s Store,
    descriptor: Descriptor,
    position: usize,
}

impl LayerSource for StoreLayer<'_> {
    fn open(&self) -> Result<Box<dyn Read + '_>> {
        let blob = self.store.open_blob(&self.descriptor)?;
        let (_, reader) =
            compression::decompress(BufReader::with_capacity(compression::BUFFER, blob))?;
        Ok(reader)
    }

    fn open_seekable(&self) -> Result<Option<Box<dyn ReadSeek + '_>>> {
        let mut file = self.store.open_blob_unverified(self.descriptor.digest())?;
        let mut head = [0u8; compression::MAGIC_LEN];
        let n = file
            .read(&mut head)
            .io_context(|| format!("reading {}", self.describe()))?;
        if Compression::detect(&head[..n]) != Compression::None {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(0))
            .io_context(|| format!("reading {}", self.describe()))?;
        Ok(Some(Box::new(BufReader::with_capacity(64 << 10, file))))
    }

    fn describe(&self) -> String {
        format!("layer {} ({})", self.position + 1, self.descriptor.digest())
    }
}

/// The layers of `image` in the store, bottom first.
fn store_layers<'s>(
    store: &'s Store,
    image: &ImageArg,
    platform: Option<&Platform>,
) -> Result<Vec<StoreLayer<'s>>> {
    let found = image.resolve(store)?;
    let chosen = found.target.image_for(platform)?;
    Ok(chosen
        .manifest
        .layers()
        .iter()
        .enumerate()
        .map(|(position, d)| StoreLayer {
            store,
            descriptor: d.clone(),
            position,
        })
        .collect())
}

/// Write the flattened root filesystem of `image` to `out`.
pub fn export<W: Write>(
    store: &Store,
    image: &ImageArg,
    platform: Option<&Platform>,
    out: W,
) -> Result<W> {
    let layers = store_layers(store, image, platform)
        .with_context(|| format!("exporting {}", image.display()))?;
    let sources: Vec<&dyn LayerSource> = layers.iter().map(|l| l as &dyn LayerSource).collect();
    flatten::flatten(&sources, out).with_context(|| format!("exporting {}", image.display()))
}

/// Write the root filesystem of `image` into the directory `dir`, which
/// must be empty or not exist yet (it is made, mode 0755): each path once,
/// the layers decompressed in parallel (see [`crate::rootfs`]).
/// When unpacking fails, what was written is removed again.
pub fn unpack(
    store: &Store,
    image: &ImageArg,
    platform: Option<&Platform>,
    dir: &Path,
) -> Result<Report> {
    let what = || format!("unpacking {} into {}", image.display(), dir.display());
    let layers = store_layers(store, image, platform).with_context(what)?;
    let made = destination(dir).with_context(what)?;
    let root = img_core::confine::Root::open(dir).with_context(what)?;
    let sources: Vec<&(dyn LayerSource + Sync)> = layers
        .iter()
        .map(|l| l as &(dyn LayerSource + Sync))
        .collect();
    let unpacked = rootfs::unpack(&sources, &root, &rootfs::Options::default());
    if unpacked.is_err() {
        // Everything in it is the unpacker's: the directory was empty.
        let _ = root.top().clear();
        if made {
            let _ = std::fs::remove_dir(dir);
        }
    }
    unpacked.with_context(what)
}

/// Make `dir` unless it exists; whether it was made. An existing `dir`
/// must be an empty directory.
fn destination(dir: &Path) -> Result<bool> {
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let mut entries = std::fs::read_dir(dir)
                .io_context(|| format!("reading the directory {}", dir.display()))?;
            if entries.next().is_some() {
                return Err(Error::invalid(format!(
                    "{} is not empty (unpack into a new or empty directory)",
                    dir.display()
                )));
            }
            Ok(false)
        }
        Ok(_) => Err(Error::invalid(format!(
            "{} exists and is not a directory",
            dir.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir(dir)
                .io_context(|| format!("creating the directory {}", dir.display()))?;
            Ok(true)
        }
        Err(e) => Err(Error::io(format!("reading {}", dir.display()), e)),
    }
}
