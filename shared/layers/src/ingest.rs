//! Storing a layer tar given as a stream (`img-import`, later `img-commit`
//! and `img-layer`): the bytes are stored exactly as they come (plain,
//! gzip or zstd; never recompressed) while, in the same pass, they are
//! decompressed, hashed for the diff_id and parsed as a tar, so that what is
//! stored is known to be a layer: every entry's path stays inside the root,
//! and a hard link names a path inside it too. Nothing is visible in the
//! store unless the whole stream was a valid tar.

use std::io::{self, Read, Write};

use oci_spec::image::Descriptor;

use super::compression::{self, Compression};
use img_core::digest::{Digest, DigestReader};
use img_core::error::{Error, IoContext, Kind, Result};
use img_core::path;
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
            let entries = check_tar(&mut decoded)?;
            io::copy(&mut decoded, &mut io::sink()).map_err(bad_tar)?;
            (compression, None, entries)
        } else {
            let mut uncompressed = DigestReader::new(decoded);
            let entries = check_tar(&mut uncompressed)?;
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

/// Read a tar stream to its end, checking every entry's path; returns the
/// number of entries.
fn check_tar(reader: impl Read) -> Result<u64> {
    let mut archive = tar::Archive::new(reader);
    let mut count = 0;
    for entry in archive.entries().map_err(bad_tar)? {
        let entry = entry.map_err(bad_tar)?;
        let raw = entry.path_bytes();
        path::clean(&raw)?;
        if entry.header().entry_type() == tar::EntryType::Link {
            if let Some(target) = entry.link_name_bytes() {
                path::clean_link(&target)?;
            }
        }
        count += 1;
    }
    Ok(count)
}

/// A read error in the middle of a tar stream: the input is not a valid
/// (or complete) tar, unless the operating system failed.
fn bad_tar(e: io::Error) -> Error {
    if e.raw_os_error().is_some() {
        return Error::io("reading the layer", e);
    }
    let kind = img_core::error::kind_of(&e).unwrap_or(Kind::InvalidInput);
    Error::new(
        if kind == Kind::Io {
            Kind::InvalidInput
        } else {
            kind
        },
        format!(
            "the input is not a valid tar archive (plain, gzip or zstd): {}",
            super::one_line(&e)
        ),
    )
}
