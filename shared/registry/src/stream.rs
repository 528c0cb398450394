//! Downloading a blob (a MiB or more) as one stream, hashed in memory and written
//! past the page cache.
//!
//! Where one TCP stream is fast — a registry on the same machine or LAN —
//! the CPU is the limit, not the network: the parallel path of
//! [`super::download`] then spends as much on the page cache (writing each
//! byte into it, reading it back to hash it, writing it back to disk) as on
//! hashing. Here the bytes arrive once, in order, into a few aligned
//! buffers: a hashing thread hashes each buffer while it is still in memory,
//! and a writing thread writes it to the partial blob with `O_DIRECT`, from
//! that same buffer to the disk. Receiving, hashing and writing overlap.
//!
//! A layer is also checked as it arrives (see [`img_layers::check`]): a
//! written buffer goes to the checking thread, which hands it back to be
//! filled again once read, so the check runs beside the download, on the
//! same bytes, without a copy.
//!
//! The stream gives way to the parallel path, by stopping at a buffer's
//! end with the written prefix saved in the partial blob's ranges, when it
//! is slow (the network is the limit, and more streams help: time spent
//! waiting for a free buffer, when hashing, writing or the check is the
//! limit, does not count) or broken
//! (the parallel path resumes with `Range` requests and retries). Errors a
//! retry cannot mend — an answer that is not the blob — are returned as
//! they are.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::source::{Source, PROGRESS_EVERY, SAVE_EVERY, SAVE_EVERY_BYTES};
use crate::transport::client::Call;
use img_core::digest::Hasher;
use img_core::error::Result;
use img_layers::check::{Background, Chunk};
use img_store::PartialBlob;

/// The size of a buffer: bytes received, hashed and written at a time.
const BUFFER: usize = 1 << 20;
/// Buffers per stream: one being received, one hashed, one written, one
/// spare, so that none of the three waits for another's buffer…
const BUFFERS: usize = 4;
/// …and more for a layer, whose check reads each buffer after it was
/// written: its pace varies with what it inflates.
const CHECK_BUFFERS: usize = 8;
/// `O_DIRECT` transfers start and end on this boundary (the largest
/// logical block size of common disks).
const ALIGN: usize = 4096;
/// The stream is judged after this many bytes or this long, whichever
/// comes first…
const JUDGE_AFTER_BYTES: u64 = 32 << 20;
const JUDGE_AFTER: Duration = Duration::from_secs(1);
/// …and gives way to parallel ranges when it delivers less than this many
/// bytes a second: then the network, not the CPU, is the limit.
const FAST: f64 = 256e6;

/// How a stream ended.
pub(super) enum Streamed {
    /// Every byte arrived and was written; the digest is the hasher's.
    Complete(Hasher),
    /// The stream stopped (slow or broken); the partial blob's saved
    /// ranges hold what was written. The parallel path goes on from there.
    GaveWay,
}

/// A filled buffer: its bytes are `buffer[start..start + len]`, and belong
/// at `offset` in the blob.
struct Filled {
    buffer: Vec<u8>,
    start: usize,
    len: usize,
    offset: u64,
}

/// Fetch the whole blob behind `url` into `partial` (which holds no bytes
/// yet) through `direct`, the partial blob opened for direct I/O.
pub(super) fn fetch(
    source: &Source<'_>,
    url: &str,
    what: &str,
    partial: &mut PartialBlob<'_>,
    direct: File,
    progress: &dyn Fn(u64),
    check: Option<&Background>,
) -> Result<Streamed> {
    let response = source
        .client
        .send(Call::get(url.to_string(), source.scope))
        .map_err(|e| e.context(what.to_string()))?;
    if response.status().as_u16() != 200 {
        return Err(source.client.error_for(response, what));
    }
    pipe(
        &mut response.into_body().into_reader(),
        partial,
        direct,
        progress,
        check,
    )
}

