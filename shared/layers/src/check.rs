//! What a layer may hold, checked wherever a layer comes in: every entry's
//! path stays inside the root, a hard link names a path inside it too, an
//! entry is of a type a root filesystem has, and a whiteout names one plain
//! entry of its directory (see [`whiteout::classify`]). Import, commit,
//! load, pull and `img-layer` check a layer with [`tar`] (or, as its bytes
//! arrive, with [`Background`]) before anything of it is stored; the
//! unpacker checks each entry again with [`entry`] as it applies it, so
//! that a layer that reached the store some other way does no harm either.
//!
//! Checking streams: one entry's header at a time, contents skipped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use super::compression;
use super::whiteout;
use img_core::error::{Error, Kind, Result};
use img_core::path;

/// One entry of a layer, checked.
#[derive(Debug)]
pub struct Checked {
    /// Its path, cleaned, relative to the root.
    pub path: Vec<u8>,
    /// A hard link's target, cleaned like a path.
    pub hard_link: Option<Vec<u8>>,
}

/// Check one entry of a layer: `None` when it has no effect on the tree
/// (the root directory itself, a PAX global header).
pub fn entry<R: Read>(entry: &tar::Entry<'_, R>) -> Result<Option<Checked>> {
    let kind = entry.header().entry_type();
    if matches!(kind, tar::EntryType::XGlobalHeader) {
        return Ok(None);
    }
    let raw = entry.path_bytes();
    let Some(rel) = path::clean(&raw)? else {
        return Ok(None);
    };
    let fits = kind.is_file()
        || kind.is_dir()
        || kind.is_gnu_sparse()
        || matches!(
            kind,
            tar::EntryType::Symlink
                | tar::EntryType::Link
                | tar::EntryType::Char
                | tar::EntryType::Block
                | tar::EntryType::Fifo
        );
    if !fits {
        return Err(Error::invalid(format!(
            "{}: tar entry type {kind:?} cannot be part of a root filesystem",
            String::from_utf8_lossy(&rel).escape_debug()
        )));
    }
    whiteout::classify(&rel)?;
    let hard_link = match kind {
        tar::EntryType::Link => {
            let target = entry.link_name_bytes().ok_or_else(|| {
                Error::invalid(format!(
                    "hard link {} names no target",
                    String::from_utf8_lossy(&rel).escape_debug()
                ))
            })?;
            Some(path::clean_link(&target)?)
        }
        _ => None,
    };
    Ok(Some(Checked {
        path: rel,
        hard_link,
    }))
}

/// Read an uncompressed layer tar to its end, checking every entry;
/// returns the number of entries.
pub fn tar(reader: impl Read) -> Result<u64> {
    let mut archive = tar::Archive::new(reader);
    let mut count = 0;
    for item in archive.entries().map_err(bad_tar)? {
        let item = item.map_err(bad_tar)?;
        entry(&item)?;
        count += 1;
    }
    Ok(count)
}

/// Check the layer (plain, gzip or zstd) in `file`, from its start. A
/// plain tar is read header by header, its contents skipped by seeking.
pub fn file(mut file: File) -> Result<u64> {
    let mut head = [0u8; 8];
    let n = file.read_at(&mut head, 0).map_err(bad_tar)?;
    if compression::Compression::detect(&head[..n]) != compression::Compression::None {
        file.rewind().map_err(bad_tar)?;
        return check_stream(BufReader::with_capacity(compression::BUFFER, file));
    }
    file.rewind().map_err(bad_tar)?;
    let len = file.metadata().map_err(bad_tar)?.len();
    let mut archive = tar::Archive::new(file);
    let mut count = 0;
    for item in archive.entries_with_seek().map_err(bad_tar)? {
        let item = item.map_err(bad_tar)?;
        entry(&item)?;
        // Seeking past the end would not notice an entry cut short.
        if item.raw_file_position().saturating_add(item.size()) > len {
            return Err(Error::invalid(format!(
                "the layer is cut short: {} claims {} bytes that it does not hold",
                String::from_utf8_lossy(&item.path_bytes()).escape_debug(),
                item.size()
            )));
        }
        count += 1;
    }
    Ok(count)
}

