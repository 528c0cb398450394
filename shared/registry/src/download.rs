//! Downloading one blob into the store, resumably and in parallel.
//!
//! A fresh blob of [`STREAM_MIN`] or more is first tried as one fast
//! stream, hashed in memory (see `stream.rs`); when that stream is slow or
//! breaks, what it wrote is kept and the path below fetches the rest.
//!
//! Bytes go to the store's partial blob for the digest (see
//! `store/partial.rs`), written at their offsets. A small blob is one
//! request. A large one is cut into pieces, handed out in order to a few
//! workers that each fetch a piece with a `Range` request, so that one TCP
//! stream does not limit it (once the registry's first answer shows that it
//! honours ranges). A worker whose connection breaks or stalls asks again
//! from the byte it got to.
//!
//! A layer is checked as a layer tar while it arrives (see
//! [`img_layers::check`]), on a thread of its own, from the same bytes the
//! digest is computed from; it enters the store only when both passed.
//!
//! The digest is computed by the calling thread, in order, from the bytes
//! already written (read back from the page cache): the workers only
//! receive and write, so hashing — one core's work that cannot be split —
//! runs beside them at full speed instead of taking turns with a worker's
//! receiving. Only when every byte hashed to the digest does the blob enter
//! the store. Between chunks the hashing thread reports progress and saves
//! the arrived ranges now and then (so that a download killed half-way
//! continues in the next run); a large file is written back to disk as it
//! grows ([`Flusher`]), so that the closing fsync does not wait for a
//! gigabyte at once.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use oci_spec::image::Descriptor;

use super::stream::{self, Streamed};
use crate::source::{Source, PROGRESS_EVERY, SAVE_EVERY, SAVE_EVERY_BYTES};
use crate::transport::client::{header, Call};
use crate::transport::retry::backoff;
use img_core::digest::Hasher;
use img_core::error::{Error, IoContext, Kind, Result};
use img_layers::check::Background;
use img_store::writeback::Flusher;
use img_store::{merge_ranges, missing_ranges, PartialBlob, Ranges, Store};

/// Blobs at least this large are fetched in pieces by several workers.
const PARALLEL_MIN: u64 = 64 << 20;
/// Fresh blobs at least this large are first tried as one stream: the
/// bytes are hashed and checked in the buffers they arrived in, where the
/// path below writes them to the page cache and reads them back (and copies
/// them once more for a layer's check). Smaller ones — configs — are one
/// request, not worth a stream's buffers and threads.
const STREAM_MIN: u64 = 1 << 20;
/// The size of a piece.
const PIECE: u64 = 32 << 20;
/// The most workers fetching pieces of one blob at once.
const MAX_WORKERS: usize = 4;
/// Broken or stalled connections in a row (without a byte of progress)
/// before a piece gives up. (Refused requests and 429/5xx answers are
/// retried by `Client::send` already, not again here.)
const MAX_FAILURES: u32 = 5;
/// A worker's read buffer.
const READ_BUFFER: usize = 128 << 10;
/// The bytes hashed at a time (read back into one buffer).
const HASH_CHUNK: usize = 1 << 20;
/// A waiting hashing thread is woken when this many bytes are ready for it
/// (or the blob's last byte arrived): fewer would wake it for every read.
const WAKE_AFTER: u64 = HASH_CHUNK as u64;
/// Blobs at least this large are written back to disk as they grow.
const WRITEBACK_MIN: u64 = 64 << 20;

/// What fetching a blob did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetched {
    /// The blob was downloaded (`resumed_from` bytes were already there).
    Downloaded {
        /// Bytes an earlier run had already downloaded.
        resumed_from: u64,
    },
    /// Another program stored it meanwhile.
    AlreadyPresent,
}

struct State {
    /// The byte ranges written to the file.
    done: Ranges,
    /// How far the hashing thread got.
    hashed: u64,
    /// Whether the hashing thread waits for the bytes at `hashed`.
    hasher_waits: bool,
    /// The pieces no worker has taken yet, in order.
    queue: VecDeque<(u64, u64)>,
    /// Workers running.
    active: usize,
    errors: Vec<Error>,
    /// Whether the registry honours `Range` (known after the first answer).
    ranges_work: Option<bool>,
}

struct Job<'a> {
    source: &'a Source<'a>,
    url: String,
    /// "downloading blob … from …", for errors.
    what: String,
    size: u64,
    file: File,
    state: Mutex<State>,
    changed: Condvar,
}