/// Move `body`, the whole blob, through the buffers into `partial` (and
/// `check`, when it is a layer).
fn pipe(
    body: &mut impl Read,
    partial: &mut PartialBlob<'_>,
    direct: File,
    progress: &dyn Fn(u64),
    check: Option<&Background>,
) -> Result<Streamed> {
    let size = partial.size();
    let written = AtomicU64::new(0);
    let (to_hash, hash_rx) = mpsc::sync_channel::<Filled>(BUFFERS);
    let (to_write, write_rx) = mpsc::sync_channel::<Filled>(BUFFERS);
    let (free, free_rx) = mpsc::channel::<Vec<u8>>();
    let buffers = if check.is_some() {
        CHECK_BUFFERS
    } else {
        BUFFERS
    };
    for _ in 0..buffers {
        // Unbounded channel: never full.
        let _ = free.send(vec![0u8; BUFFER + ALIGN]);
    }
    std::thread::scope(|scope| {
        let hashing = scope.spawn(move || {
            let mut hasher = Hasher::default();
            for filled in hash_rx {
                hasher.update(&filled.buffer[filled.start..filled.start + filled.len]);
                if to_write.send(filled).is_err() {
                    break;
                }
            }
            hasher
        });
        let written = &written;
        let writing = scope.spawn(move || -> std::io::Result<()> {
            for mut filled in write_rx {
                // Direct I/O moves whole blocks: the last buffer is padded,
                // and the file cut to the blob's size when it is committed.
                let padded = filled.len.div_ceil(ALIGN) * ALIGN;
                let at = filled.start;
                filled.buffer[at + filled.len..at + padded].fill(0);
                direct.write_all_at(&filled.buffer[at..at + padded], filled.offset)?;
                written.store(filled.offset + filled.len as u64, Ordering::Release);
                match check {
                    // The check gives the buffer back once it read it.
                    Some(check) => check.feed(Chunk {
                        buffer: filled.buffer,
                        start: at,
                        len: filled.len,
                        back: Some(free.clone()),
                    }),
                    None => {
                        if free.send(filled.buffer).is_err() {
                            break;
                        }
                    }
                }
            }
            Ok(())
        });
        let received = receive(body, size, &free_rx, &to_hash, partial, written, progress);
        drop(to_hash);
        let hasher = hashing.join();
        let wrote = writing.join();
        let complete = matches!(received, Ok(true))
            && matches!(wrote, Ok(Ok(())))
            && written.load(Ordering::Acquire) == size;
        match (complete, hasher) {
            (true, Ok(hasher)) => Ok(Streamed::Complete(hasher)),
            _ => {
                received?;
                // A failed write (full disk, a file system refusing direct
                // I/O) gives way too: the parallel path reports it the way
                // every other write error is reported.
                partial.save(vec![(0, written.load(Ordering::Acquire))])?;
                Ok(Streamed::GaveWay)
            }
        }
    })
}

/// Receive the body into free buffers and pass them on in order, saving
/// the written prefix and reporting progress as it goes. Whether every byte
/// arrived (false: the stream was slow or broke, or a thread stopped).
fn receive(
    body: &mut impl Read,
    size: u64,
    free: &mpsc::Receiver<Vec<u8>>,
    to_hash: &mpsc::SyncSender<Filled>,
    partial: &mut PartialBlob<'_>,
    written: &AtomicU64,
    progress: &dyn Fn(u64),
) -> Result<bool> {
    let began = Instant::now();
    let mut judge = Judge::new(began);
    let mut reported_at = began;
    let (mut saved_at, mut saved_bytes) = (began, 0);
    let mut offset = 0u64;
    while offset < size {
        img_core::cancel::check()?;
        let Ok(mut buffer) = free.recv() else {
            return Ok(false); // the writing thread stopped
        };
        let start = buffer.as_ptr().align_offset(ALIGN);
        let want = (BUFFER as u64).min(size - offset) as usize;
        let mut len = 0;
        let mut stop = false;
        while len < want && !stop {
            let asked = Instant::now();
            match body.read(&mut buffer[start + len..start + want]) {
                Ok(0) | Err(_) => stop = true,
                Ok(n) => len += n,
            }
            let now = Instant::now();
            stop |= judge.too_slow(offset + len as u64, now - asked, now);
        }
        if len > 0 {
            let filled = Filled {
                buffer,
                start,
                len,
                offset,
            };
            if to_hash.send(filled).is_err() {
                return Ok(false);
            }
            offset += len as u64;
        }
        if stop {
            return Ok(false);
        }
        let now = Instant::now();
        if now - reported_at >= PROGRESS_EVERY {
            reported_at = now;
            progress(offset);
            let on_disk = written.load(Ordering::Acquire);
            if on_disk - saved_bytes >= SAVE_EVERY_BYTES || now - saved_at >= SAVE_EVERY {
                partial.save(vec![(0, on_disk)])?;
                (saved_at, saved_bytes) = (now, on_disk);
            }
        }
    }
    Ok(true)
}

/// Whether the network is the limit, told once from the first bytes:
/// their rate over the time spent waiting for them in the body's reads,
/// not over the time since the start. Time the receiving thread spent
/// waiting for a free buffer means hashing, writing or a layer's check is
/// the limit — more connections would not help that, and giving way would
/// start the check over from the layer's first byte.
struct Judge {
    began: Instant,
    /// Time spent in the body's reads so far.
    reading: Duration,
    judged: bool,
}

impl Judge {
    fn new(began: Instant) -> Judge {
        Judge {
            began,
            reading: Duration::ZERO,
            judged: false,
        }
    }

