//! Downloading one blob into the store, resumably and in parallel.
//!
//! Bytes go to the store's partial blob for the digest (see
//! `store/partial.rs`), written at their offsets by one or more workers, each
//! fetching a byte range with a `Range` request. A large blob is split into
//! several ranges fetched at once, so that one TCP stream does not limit it.
//! A worker whose connection breaks or stalls asks again from the byte it
//! got to. Meanwhile the calling thread hashes the file from the start as
//! far as the bytes have arrived, so hashing overlaps the download and no
//! byte is read twice from the network. The arrived ranges are saved now and
//! then, so that a download killed half-way continues in the next run.
//! Only when every byte hashed to the digest does the blob enter the store.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use oci_spec::image::Descriptor;

use super::auth::Scope;
use super::client::{header, status_error, Call, Client};
use super::retry::backoff;
use crate::digest::Hasher;
use crate::error::{Error, IoContext, Kind, Result};
use crate::store::{merge_ranges, missing_ranges, Ranges, Store};

/// Blobs at least this large are fetched as several ranges at once.
const PARALLEL_MIN: u64 = 64 << 20;
/// The smallest range a parallel worker fetches.
const SEGMENT_MIN: u64 = 32 << 20;
/// The most ranges of one blob fetched at once.
const MAX_SEGMENTS: u64 = 4;
/// Broken or stalled connections in a row (without a byte of progress)
/// before a range gives up. (Refused requests and 429/5xx answers are
/// retried by `Client::send` already, not again here.)
const MAX_FAILURES: u32 = 5;
/// A worker's read buffer.
const READ_BUFFER: usize = 256 << 10;
/// The hasher's read buffer.
const HASH_BUFFER: usize = 1 << 20;
/// How often the arrived ranges are saved for a later run.
const SAVE_EVERY_BYTES: u64 = 32 << 20;
const SAVE_EVERY: Duration = Duration::from_secs(2);

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

struct Shared {
    done: Ranges,
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
    shared: Mutex<Shared>,
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
    let job = Job {
        source,
        url: source
            .client
            .url(&format!("/v2/{}/blobs/{digest}", source.repository)),
        size,
        file,
        shared: Mutex::new(Shared {
            done: partial.done().to_vec(),
            active: 0,
            errors: Vec::new(),
            ranges_work: None,
        }),
        changed: Condvar::new(),
    };
    let segments = plan(&missing_ranges(partial.done(), size), size);
    let result = std::thread::scope(|scope| -> Result<Hasher> {
        let mut pending = segments.into_iter();
        if let Some(first) = pending.next() {
            job.start(scope, first, true);
            if pending.len() > 0 && job.wait_for_range_support() {
                for segment in pending {
                    job.start(scope, segment, false);
                }
            }
        }
        job.hash(&mut partial, progress)
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
            let done = job
                .shared
                .lock()
                .map(|s| s.done.clone())
                .unwrap_or_default();
            let _ = partial.save(done);
            Err(e)
        }
    }
}

/// Split the missing ranges into the ranges workers fetch.
fn plan(missing: &[(u64, u64)], size: u64) -> Ranges {
    let mut segments = Vec::new();
    for &(a, b) in missing {
        let len = b - a;
        let pieces = if size >= PARALLEL_MIN {
            (len / SEGMENT_MIN).clamp(1, MAX_SEGMENTS)
        } else {
            1
        };
        let step = len.div_ceil(pieces);
        let mut at = a;
        while at < b {
            segments.push((at, (at + step).min(b)));
            at += step;
        }
    }
    segments
}