/// Download the blob `descriptor` names into `store`, resuming an earlier
/// partial download, reporting the bytes present so far to `progress`. A
/// `layer` is checked as a layer tar on the way (see
/// [`img_layers::check`]) and enters the store only if it passed.
pub fn fetch(
    source: &Source<'_>,
    store: &Store,
    descriptor: &Descriptor,
    layer: bool,
    progress: &dyn Fn(u64),
) -> Result<Fetched> {
    let digest = descriptor.digest();
    let size = descriptor.size();
    let mut partial = store.partial(digest, size)?;
    if store.has_blob(digest) {
        partial.discard();
        return Ok(Fetched::AlreadyPresent);
    }
    let resumed_from: u64 = partial.done().iter().map(|(a, b)| b - a).sum();
    let url = source
        .client
        .url(&format!("/v2/{}/blobs/{digest}", source.repository));
    let what = format!(
        "downloading blob {digest} from {}",
        source.client.registry()
    );
    let start_check = || layer.then(|| Background::start(format!("layer {digest}")));
    if resumed_from == 0 && size >= STREAM_MIN {
        if let Some(direct) = partial.open_direct() {
            let check = start_check();
            match stream::fetch(
                source,
                &url,
                &what,
                &mut partial,
                direct,
                progress,
                check.as_ref(),
            )? {
                Streamed::Complete(hasher) => {
                    progress(size);
                    return commit(partial, &hasher, check, &what, resumed_from);
                }
                // The written prefix is in the partial's ranges now, and
                // the parallel path checks the layer again from its start.
                Streamed::GaveWay => {}
            }
        }
    }
    let file = partial
        .file()
        .try_clone()
        .io_context(|| format!("opening partial blob {digest}"))?;
    let pieces = plan(&missing_ranges(partial.done(), size), size);
    let workers = pieces.len().min(MAX_WORKERS);
    let job = Job {
        source,
        url,
        what,
        size,
        file,
        state: Mutex::new(State {
            done: partial.done().to_vec(),
            hashed: 0,
            hasher_waits: false,
            queue: pieces.into(),
            active: 0,
            errors: Vec::new(),
            ranges_work: None,
        }),
        changed: Condvar::new(),
    };
    let check = start_check();
    let result = std::thread::scope(|scope| -> Result<Hasher> {
        if workers > 0 {
            job.start(scope, true);
        }
        if workers > 1 && job.wait_for_range_support() {
            for _ in 1..workers {
                job.start(scope, false);
            }
        }
        let mut flusher = match size >= WRITEBACK_MIN {
            true => Some(Flusher::start(scope, &job.file)?),
            false => None,
        };
        let hashed = job.hash(&mut partial, progress, flusher.as_mut(), check.as_ref());
        let written = flusher.map_or(Ok(()), Flusher::finish);
        let hasher = hashed?;
        written?;
        Ok(hasher)
    });
    match result {
        Ok(hasher) => commit(partial, &hasher, check, &job.what, resumed_from),
        Err(e) => {
            // Keep what arrived, for the next try.
            let done = job.lock().map(|s| s.done.clone()).unwrap_or_default();
            let _ = partial.save(done);
            Err(e)
        }
    }
}

/// Make the downloaded bytes a blob once they hashed to its digest and,
/// for a layer, passed its check. A layer refused is thrown away whole.
fn commit(
    partial: PartialBlob<'_>,
    hasher: &Hasher,
    check: Option<Background>,
    what: &str,
    resumed_from: u64,
) -> Result<Fetched> {
    // Bytes that hash wrong are a broken download (tried again), not a
    // hostile layer: the check's verdict counts only for the right bytes.
    if let Some(check) = check.filter(|_| &hasher.digest() == partial.digest()) {
        // The check inflates what the digest was computed from, and is
        // the longer of the two: the bytes go to disk while it ends, not
        // after it, so that the closing sync is off a layer's critical path.
        partial.sync_data()?;
        if let Err(e) = check.finish() {
            partial.discard();
            return Err(e);
        }
    }
    partial.commit(&hasher.digest()).map_err(|e| {
        if e.kind() == Kind::DigestMismatch {
            e.context(what.to_string())
        } else {
            e
        }
    })?;
    Ok(Fetched::Downloaded { resumed_from })
}

/// Cut the missing ranges into the pieces workers fetch: whole ranges for
/// a small blob, [`PIECE`]-sized ones for a large one.
fn plan(missing: &[(u64, u64)], size: u64) -> Ranges {
    let step = if size >= PARALLEL_MIN { PIECE } else { size };
    let mut pieces = Vec::new();
    for &(a, b) in missing {
        let mut at = a;
        while at < b {
            pieces.push((at, (at + step).min(b)));
            at += step;
        }
    }
    pieces
}

