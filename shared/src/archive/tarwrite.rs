//! Writing an archive's tar stream with fixed metadata (owner root, mode
//! 0644/0755, time 0), so that saving the same images twice gives the same
//! bytes. File contents are moved by the kernel ([`Sink::copy_file`])
//! without passing through img.

use std::fs::File;

use crate::error::{Error, IoContext, Result};
use crate::output::Sink;

const BLOCK: usize = 512;

/// A tar stream being written to `out`.
pub struct TarWriter<W: Sink> {
    out: W,
}

impl<W: Sink> TarWriter<W> {
    /// Start a tar stream.
    pub fn new(out: W) -> TarWriter<W> {
        TarWriter { out }
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
        self.out
            .write_all(header.as_bytes())
            .io_context(|| "writing the archive".into())
    }

    fn pad(&mut self, size: u64) -> Result<()> {
        let rest = (BLOCK - (size % BLOCK as u64) as usize) % BLOCK;
        self.out
            .write_all(&[0u8; BLOCK][..rest])
            .io_context(|| "writing the archive".into())
    }

    /// A directory entry (`path` ends with `/`).
    pub fn dir(&mut self, path: &str) -> Result<()> {
        self.header(path, 0, tar::EntryType::Directory)
    }

    /// A file entry holding `bytes`.
    pub fn bytes(&mut self, path: &str, bytes: &[u8]) -> Result<()> {
        self.header(path, bytes.len() as u64, tar::EntryType::Regular)?;
        self.out
            .write_all(bytes)
            .io_context(|| "writing the archive".into())?;
        self.pad(bytes.len() as u64)
    }

    /// A file entry holding the first `size` bytes of `file`; fails when the
    /// file is shorter (it changed while being saved).
    pub fn file(&mut self, path: &str, file: File, size: u64) -> Result<()> {
        self.header(path, size, tar::EntryType::Regular)?;
        let copied = self
            .out
            .copy_file(&file, size)
            .io_context(|| format!("copying {path} into the archive"))?;
        if copied != size {
            return Err(Error::new(
                crate::Kind::FailedPrecondition,
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
