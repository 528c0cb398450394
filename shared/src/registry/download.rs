//! Downloading one blob into the store, resumably and in parallel.
//!
//! Bytes go to the store's partial blob for the digest (see
//! `store/partial.rs`), written at their offsets. A small blob is one
//! request. A large one is cut into pieces, handed out in order to a few
//! workers that each fetch a piece with a `Range` request, so that one TCP
//! stream does not limit it (once the registry's first answer shows that it
//! honours ranges). A worker whose connection breaks or stalls asks again
//! from the byte it got to.
//!
//! The digest is computed as the bytes arrive, in order, and never from
//! bytes that are not yet written: the worker whose bytes continue the
//! hashed prefix hashes them straight from its buffer, then reads back and
//! hashes whatever other workers already wrote beyond them (little, since
//! pieces go out in order). Only when every byte hashed to the digest does
//! the blob enter the store. Meanwhile the calling thread reports progress,
//! saves the arrived ranges now and then (so that a download killed
//! half-way continues in the next run), and has the file written out as it
//! grows, so that the closing fsync does not wait for a gigabyte at once.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use oci_spec::image::Descriptor;

use super::auth::Scope;
use super::client::{header, Call, Client};
use super::retry::backoff;
use crate::digest::Hasher;
use crate::error::{Error, IoContext, Kind, Result};
use crate::store::{merge_ranges, missing_ranges, PartialBlob, Ranges, Store};

/// Blobs at least this large are fetched in pieces by several workers.
const PARALLEL_MIN: u64 = 64 << 20;
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
/// How often the arrived ranges are saved for a later run.
const SAVE_EVERY_BYTES: u64 = 32 << 20;
const SAVE_EVERY: Duration = Duration::from_secs(2);
/// How often the calling thread looks at the progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
/// How many arrived bytes make the calling thread write the file out.
const FLUSH_EVERY: u64 = 64 << 20;

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

/// Where a blob comes from.
pub struct Source<'a> {
    /// The connected registry.
    pub client: &'a Client,
    /// The repository holding the blob.
    pub repository: &'a str,
    /// The access fetching needs.
    pub scope: &'a Scope,
}

struct State {
    /// The byte ranges written to the file.
    done: Ranges,
    /// The digest of the prefix hashed so far; `None` while a worker hashes.
    hasher: Option<Hasher>,
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
    size: u64,
    file: File,
    state: Mutex<State>,
    changed: Condvar,
}

