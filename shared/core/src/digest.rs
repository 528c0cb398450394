//! Content digests. img stores and verifies sha256 only (what every registry
//! and OCI tool writes); a digest is parsed once into [`Digest`] (the
//! `oci-spec` type) and checked to be sha256 with 64 lowercase hex digits.
//! [`DigestWriter`] and [`DigestReader`] hash bytes as they stream by, so no
//! blob is ever read twice to be verified.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

pub use oci_spec::image::Digest;

/// Parse `sha256:<64 hex>`; any other algorithm or shape is bad input.
pub fn parse(text: &str) -> Result<Digest> {
    let Some(hex) = text.strip_prefix("sha256:") else {
        return Err(Error::invalid(format!(
            "invalid digest {text:?}: img supports sha256 digests only (sha256:<64 hex digits>)"
        )));
    };
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(Error::invalid(format!(
            "invalid digest {text:?}: expected sha256: followed by 64 lowercase hex digits"
        )));
    }
    from_hex(hex)
}

/// The digest whose hex part is `hex` (already known to be 64 lowercase hex).
pub fn from_hex(hex: &str) -> Result<Digest> {
    Digest::try_from(format!("sha256:{hex}"))
        .map_err(|e| Error::invalid(format!("invalid digest sha256:{hex}: {e}")))
}

/// Check that a digest read from somewhere (a manifest, an index) is sha256.
pub fn ensure_sha256(digest: &Digest) -> Result<()> {
    parse(digest.as_ref()).map(|_| ())
}

/// The sha256 digest of a byte slice.
pub fn of_bytes(bytes: &[u8]) -> Digest {
    finish(Sha256::digest(bytes).into())
}

fn finish(sum: [u8; 32]) -> Digest {
    // A sha256 sum always renders as 64 lowercase hex digits, which `Digest`
    // accepts, so this cannot fail.
    #[allow(clippy::unwrap_used)]
    Digest::try_from(format!("sha256:{}", hex::encode(sum))).unwrap()
}

/// The 12-hex-digit short form Docker shows for IDs.
pub fn short(digest: &Digest) -> &str {
    let hex = digest.digest();
    &hex[..hex.len().min(12)]
}

/// A running sha256 with a byte count.
#[derive(Default, Clone)]
pub struct Hasher {
    sha: Sha256,
    size: u64,
}

impl Hasher {
    /// Feed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.size += bytes.len() as u64;
    }
    /// Bytes seen so far.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// The digest of everything fed.
    pub fn digest(&self) -> Digest {
        finish(self.sha.clone().finalize().into())
    }
}

/// A writer that hashes and counts what passes through it.
pub struct DigestWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> DigestWriter<W> {
    /// Wrap `inner`.
    pub fn new(inner: W) -> Self {
        DigestWriter {
            inner,
            hasher: Hasher::default(),
        }
    }
    /// The digest and size of everything written so far.
    pub fn digest(&self) -> (Digest, u64) {
        (self.hasher.digest(), self.hasher.size())
    }
    /// The wrapped writer.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
    /// Unwrap, returning the inner writer, the digest and the size.
    pub fn finish(self) -> (W, Digest, u64) {
        let (digest, size) = (self.hasher.digest(), self.hasher.size());
        (self.inner, digest, size)
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that hashes and counts what is read through it.
pub struct DigestReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> DigestReader<R> {
    /// Wrap `inner`.
    pub fn new(inner: R) -> Self {
        DigestReader {
            inner,
            hasher: Hasher::default(),
        }
    }
    /// The digest and size of everything read so far.
    pub fn digest(&self) -> (Digest, u64) {
        (self.hasher.digest(), self.hasher.size())
    }
    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads exactly `expected_size` bytes from `inner` and fails at the end when
/// the bytes do not hash to `expected` — or earlier, when more or fewer bytes
/// arrive. Used for every read of content whose digest is known.
pub struct VerifyingReader<R> {
    inner: DigestReader<io::Take<R>>,
    expected: Digest,
    expected_size: u64,
    checked: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// Verify `inner` against a descriptor's digest and size.
    pub fn new(inner: R, expected: Digest, expected_size: u64) -> Self {
        VerifyingReader {
            // One byte more than expected, so that an over-long source is seen.
            inner: DigestReader::new(inner.take(expected_size.saturating_add(1))),
            expected,
            expected_size,
            checked: false,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let (digest, size) = self.inner.digest();
        if size > self.expected_size {
            return Err(Error::new(
                crate::error::Kind::DigestMismatch,
                format!(
                    "content of {} is longer than its declared size {}",
                    self.expected, self.expected_size
                ),
            )
            .into_io());
        }
        if n == 0 && !buf.is_empty() && !self.checked {
            self.checked = true;
            if size != self.expected_size {
                return Err(Error::new(
                    crate::error::Kind::DigestMismatch,
                    format!(
                        "content of {} ends after {size} of {} bytes (truncated)",
                        self.expected, self.expected_size
                    ),
                )
                .into_io());
            }
            if digest != self.expected {
                return Err(Error::digest_mismatch(&self.expected, &digest).into_io());
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_sha256() {
        let hex = "a".repeat(64);
        assert_eq!(parse(&format!("sha256:{hex}")).unwrap().digest(), hex);
        assert!(parse(&format!("sha512:{hex}")).is_err());
        assert!(parse("sha256:abc").is_err());
        assert!(parse(&format!("sha256:{}", "A".repeat(64))).is_err());
    }

    #[test]
    fn hashes_known_value() {
        assert_eq!(
            of_bytes(b"").to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut w = DigestWriter::new(Vec::new());
        w.write_all(b"abc").unwrap();
        assert_eq!(w.digest().0, of_bytes(b"abc"));
        assert_eq!(w.digest().1, 3);
    }

    #[test]
    fn verifying_reader_catches_lies() {
        let good = of_bytes(b"hello");
        let mut out = Vec::new();
        VerifyingReader::new(&b"hello"[..], good.clone(), 5)
            .read_to_end(&mut out)
            .unwrap();
        assert!(VerifyingReader::new(&b"hellx"[..], good.clone(), 5)
            .read_to_end(&mut Vec::new())
            .is_err());
        assert!(VerifyingReader::new(&b"hell"[..], good.clone(), 5)
            .read_to_end(&mut Vec::new())
            .is_err());
        assert!(VerifyingReader::new(&b"hello!"[..], good, 5)
            .read_to_end(&mut Vec::new())
            .is_err());
    }
}