    /// A read that took `read` ended at `now`, with `got` bytes arrived in
    /// all: whether the stream is too slow to go on (said at most once,
    /// after [`JUDGE_AFTER_BYTES`] or [`JUDGE_AFTER`]).
    fn too_slow(&mut self, got: u64, read: Duration, now: Instant) -> bool {
        if self.judged {
            return false;
        }
        self.reading += read;
        if got < JUDGE_AFTER_BYTES && now - self.began < JUDGE_AFTER {
            return false;
        }
        self.judged = true;
        (got as f64) < FAST * self.reading.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use img_core::digest::Digest;
    use img_store::Store;
    use std::io::Cursor;

    #[test]
    fn buffers_hold_an_aligned_block_run() {
        let buffer = vec![0u8; BUFFER + ALIGN];
        let start = buffer.as_ptr().align_offset(ALIGN);
        assert!(start < ALIGN);
        assert!(start + BUFFER <= buffer.len());
        assert_eq!(BUFFER % ALIGN, 0);
    }

    /// Deterministic bytes that are not one buffer's worth repeated.
    fn blob(len: usize) -> (Vec<u8>, Digest) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4099) as u8).collect();
        let mut hasher = Hasher::default();
        hasher.update(&bytes);
        let digest = hasher.digest();
        (bytes, digest)
    }

    /// A reader that hands out `first` bytes, then waits `pause` before
    /// each further read.
    struct Slow {
        inner: Cursor<Vec<u8>>,
        first: u64,
        pause: Duration,
    }

    impl Read for Slow {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.inner.position() >= self.first {
                std::thread::sleep(self.pause);
            }
            let room = (self.first.saturating_sub(self.inner.position()) as usize).max(4096);
            let n = buf.len().min(room);
            self.inner.read(&mut buf[..n])
        }
    }

    fn stream_into(store: &Store, digest: &Digest, len: usize, body: &mut impl Read) -> Streamed {
        let mut partial = store.partial(digest, len as u64).unwrap();
        let Some(direct) = partial.open_direct() else {
            panic!("the test store's file system refuses O_DIRECT");
        };
        let streamed = pipe(body, &mut partial, direct, &|_| {}, None).unwrap();
        if let Streamed::Complete(hasher) = &streamed {
            assert_eq!(&hasher.digest(), digest);
            partial.commit(&hasher.digest()).unwrap();
        }
        streamed
    }

    #[test]
    fn a_whole_body_becomes_the_blob() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // Not a whole number of buffers or blocks: the last write is padded.
        let len = 3 * BUFFER + 12345;
        let (bytes, digest) = blob(len);
        let streamed = stream_into(&store, &digest, len, &mut Cursor::new(bytes.clone()));
        assert!(matches!(streamed, Streamed::Complete(_)));
        assert_eq!(std::fs::read(store.blob_path(&digest)).unwrap(), bytes);
    }

    #[test]
    fn a_body_that_ends_early_leaves_its_written_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let len = 3 * BUFFER;
        let (bytes, digest) = blob(len);
        let cut = 2 * BUFFER + 5000;
        let streamed = stream_into(
            &store,
            &digest,
            len,
            &mut Cursor::new(bytes[..cut].to_vec()),
        );
        assert!(matches!(streamed, Streamed::GaveWay));
        let partial = store.partial(&digest, len as u64).unwrap();
        assert_eq!(partial.done(), &[(0, cut as u64)]);
        let mut written = vec![0u8; cut];
        partial.file().read_exact_at(&mut written, 0).unwrap();
        assert_eq!(written, &bytes[..cut]);
        assert!(!store.has_blob(&digest));
    }

    #[test]
    fn a_stream_held_up_by_its_consumers_is_not_judged_slow() {
        let began = Instant::now();
        let second = Duration::from_secs(1);
        // 32 MiB in 20 ms of reads, 2 s after the start (the rest spent
        // waiting for buffers the check had not given back): fast.
        let mut judge = Judge::new(began);
        let at = began + 2 * second;
        assert!(!judge.too_slow(JUDGE_AFTER_BYTES, second / 50, at));
        // The same bytes in 2 s of reads: slow, and said once.
        let mut judge = Judge::new(began);
        assert!(!judge.too_slow(JUDGE_AFTER_BYTES / 2, second / 2, began + second / 2));
        assert!(judge.too_slow(JUDGE_AFTER_BYTES, second + second / 2, at));
        assert!(!judge.too_slow(2 * JUDGE_AFTER_BYTES, second, at + second));
        // Nothing is judged before 32 MiB or a second.
        let mut judge = Judge::new(began);
        assert!(!judge.too_slow(1, second / 2, began + second / 2));
    }

    #[test]
    fn a_slow_body_gives_way() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let len = 4 * BUFFER;
        let (bytes, digest) = blob(len);
        // One buffer at once, then far below FAST: judged after JUDGE_AFTER.
        let mut slow = Slow {
            inner: Cursor::new(bytes.clone()),
            first: BUFFER as u64,
            pause: JUDGE_AFTER / 4,
        };
        let streamed = stream_into(&store, &digest, len, &mut slow);
        assert!(matches!(streamed, Streamed::GaveWay));
        let partial = store.partial(&digest, len as u64).unwrap();
        let [(0, end)] = partial.done() else {
            panic!("one prefix: {:?}", partial.done())
        };
        assert!(*end >= BUFFER as u64 && *end < len as u64, "{end}");
        let mut written = vec![0u8; *end as usize];
        partial.file().read_exact_at(&mut written, 0).unwrap();
        assert_eq!(written, &bytes[..*end as usize]);
    }
}
