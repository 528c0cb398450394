//! Blobs: content-addressed files under `blobs/sha256/`. A write is a
//! transaction: bytes stream into a temporary file in `.img/ingest/` while
//! they are hashed, and [`BlobWriter::commit`] checks the digest and size,
//! fsyncs and renames. Nothing is visible under its digest before that.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;

use oci_spec::image::Descriptor;

use super::{set_readable, sync_dir, Store};
use img_core::digest::{self, Digest, DigestWriter, VerifyingReader};
use img_core::error::{Error, IoContext, Kind, Result};

/// The largest manifest, index or config img reads into memory; registries
/// refuse manifests over 4 MiB, and configs with long histories stay far below.
pub const MAX_METADATA_SIZE: u64 = 16 << 20;

impl Store {
    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blob_dir().join(digest.digest())
    }

    /// Whether the store holds the blob.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// For a writer about to skip a blob it would otherwise store: whether
    /// the store holds it, asked under the writer lock, so that garbage
    /// collection cannot remove it before this process names it.
    pub fn has_blob_for_write(&self, digest: &Digest) -> Result<bool> {
        self.hold_writer_lock()?;
        Ok(self.has_blob(digest))
    }

    /// The size of a stored blob, or NotFound.
    pub fn blob_size(&self, digest: &Digest) -> Result<u64> {
        match fs::metadata(self.blob_path(digest)) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing(digest)),
            Err(e) => Err(Error::io(format!("reading blob {digest}"), e)),
        }
    }

    /// Open a blob for reading, verified against the descriptor's digest and
    /// size as it is read: a reader that reaches the end without an error has
    /// delivered exactly the promised bytes.
    pub fn open_blob(&self, descriptor: &Descriptor) -> Result<VerifyingReader<File>> {
        let digest = descriptor.digest();
        digest::ensure_sha256(digest)?;
        let file = self.open_blob_unverified(digest)?;
        Ok(VerifyingReader::new(
            file,
            digest.clone(),
            descriptor.size(),
        ))
    }

    /// Open a blob without verification (for copying bytes whose digest is
    /// checked elsewhere, or for their size).
    pub fn open_blob_unverified(&self, digest: &Digest) -> Result<File> {
        match File::open(self.blob_path(digest)) {
            Ok(f) => Ok(f),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(missing(digest)),
            Err(e) => Err(Error::io(format!("opening blob {digest}"), e)),
        }
    }

    /// Read a small blob (manifest, index, config) whole, verified.
    pub fn read_blob(&self, descriptor: &Descriptor) -> Result<Vec<u8>> {
        if descriptor.size() > MAX_METADATA_SIZE {
            return Err(Error::invalid(format!(
                "{} declares {} bytes, more than the {} bytes img reads for a manifest or config",
                descriptor.digest(),
                descriptor.size(),
                MAX_METADATA_SIZE
            )));
        }
        let mut bytes = Vec::with_capacity(descriptor.size() as usize);
        self.open_blob(descriptor)?
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(format!("reading blob {}", descriptor.digest()), e))?;
        Ok(bytes)
    }

    /// Read a blob whose size is not known (a digest from an ID or record),
    /// verified against its digest.
    pub fn read_blob_by_digest(&self, digest: &Digest) -> Result<Vec<u8>> {
        let size = self.blob_size(digest)?;
        let descriptor = Descriptor::new(
            oci_spec::image::MediaType::Other(String::new()),
            size,
            digest.clone(),
        );
        self.read_blob(&descriptor)
    }

    /// Start writing a blob. Takes the writer lock so that garbage collection
    /// waits for this process.
    pub fn ingest(&self) -> Result<BlobWriter<'_>> {
        self.hold_writer_lock()?;
        let dir = self.state_dir().join("ingest");
        let file = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&dir)
            .io_context(|| format!("creating a temporary blob in {}", dir.display()))?;
        Ok(BlobWriter {
            store: self,
            out: DigestWriter::new(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// Store `bytes` as a blob; returns its digest and size.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<(Digest, u64)> {
        let digest = digest::of_bytes(bytes);
        // The lock comes before the check: once held, garbage collection
        // cannot remove the blob this write relies on.
        self.hold_writer_lock()?;
        if self.has_blob(&digest) {
            return Ok((digest, bytes.len() as u64));
        }
        let mut writer = self.ingest()?;
        writer
            .write_all(bytes)
            .io_context(|| "writing blob".into())?;
        writer.commit(Some((&digest, bytes.len() as u64)))
    }

    /// Copy a stream into the store, verified against `descriptor`.
    pub fn write_blob_from(&self, descriptor: &Descriptor, source: impl Read) -> Result<()> {
        let expected = descriptor.digest();
        digest::ensure_sha256(expected)?;
        let mut writer = self.ingest()?;
        // Limit the copy, so that a lying source cannot fill the disk.
        let mut limited = source.take(descriptor.size().saturating_add(1));
        io::copy(&mut limited, &mut writer)
            .map_err(|e| Error::io(format!("receiving blob {expected}"), e))?;
        writer.commit(Some((expected, descriptor.size())))?;
        Ok(())
    }
}

fn missing(digest: &Digest) -> Error {
    Error::not_found(format!(
        "blob {digest} is missing from the store (run img-pull or img-load again to restore it)"
    ))
}

/// A blob being written; see [`Store::ingest`].
pub struct BlobWriter<'s> {
    store: &'s Store,
    out: DigestWriter<BufWriter<tempfile::NamedTempFile>>,
}

