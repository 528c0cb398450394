//! Storing a layer tar given as a stream (`img-import`, later `img-commit`
//! and `img-layer`): the bytes are stored exactly as they come (plain,
//! gzip or zstd; never recompressed) while, in the same pass, they are
//! decompressed, hashed for the diff_id and checked as a layer tar (see
//! [`super::check`]): every entry's path stays inside the root, a hard link
//! names a path inside it too, a whiteout names a plain entry. Nothing is
//! visible in the store unless the whole stream was a valid layer.

use std::io::{self, Read, Write};

use oci_spec::image::Descriptor;

use super::check::{self, bad_tar};
use super::compression::{self, Compression};
use img_core::digest::{Digest, DigestReader};
use img_core::error::{Error, IoContext, Result};
use img_store::Store;

/// A layer now in the store.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// The blob's descriptor (media type from its compression).
    pub descriptor: Descriptor,
    /// The digest of the uncompressed tar.
    pub diff_id: Digest,
    /// How the blob is compressed.
    pub compression: Compression,
    /// Entries in the tar.
    pub entries: u64,
}

/// Copies everything read through it into `copy`.
struct Tee<'w, R, W> {
    inner: R,
    copy: &'w mut W,
    total: u64,
}

impl<R: Read, W: Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        self.total += n as u64;
        Ok(n)
    }
}

/// Store the layer tar read from `source`.
pub fn ingest(store: &Store, source: impl Read) -> Result<Ingested> {
    let mut blob = store.ingest()?;
    let mut tee = Tee {
        inner: source,
        copy: &mut blob,
        total: 0,
    };
    let (compression, diff_id, entries) = {
        let (compression, mut decoded) = compression::decompress(&mut tee)?;
        if compression == Compression::None {
            // The blob is the tar: its digest is the diff_id, hashed once.
            let entries = check::tar(&mut decoded)?;
            io::copy(&mut decoded, &mut io::sink()).map_err(bad_tar)?;
            (compression, None, entries)
        } else {
            let mut uncompressed = DigestReader::new(decoded);
            let entries = check::tar(&mut uncompressed)?;
            // The end-of-archive blocks and any padding after them belong
            // to the layer as well.
            io::copy(&mut uncompressed, &mut io::sink()).map_err(bad_tar)?;
            (compression, Some(uncompressed.digest().0), entries)
        }
    };
    // Bytes after the compressed stream's end are stored too: the blob is
    // the input, whole.
    io::copy(&mut tee, &mut io::sink()).io_context(|| "reading the layer".into())?;
    if tee.total == 0 {
        return Err(Error::invalid(
            "the input is empty: expected a tar archive (plain, gzip or zstd)",
        ));
    }
    let (digest, size) = blob.commit(None)?;
    let diff_id = diff_id.unwrap_or_else(|| digest.clone());
    let descriptor = Descriptor::new(compression.oci_layer_media_type(), size, digest);
    Ok(Ingested {
        descriptor,
        diff_id,
        compression,
        entries,
    })
}
