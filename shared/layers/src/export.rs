//! `img-export`: an image's root filesystem as one tar, its layers applied
//! in order with whiteouts and opaque directories resolved (see
//! [`crate::flatten`]). Each layer is read from the store twice,
//! decompressed as its first bytes say, and verified against its digest.

use std::io::{BufReader, Read, Seek, SeekFrom, Write};

use oci_spec::image::Descriptor;

use crate::compression::{self, Compression};
use crate::flatten::{self, LayerSource, ReadSeek};
use img_core::error::{IoContext, Result, ResultExt};
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

/// Write the flattened root filesystem of `image` to `out`.
pub fn export<W: Write>(
    store: &Store,
    image: &ImageArg,
    platform: Option<&Platform>,
    out: W,
) -> Result<W> {
    let found = image
        .resolve(store)
        .with_context(|| format!("exporting {}", image.display()))?;
    let chosen = found
        .target
        .image_for(platform)
        .with_context(|| format!("exporting {}", image.display()))?;
    let layers: Vec<StoreLayer<'_>> = chosen
        .manifest
        .layers()
        .iter()
        .enumerate()
        .map(|(position, d)| StoreLayer {
            store,
            descriptor: d.clone(),
            position,
        })
        .collect();
    let sources: Vec<&dyn LayerSource> = layers.iter().map(|l| l as &dyn LayerSource).collect();
    flatten::flatten(&sources, out).with_context(|| format!("exporting {}", image.display()))
}