impl BlobWriter<'_> {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.out.digest().1
    }

    /// The digest and size of what was written so far (what
    /// [`BlobWriter::commit`] will store it as).
    pub fn digest(&self) -> (Digest, u64) {
        self.out.digest()
    }

    /// Verify against `expected` (digest, size) when given, then make the
    /// blob visible under its digest. Returns the digest and size. A blob that
    /// is already stored is kept, and the new copy dropped.
    pub fn commit(self, expected: Option<(&Digest, u64)>) -> Result<(Digest, u64)> {
        let (buffered, digest, size) = self.out.finish();
        if let Some((want, want_size)) = expected {
            if size != want_size {
                return Err(Error::new(
                    Kind::DigestMismatch,
                    format!("blob {want}: received {size} bytes where {want_size} were declared"),
                ));
            }
            if &digest != want {
                return Err(Error::digest_mismatch(want, &digest));
            }
        }
        let file = buffered
            .into_inner()
            .map_err(|e| Error::io("writing blob".to_string(), e.into_error()))?;
        let target = self.store.blob_path(&digest);
        if target.is_file() {
            return Ok((digest, size));
        }
        file.as_file()
            .sync_all()
            .io_context(|| format!("syncing blob {digest}"))?;
        set_readable(file.path())?;
        file.persist(&target)
            .map_err(|e| Error::io(format!("storing blob {digest}"), e.error))?;
        sync_dir(&self.store.blob_dir())?;
        Ok((digest, size))
    }
}

impl Write for BlobWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A new layer's tar and a recompressed layer are written here.
        img_core::cancel::check_io()?;
        self.out.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_verifies_and_dedups() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let (d, n) = store.write_blob(b"hello").unwrap();
        assert_eq!(n, 5);
        assert!(store.has_blob(&d));
        assert_eq!(store.read_blob_by_digest(&d).unwrap(), b"hello");

        let mut w = store.ingest().unwrap();
        w.write_all(b"other").unwrap();
        let err = w.commit(Some((&d, 5))).unwrap_err();
        assert_eq!(err.kind(), Kind::DigestMismatch);
        let other = digest::of_bytes(b"other");
        assert!(!store.has_blob(&other), "a failed commit leaves no blob");
        let leftovers = fs::read_dir(store.state_dir().join("ingest"))
            .unwrap()
            .count();
        assert_eq!(leftovers, 0, "a failed commit leaves no temporary file");
    }

    #[test]
    fn corrupt_blob_is_detected_on_read() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let (d, _) = store.write_blob(b"hello").unwrap();
        let path = store.blob_path(&d);
        let mut perms = fs::metadata(&path).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&path, perms).unwrap();
        fs::write(&path, b"jello").unwrap();
        let err = store.read_blob_by_digest(&d).unwrap_err();
        assert_eq!(err.kind(), Kind::DigestMismatch, "{err}");
    }
}