impl<'a> Job<'a> {
    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| Error::new(Kind::Io, "a download worker panicked"))
    }

    fn what(&self) -> String {
        self.what.clone()
    }

    /// Start a worker taking pieces from the queue; the `probe` worker's
    /// first answer tells whether ranges work.
    fn start<'scope>(&'scope self, scope: &'scope std::thread::Scope<'scope, '_>, probe: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.active += 1;
        }
        scope.spawn(move || {
            let result = self.work(probe);
            if let Ok(mut s) = self.state.lock() {
                s.active -= 1;
                if let Err(e) = result {
                    s.errors.push(e);
                }
                if probe && s.ranges_work.is_none() {
                    s.ranges_work = Some(false);
                }
            }
            self.changed.notify_all();
        });
    }

    fn work(&self, mut probe: bool) -> Result<()> {
        let mut buf = vec![0u8; READ_BUFFER];
        loop {
            let piece = {
                let mut s = self.lock()?;
                if !s.errors.is_empty() {
                    return Ok(());
                }
                s.queue.pop_front()
            };
            let Some((start, end)) = piece else {
                return Ok(());
            };
            self.fetch_piece(start, end, probe, &mut buf)?;
            probe = false;
        }
    }

    /// Wait for the probe's first answer: whether more workers may start.
    fn wait_for_range_support(&self) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        while s.ranges_work.is_none() && s.active > 0 {
            s = match self.changed.wait(s) {
                Ok(s) => s,
                Err(_) => return false,
            };
        }
        s.ranges_work == Some(true)
    }

    fn set_ranges_work(&self, works: bool) {
        if let Ok(mut s) = self.state.lock() {
            if s.ranges_work.is_none() {
                s.ranges_work = Some(works);
            }
            if !works {
                // This worker fetches everything.
                s.queue.clear();
            }
        }
        self.changed.notify_all();
    }

    /// Fetch `[start, end)` into the file, resuming after broken connections.
    fn fetch_piece(&self, start: u64, mut end: u64, probe: bool, buf: &mut [u8]) -> Result<()> {
        let mut pos = start;
        let mut failures = 0;
        while pos < end {
            let ranged = pos > 0 || end < self.size;
            let mut call = Call::get(self.url.clone(), self.source.scope);
            if ranged {
                call = call.header("Range", format!("bytes={pos}-{}", end - 1));
            }
            let response = self
                .source
                .client
                .send(call)
                .map_err(|e| e.context(self.what()))?;
            let mut skip = 0;
            match response.status().as_u16() {
                206 => {
                    let range = header(&response, "content-range").unwrap_or_default();
                    if content_range_start(&range) != Some(pos) {
                        return Err(Error::new(
                            Kind::Remote,
                            format!("the registry sent range {range:?} where bytes {pos}- were asked for"),
                        )
                        .context(self.what()));
                    }
                    if probe {
                        self.set_ranges_work(true);
                    }
                }
                200 => {
                    // The whole blob: skip what is already here; a registry
                    // that ignored the range gets no parallel ranges.
                    skip = pos;
                    if probe && ranged {
                        self.set_ranges_work(false);
                        end = self.size;
                    }
                }
                _ => return Err(self.source.client.error_for(response, &self.what())),
            }
            let mut reader = response.into_body().into_reader();
            let before = pos;
            let broke = loop {
                if pos >= end {
                    break None;
                }
                img_core::cancel::check()?;
                let n = match reader.read(buf) {
                    Ok(0) => {
                        break Some(format!(
                            "the connection closed after byte {pos} of {}",
                            self.size
                        ))
                    }
                    Ok(n) => n,
                    Err(e) => break Some(e.to_string()),
                };
                let from = (skip.min(n as u64)) as usize;
                skip -= from as u64;
                let to = from + ((n - from) as u64).min(end - pos) as usize;
                if from == to {
                    continue;
                }
                self.file
                    .write_all_at(&buf[from..to], pos)
                    .map_err(|e| Error::io(format!("writing {}", self.what()), e))?;
                let wrote = (to - from) as u64;
                self.arrived(pos, pos + wrote)?;
                pos += wrote;
            };
            if let Some(why) = broke {
                if pos > before {
                    failures = 0;
                }
                failures += 1;
                if failures > MAX_FAILURES {
                    return Err(Error::new(Kind::Remote, why).context(self.what()));
                }
                std::thread::sleep(backoff(failures - 1));
            }
        }
        Ok(())
    }

    /// Bytes `[pos, end)` were written: record them, and wake the hashing
    /// thread if it waits for them.
    fn arrived(&self, pos: u64, end: u64) -> Result<()> {
        let mut s = self.lock()?;
        s.done.push((pos, end));
        let merged = merge_ranges(std::mem::take(&mut s.done));
        s.done = merged;
        let ready = pos <= s.hashed && (end >= s.hashed + WAKE_AFTER || end == self.size);
        if s.hasher_waits && ready {
            s.hasher_waits = false;
            drop(s);
            self.changed.notify_all();
        }
        Ok(())
    }

    /// Until every byte is hashed or a worker failed: hash the written
    /// prefix as it grows, report progress, save the arrived ranges now and
    /// then. The full digest, or the first worker's error.
    fn hash(
        &self,
        partial: &mut PartialBlob<'_>,
        progress: &dyn Fn(u64),
        mut flusher: Option<&mut Flusher<'_>>,
        check: Option<&Background>,
    ) -> Result<Hasher> {
        let mut hasher = Hasher::default();
        let mut buf = vec![0u8; HASH_CHUNK];
        let mut looked_at = Instant::now();
        let mut saved_at = Instant::now();
        let mut saved_bytes = 0u64;
        let mut reported = u64::MAX;
        loop {
            let at = hasher.size();
            let (reach, running) = {
                let mut s = self.lock()?;
                s.hashed = at;
                if !s.errors.is_empty() {
                    return Err(s.errors.remove(0));
                }
                let mut reach = written_from(&s.done, at);
                if reach == at && s.active > 0 {
                    // Woken by the worker whose bytes continue the prefix,
                    // or to report progress.
                    s.hasher_waits = true;
                    s = self
                        .changed
                        .wait_timeout(s, PROGRESS_EVERY)
                        .map_err(|_| Error::new(Kind::Io, "a download worker panicked"))?
                        .0;
                    s.hasher_waits = false;
                    if !s.errors.is_empty() {
                        return Err(s.errors.remove(0));
                    }
                    reach = written_from(&s.done, at);
                }
                (reach, s.active > 0)
            };
            if reach > at {
                let want = ((reach - at) as usize).min(buf.len());
                let n = self
                    .file
                    .read_at(&mut buf[..want], at)
                    .io_context(|| format!("reading back the partial {}", self.what()))?;
                if n == 0 {
                    return Err(Error::new(
                        Kind::Io,
                        format!("the partial {} is shorter than recorded", self.what()),
                    ));
                }
                hasher.update(&buf[..n]);
                if let Some(check) = check {
                    check.feed_copy(&buf[..n]);
                }
                if let Some(flusher) = flusher.as_mut() {
                    flusher.wrote(n);
                }
            } else if !running {
                break;
            }
            if looked_at.elapsed() < PROGRESS_EVERY {
                continue;
            }
            looked_at = Instant::now();
            let (arrived, done) = {
                let s = self.lock()?;
                (
                    s.done.iter().map(|(a, b)| b - a).sum::<u64>(),
                    s.done.clone(),
                )
            };
            if arrived == reported {
                continue;
            }
            reported = arrived;
            progress(arrived);
            if arrived - saved_bytes >= SAVE_EVERY_BYTES || saved_at.elapsed() >= SAVE_EVERY {
                partial.save(done)?;
                saved_bytes = arrived;
                saved_at = Instant::now();
            }
        }
        if hasher.size() != self.size {
            return Err(Error::new(Kind::Remote, "the download ended early").context(self.what()));
        }
        progress(self.size);
        Ok(hasher)
    }
}

/// The end of the written range that `at` is in (`at` if none is).
fn written_from(done: &[(u64, u64)], at: u64) -> u64 {
    done.iter()
        .find(|(a, b)| *a <= at && at < *b)
        .map_or(at, |&(_, b)| b)
}

/// The first byte of a `Content-Range: bytes A-B/N` header.
fn content_range_start(value: &str) -> Option<u64> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    rest.split('-').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_pieces() {
        assert_eq!(plan(&[(0, 10)], 10), vec![(0, 10)]);
        assert_eq!(plan(&[(3, 5), (7, 10)], 10), vec![(3, 5), (7, 10)]);
        let big = 200 << 20;
        let p = plan(&[(0, big)], big);
        assert_eq!(p.len(), 7);
        assert_eq!(p[0], (0, PIECE));
        assert_eq!(p.last().unwrap().1, big);
        let p = plan(&[(0, 10), (big - (40 << 20), big)], big);
        assert_eq!(
            p,
            vec![
                (0, 10),
                (big - (40 << 20), big - (8 << 20)),
                (big - (8 << 20), big)
            ]
        );
        assert_eq!(content_range_start("bytes 100-199/1000"), Some(100));
    }
}