/// Download the blob `descriptor` names into `store`, resuming an earlier
/// partial download, reporting the bytes present so far to `progress`.
pub fn fetch(
    source: &Source<'_>,
    store: &Store,
    descriptor: &Descriptor,
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
    let file = partial
        .file()
        .try_clone()
        .io_context(|| format!("opening partial blob {digest}"))?;
    let pieces = plan(&missing_ranges(partial.done(), size), size);
    let workers = pieces.len().min(MAX_WORKERS);
    let job = Job {
        source,
        url: source
            .client
            .url(&format!("/v2/{}/blobs/{digest}", source.repository)),
        size,
        file,
        state: Mutex::new(State {
            done: partial.done().to_vec(),
            hasher: Some(Hasher::default()),
            queue: pieces.into(),
            active: 0,
            errors: Vec::new(),
            ranges_work: None,
        }),
        changed: Condvar::new(),
    };
    let result = std::thread::scope(|scope| -> Result<Hasher> {
        if workers > 0 {
            job.start(scope, true);
        }
        if workers > 1 && job.wait_for_range_support() {
            for _ in 1..workers {
                job.start(scope, false);
            }
        }
        job.hash_earlier_bytes()?;
        job.watch(&mut partial, progress)
    });
    match result {
        Ok(hasher) => {
            partial.commit(&hasher.digest()).map_err(|e| {
                if e.kind() == Kind::DigestMismatch {
                    e.context(format!(
                        "downloading blob {digest} from {}",
                        source.client.registry()
                    ))
                } else {
                    e
                }
            })?;
            Ok(Fetched::Downloaded { resumed_from })
        }
        Err(e) => {
            // Keep what arrived, for the next try.
            let done = job.lock().map(|s| s.done.clone()).unwrap_or_default();
            let _ = partial.save(done);
            Err(e)
        }
    }
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
        format!(
            "downloading blob {} from {}",
            self.url.rsplit('/').next().unwrap_or(""),
            self.source.client.registry()
        )
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
                self.arrived(pos, buf, from, to)?;
                pos += (to - from) as u64;
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

    /// Bytes `buf[from..to]` were written at `pos`: record them, and hash
    /// them (and what follows them) if they continue the hashed prefix.
    fn arrived(&self, pos: u64, buf: &mut [u8], from: usize, to: usize) -> Result<()> {
        let end = pos + (to - from) as u64;
        let hasher = {
            let mut s = self.lock()?;
            s.done.push((pos, end));
            let merged = merge_ranges(std::mem::take(&mut s.done));
            s.done = merged;
            let continues = s
                .hasher
                .as_ref()
                .is_some_and(|h| pos <= h.size() && h.size() < end);
            if continues {
                s.hasher.take()
            } else {
                None
            }
        };
        match hasher {
            Some(mut hasher) => {
                let skip = (hasher.size() - pos) as usize;
                hasher.update(&buf[from + skip..to]);
                self.hash_on(hasher, buf)
            }
            None => Ok(()),
        }
    }

    /// Hash the bytes already written beyond `hasher`'s position, reading
    /// them back into `buf`; then give the hasher back.
    fn hash_on(&self, mut hasher: Hasher, buf: &mut [u8]) -> Result<()> {
        loop {
            let at = hasher.size();
            let reach = {
                let mut s = self.lock()?;
                match s.done.iter().find(|(a, b)| *a <= at && at < *b) {
                    Some(&(_, b)) => b,
                    None => {
                        s.hasher = Some(hasher);
                        return Ok(());
                    }
                }
            };
            let mut at = at;
            while at < reach {
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
                at += n as u64;
            }
        }
    }

    /// Hash the bytes an earlier run downloaded at the start of the blob.
    fn hash_earlier_bytes(&self) -> Result<()> {
        let hasher = {
            let mut s = self.lock()?;
            if s.done.first().is_some_and(|r| r.0 == 0) {
                s.hasher.take()
            } else {
                None
            }
        };
        match hasher {
            Some(hasher) => self.hash_on(hasher, &mut vec![0u8; READ_BUFFER]),
            None => Ok(()),
        }
    }

    /// Until the workers are done: report progress, save the arrived ranges
    /// now and then, write the file out as it grows. The full digest, or the
    /// first worker's error.
    fn watch(&self, partial: &mut PartialBlob<'_>, progress: &dyn Fn(u64)) -> Result<Hasher> {
        let mut saved_at = Instant::now();
        let mut saved_bytes = 0u64;
        let mut flushed_bytes = 0u64;
        let mut reported = u64::MAX;
        loop {
            // Woken early only when a worker ends: bytes arrive too often
            // to wake for each.
            let (arrived, done, running) = {
                let mut s = self.lock()?;
                if s.active > 0 {
                    s = self
                        .changed
                        .wait_timeout(s, PROGRESS_EVERY)
                        .map_err(|_| Error::new(Kind::Io, "a download worker panicked"))?
                        .0;
                }
                let arrived: u64 = s.done.iter().map(|(a, b)| b - a).sum();
                (arrived, s.done.clone(), s.active > 0)
            };
            if !running {
                break;
            }
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
            if arrived - flushed_bytes >= FLUSH_EVERY {
                // Only to spread the writing out: the commit's fsync is the
                // one that counts, so a failure here can wait for it.
                let _ = self.file.sync_data();
                flushed_bytes = arrived;
            }
        }
        let mut s = self.lock()?;
        if !s.errors.is_empty() {
            return Err(s.errors.remove(0));
        }
        match s.hasher.take() {
            Some(hasher) if hasher.size() == self.size => {
                drop(s);
                progress(self.size);
                Ok(hasher)
            }
            _ => Err(Error::new(Kind::Remote, "the download ended early").context(self.what())),
        }
    }
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