impl<'a> Job<'a> {
    fn start<'scope>(
        &'scope self,
        scope: &'scope std::thread::Scope<'scope, '_>,
        (start, end): (u64, u64),
        probe: bool,
    ) {
        if let Ok(mut s) = self.shared.lock() {
            s.active += 1;
        }
        scope.spawn(move || {
            let result = self.fetch_range(start, end, probe);
            if let Ok(mut s) = self.shared.lock() {
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

    /// Wait for the first worker's first answer: whether more may start.
    fn wait_for_range_support(&self) -> bool {
        let Ok(mut s) = self.shared.lock() else {
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

    fn mark(&self, start: u64, end: u64) {
        if let Ok(mut s) = self.shared.lock() {
            s.done.push((start, end));
            let merged = merge_ranges(std::mem::take(&mut s.done));
            s.done = merged;
        }
        self.changed.notify_all();
    }

    fn set_ranges_work(&self, works: bool) {
        if let Ok(mut s) = self.shared.lock() {
            if s.ranges_work.is_none() {
                s.ranges_work = Some(works);
            }
        }
        self.changed.notify_all();
    }

    /// Fetch `[start, end)` into the file, resuming after failures.
    fn fetch_range(&self, start: u64, mut end: u64, probe: bool) -> Result<()> {
        let mut pos = start;
        let mut failures = 0;
        let mut buf = vec![0u8; READ_BUFFER];
        let what = || {
            format!(
                "downloading blob {} from {}",
                self.url.rsplit('/').next().unwrap_or(""),
                self.source.client.registry()
            )
        };
        while pos < end {
            let mut call = Call::get(self.url.clone(), self.source.scope);
            if pos > 0 || end < self.size {
                call = call.header("Range", format!("bytes={pos}-{}", end - 1));
            }
            let sent = self.source.client.send(call).map_err(|e| e.context(what()));
            let attempt = sent.and_then(|response| {
                let status = response.status().as_u16();
                let mut skip = 0;
                match status {
                    206 => {
                        let range = header(&response, "content-range").unwrap_or_default();
                        if content_range_start(&range) != Some(pos) {
                            return Err(Error::new(
                                Kind::Remote,
                                format!("the registry sent range {range:?} where bytes {pos}- were asked for"),
                            )
                            .context(what()));
                        }
                        if probe {
                            self.set_ranges_work(true);
                        }
                    }
                    200 => {
                        // The whole blob: skip what is already here, and let
                        // this worker take everything (no parallel ranges).
                        skip = pos;
                        if probe {
                            self.set_ranges_work(false);
                            end = self.size;
                        }
                    }
                    _ => return Err(status_error(response, &what())),
                }
                Ok((response, skip))
            });
            let (response, mut skip) = attempt?;
            let mut reader = response.into_body().into_reader();
            let before = pos;
            // Errors are (from this machine's disk, the error).
            let outcome: std::result::Result<(), (bool, std::io::Error)> = (|| {
                while pos < end {
                    let n = reader.read(&mut buf).map_err(|e| (false, e))?;
                    if n == 0 {
                        return Err((
                            false,
                            std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                format!("the connection closed after byte {pos} of {}", self.size),
                            ),
                        ));
                    }
                    let mut chunk = &buf[..n];
                    if skip > 0 {
                        let s = (skip as usize).min(chunk.len());
                        skip -= s as u64;
                        chunk = &chunk[s..];
                    }
                    let take = (chunk.len() as u64).min(end - pos) as usize;
                    if take == 0 {
                        continue;
                    }
                    self.file
                        .write_all_at(&chunk[..take], pos)
                        .map_err(|e| (true, e))?;
                    self.mark(pos, pos + take as u64);
                    pos += take as u64;
                }
                Ok(())
            })();
            match outcome {
                Ok(()) => {}
                Err((true, e)) => {
                    return Err(Error::io(format!("writing {}", what()), e));
                }
                Err((false, e)) => {
                    if pos > before {
                        failures = 0;
                    }
                    failures += 1;
                    if failures > MAX_FAILURES {
                        return Err(Error::new(Kind::Remote, e.to_string()).context(what()));
                    }
                    std::thread::sleep(backoff(failures - 1));
                }
            }
        }
        Ok(())
    }

    /// Hash the file from the start as its bytes arrive; save the arrived
    /// ranges now and then.
    fn hash(
        &self,
        partial: &mut crate::store::PartialBlob<'_>,
        progress: &dyn Fn(u64),
    ) -> Result<Hasher> {
        let mut hasher = Hasher::default();
        let mut buf = vec![0u8; HASH_BUFFER.min(self.size.max(1) as usize)];
        let mut saved_at = Instant::now();
        let mut saved_bytes = 0u64;
        let mut reported = u64::MAX;
        while hasher.size() < self.size {
            let hashed = hasher.size();
            let (available, done, arrived) = {
                let mut s = self
                    .shared
                    .lock()
                    .map_err(|_| Error::new(Kind::Io, "a download worker panicked"))?;
                loop {
                    let reach = s
                        .done
                        .iter()
                        .find(|(a, b)| *a <= hashed && hashed < *b)
                        .map(|r| r.1);
                    let arrived: u64 = s.done.iter().map(|(a, b)| b - a).sum();
                    if let Some(end) = reach {
                        break (end, s.done.clone(), arrived);
                    }
                    if s.active == 0 {
                        let mut errors = std::mem::take(&mut s.errors);
                        drop(s);
                        let _ = partial.save(
                            self.shared
                                .lock()
                                .map(|s| s.done.clone())
                                .unwrap_or_default(),
                        );
                        return Err(if errors.is_empty() {
                            Error::new(Kind::Remote, "the download ended early")
                        } else {
                            errors.remove(0)
                        });
                    }
                    if arrived != reported {
                        reported = arrived;
                        drop(s);
                        progress(arrived);
                        s = self
                            .shared
                            .lock()
                            .map_err(|_| Error::new(Kind::Io, "a download worker panicked"))?;
                        continue;
                    }
                    s = self
                        .changed
                        .wait_timeout(s, Duration::from_millis(500))
                        .map_err(|_| Error::new(Kind::Io, "a download worker panicked"))?
                        .0;
                }
            };
            let mut at = hashed;
            while at < available {
                let want = ((available - at) as usize).min(buf.len());
                let n = self
                    .file
                    .read_at(&mut buf[..want], at)
                    .io_context(|| format!("reading back partial blob {}", partial.digest()))?;
                if n == 0 {
                    return Err(Error::new(
                        Kind::Io,
                        format!("partial blob {} is shorter than recorded", partial.digest()),
                    ));
                }
                hasher.update(&buf[..n]);
                at += n as u64;
            }
            if arrived != reported {
                reported = arrived;
                progress(arrived);
            }
            if arrived - saved_bytes >= SAVE_EVERY_BYTES || saved_at.elapsed() >= SAVE_EVERY {
                partial.save(done)?;
                saved_bytes = arrived;
                saved_at = Instant::now();
            }
        }
        progress(self.size);
        Ok(hasher)
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
    fn plans_segments() {
        assert_eq!(plan(&[(0, 10)], 10), vec![(0, 10)]);
        let big = 200 << 20;
        let p = plan(&[(0, big)], big);
        assert_eq!(p.len(), 4);
        assert_eq!(p.first().unwrap().0, 0);
        assert_eq!(p.last().unwrap().1, big);
        let p = plan(&[(0, 10), (big - (40 << 20), big)], big);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(content_range_start("bytes 100-199/1000"), Some(100));
    }
}