/// A read error in the middle of a tar stream: the input is not a valid
/// (or complete) tar, unless the operating system failed.
pub(crate) fn bad_tar(e: io::Error) -> Error {
    // An error of img's own that travelled through a reader (a layer's
    // writer refusing a name) says what happened as it is.
    if let Some(own) = e.get_ref().and_then(|inner| inner.downcast_ref::<Error>()) {
        return Error::new(own.kind(), own.to_string());
    }
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

/// Bytes of a layer handed to a [`Background`] check: `buffer[start..start
/// + len]`, and where the buffer goes once read (to be filled again).
pub struct Chunk {
    /// The buffer.
    pub buffer: Vec<u8>,
    /// Where its bytes start.
    pub start: usize,
    /// How many bytes it holds.
    pub len: usize,
    /// Where the buffer is returned after its bytes were checked.
    pub back: Option<Sender<Vec<u8>>>,
}

impl Chunk {
    fn give_back(self) {
        if let Some(back) = self.back {
            // The owner may have stopped: the buffer is dropped then.
            let _ = back.send(self.buffer);
        }
    }
}

/// A layer (plain, gzip or zstd) checked on a thread of its own as its
/// bytes arrive, in order: a download is checked while it is received,
/// holding no more than the chunks in flight.
pub struct Background {
    chunks: Option<SyncSender<Chunk>>,
    worker: Option<JoinHandle<Result<u64>>>,
}

/// Chunks in flight to a [`Background`] check.
const IN_FLIGHT: usize = 8;

impl Background {
    /// Start checking the layer that `what` names (for errors).
    pub fn start(what: String) -> Background {
        let (chunks, received) = mpsc::sync_channel::<Chunk>(IN_FLIGHT);
        let worker = std::thread::spawn(move || {
            let mut reader = Chunks {
                received,
                current: None,
                at: 0,
            };
            let result = check_chunks(&mut reader);
            // Every buffer goes back to its owner, to the last, whatever
            // the outcome: the sender never waits for one that is gone.
            reader.drain();
            result.map_err(|e| e.context(what))
        });
        Background {
            chunks: Some(chunks),
            worker: Some(worker),
        }
    }

    /// Check the chunk's bytes next (its buffer goes back once read).
    pub fn feed(&self, chunk: Chunk) {
        match &self.chunks {
            Some(chunks) => {
                if let Err(mpsc::SendError(chunk)) = chunks.send(chunk) {
                    chunk.give_back();
                }
            }
            None => chunk.give_back(),
        }
    }

    /// Check a copy of `bytes` next.
    pub fn feed_copy(&self, bytes: &[u8]) {
        self.feed(Chunk {
            buffer: bytes.to_vec(),
            start: 0,
            len: bytes.len(),
            back: None,
        });
    }

    /// Every byte was fed: the outcome, and the number of entries.
    pub fn finish(mut self) -> Result<u64> {
        self.chunks = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(Error::new(
                Kind::Io,
                "checking the layer failed: its thread stopped",
            )),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.chunks = None;
        if let Some(worker) = self.worker.take() {
            // It ends at the end of the bytes, which closing the channel
            // marks.
            let _ = worker.join();
        }
    }
}

/// Decompress and check a layer to its very end.
fn check_stream(reader: impl Read) -> Result<u64> {
    let (compression, decoded) = compression::decompress(reader)?;
    check_decoded(compression, decoded)
}

/// Check the tar that `decoded` holds, compressed as `compression`, to its
/// very end. Decompressed bytes are inflated a whole buffer at a time
/// (zlib-rs stays longer in its fast loop, and is called less often: about
/// 14% less CPU than the tar reader's reads of 32 KiB), and contents are
/// skipped in that buffer ([`Skipping`]), never copied out of it. Plain
/// bytes would only be copied once more.
fn check_decoded(compression: compression::Compression, decoded: impl Read) -> Result<u64> {
    if compression == compression::Compression::None {
        return check_to_end(decoded);
    }
    let mut skipping = Skipping {
        inner: BufReader::with_capacity(compression::BUFFER, decoded),
        at: 0,
    };
    let mut archive = tar::Archive::new(&mut skipping);
    let mut count = 0;
    for item in archive.entries_with_seek().map_err(bad_tar)? {
        entry(&item.map_err(bad_tar)?)?;
        count += 1;
    }
    let rest = &mut skipping.inner;
    loop {
        let n = rest.fill_buf().map_err(bad_tar)?.len();
        if n == 0 {
            return Ok(count);
        }
        rest.consume(n);
    }
}

fn check_to_end(mut decoded: impl Read) -> Result<u64> {
    let entries = tar(&mut decoded)?;
    io::copy(&mut decoded, &mut io::sink()).map_err(bad_tar)?;
    Ok(entries)
}

/// A buffered stream the tar reader can "seek" forward in: a skip consumes
/// the bytes in the buffer they were decompressed into, where the tar
/// reader would copy every one of them out (a tenth of a check's CPU). A
/// stream that ends within a skip is cut short: an error, as a read's.
struct Skipping<R> {
    inner: R,
    /// Bytes read or skipped so far.
    at: u64,
}

impl<R: BufRead> Read for Skipping<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> Seek for Skipping<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let mut ahead = match to {
            SeekFrom::Current(n) if n >= 0 => n.unsigned_abs(),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "a layer stream is only read forward",
                ))
            }
        };
        while ahead > 0 {
            let available = self.inner.fill_buf()?.len();
            if available == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the layer ends within an entry's content",
                ));
            }
            let n = usize::try_from(ahead).map_or(available, |a| a.min(available));
            self.inner.consume(n);
            self.at += n as u64;
            ahead -= n as u64;
        }
        Ok(self.at)
    }
}

/// Decompress and check the chunks as they are: the decompressor reads
/// from the chunks' own buffers, not from a copy of them.
fn check_chunks(chunks: &mut Chunks) -> Result<u64> {
    let head = chunks.fill_buf().map_err(bad_tar)?;
    if head.len() < compression::MAGIC_LEN {
        // Too little to tell the compression from: through a buffer.
        return check_stream(chunks);
    }
    let detected = compression::Compression::detect(head);
    check_decoded(detected, compression::decoder_buffered(detected, chunks)?)
}

/// The chunks fed to a [`Background`] check, read in order.
struct Chunks {
    received: Receiver<Chunk>,
    current: Option<Chunk>,
    at: usize,
}

impl Chunks {
    fn drain(mut self) {
        if let Some(chunk) = self.current.take() {
            chunk.give_back();
        }
        for chunk in self.received.iter() {
            chunk.give_back();
        }
    }
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = buf.len().min(available.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Chunks {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.current.as_ref().is_none_or(|c| self.at >= c.len) {
            if let Some(done) = self.current.take() {
                done.give_back();
            }
            match self.received.recv() {
                Ok(chunk) => {
                    self.current = Some(chunk);
                    self.at = 0;
                }
                Err(_) => return Ok(&[]),
            }
        }
        Ok(match &self.current {
            Some(chunk) => &chunk.buffer[chunk.start + self.at..chunk.start + chunk.len],
            None => &[],
        })
    }

    fn consume(&mut self, amount: usize) {
        self.at += amount;
    }
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
