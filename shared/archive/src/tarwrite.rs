//! Writing an archive's tar stream with fixed metadata (owner root, mode
//! 0644/0755, time 0), so that saving the same images twice gives the same
//! bytes. File contents are moved by the kernel ([`Sink::copy_file`])
//! without passing through img.
//!
//! A large file's contents start at a multiple of [`ALIGN`] in the stream,
//! as they do in the blob file they come from: the kernel then copies the
//! page cache's large folios whole (measured a quarter faster into a file on
//! ext4 than at 512-byte alignment). The gap is filled by a pax extended
//! header holding only a `comment` record, which POSIX defines for such
//! text and every tar reader skips (Go's, which Docker, skopeo and podman
//! use, refuses pax headers over 1 MiB: the gap stays far below); a file is
//! aligned only when the gap costs under 1/[`ALIGN_COST`] of its size.

use std::fs::File;

use img_core::error::{Error, IoContext, Result};
use img_core::output::Sink;

const BLOCK: usize = 512;

/// Where large files' contents start: a multiple of the large folios the
/// page cache holds file data in (aligning to more gained nothing here).
const ALIGN: u64 = 64 << 10;

/// The most a gap may cost: a 1/ALIGN_COST part of the file.
const ALIGN_COST: u64 = 64;

/// A tar stream being written to `out`.
pub struct TarWriter<W: Sink> {
    out: W,
    /// Bytes written so far.
    offset: u64,
}

impl<W: Sink> TarWriter<W> {
    /// Start a tar stream.
    pub fn new(out: W) -> TarWriter<W> {
        TarWriter { out, offset: 0 }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .io_context(|| "writing the archive".into())?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Before the header of a file of `size` bytes: a pax header whose
    /// comment fills the gap up to the next multiple of [`ALIGN`], when the
    /// file is large enough to pay for it.
    fn align(&mut self, path: &str, size: u64) -> Result<()> {
        let block = BLOCK as u64;
        // The contents would start after the file's own header; with a gap,
        // after a pax header, its blocks of comment, and the file's header.
        if (self.offset + block).is_multiple_of(ALIGN) {
            return Ok(());
        }
        let comment_len = (ALIGN - (self.offset + 2 * block) % ALIGN) % ALIGN;
        if comment_len == 0 || comment_len + 2 * block > size / ALIGN_COST {
            return Ok(());
        }
        let record = pax_comment(comment_len as usize);
        self.header(
            &format!("PaxHeaders/{path}"),
            record.len() as u64,
            tar::EntryType::XHeader,
        )?;
        self.write(&record)
    }

    fn header(&mut self, path: &str, size: u64, kind: tar::EntryType) -> Result<()> {
        let mut header = tar::Header::new_ustar();
        header
            .set_path(path)
            .io_context(|| format!("naming archive entry {path}"))?;
        header.set_size(size);
        header.set_entry_type(kind);
        header.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_cksum();
        self.write(header.as_bytes())
    }

    fn pad(&mut self, size: u64) -> Result<()> {
        let rest = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
        self.write(&[0u8; BLOCK][..rest])
    }

    /// A directory entry (`path` ends with `/`).
    pub fn dir(&mut self, path: &str) -> Result<()> {
        self.header(path, 0, tar::EntryType::Directory)
    }

    /// A file entry holding `bytes`.
    pub fn bytes(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.header(path, bytes.len() as u64, tar::EntryType::Regular)?;
        self.write(bytes)?;
        self.pad(bytes.len() as u64)
    }

    /// A file entry holding the first `size` bytes of `file`; fails when the
    /// file is shorter (it changed while being saved).
    pub fn file(&mut self, path: &str, file: File, size: u64) -> Result<()> {
        self.align(path, size)?;
        self.header(path, size, tar::EntryType::Regular)?;
        let copied = self
            .out
            .copy_file(&file, size)
            .io_context(|| format!("copying {path} into the archive"))?;
        self.offset += copied;
        if copied != size {
            return Err(Error::new(
                img_core::Kind::FailedPrecondition,
                format!("{path} ended after {copied} of {size} bytes while being saved"),
            ));
        }
        self.pad(size)
    }

    /// Write the end-of-archive blocks and return the writer, flushed.
    pub fn finish(mut self) -> Result<W> {
        self.out
            .write_all(&[0u8; 2 * BLOCK])
            .and_then(|_| self.out.flush())
            .io_context(|| "writing the archive".into())?;
        Ok(self.out)
    }
}

/// One pax record `LEN comment=…\n` of exactly `len` bytes (at least 32),
/// LEN being `len` itself.
fn pax_comment(len: usize) -> Vec<u8> {
    let mut record = format!("{len} comment=").into_bytes();
    record.resize(len - 1, b' ');
    record.push(b'\n');
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_files_start_aligned_and_every_reader_sees_only_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        let content: Vec<u8> = (0..(64 * ALIGN as usize) + 77).map(|i| i as u8).collect();
        std::fs::write(&big, &content).unwrap();
        // "a" ends 1536 bytes before a multiple of ALIGN: the big file's
        // header would leave its contents 1024 bytes short of it, a gap of
        // one pax header and one block of comment.
        let first = vec![1u8; ALIGN as usize - 4 * BLOCK];
        let mut tar = TarWriter::new(Vec::new());
        tar.bytes("a", &first).unwrap();
        tar.file("big", File::open(&big).unwrap(), content.len() as u64)
            .unwrap();
        tar.bytes("c", b"!").unwrap();
        let bytes = tar.finish().unwrap();
        let start = ALIGN as usize;
        assert_eq!(&bytes[start..start + content.len()], &content[..]);
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            seen.push((entry.path().unwrap().display().to_string(), data.len()));
        }
        assert_eq!(
            seen,
            [
                ("a".into(), first.len()),
                ("big".into(), content.len()),
                ("c".into(), 1)
            ]
        );
        // a small file is never padded
        let mut tar = TarWriter::new(Vec::new());
        tar.file("big", File::open(&big).unwrap(), 100).unwrap();
        assert_eq!(tar.finish().unwrap().len(), 512 + 512 + 1024);
    }
}
