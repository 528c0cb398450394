//! Garbage collection: blobs that no entry of `index.json` reaches are
//! removed. Reachability follows indexes to their manifests (those present),
//! and manifests to their config and layers. The sweep holds the gc lock
//! exclusively, so it runs only when no writer holds it shared: a blob a
//! writer has ingested but not yet named is never swept.
//!
//! Snapshots (unpacked layers, see `snapshots.rs`) that no image and no
//! container uses are removed with them, and so are the step directories
//! of builds that never finished and build cache entries whose layers are
//! gone.
//!
//! The ingest area is swept too. Temporary files (`blob-*`, state files being
//! written) belong to a writer, so they go only under the exclusive gc lock,
//! when no writer runs. Resumable partial downloads (`partial-HEX` and its
//! `partial-HEX.ranges`, see `partial.rs`) are kept for
//! [`PARTIAL_MAX_AGE`] after their last write, so that the next pull
//! continues them; older ones are removed (or every one, when the sweep is
//! asked to: [`SweepOptions::every_partial`], img-prune --system), unless a
//! process holds the flock on the data file (a pull working on it),
//! whatever its age.

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::gclock::{self, Wait};
use super::{
    file_usage, idle_since, open_lock_file, partial_files, partial_name, same_file, Snapshots,
    Store,
};
use img_core::digest::{self, Digest};
use img_core::error::{IoContext, Result};
use img_core::image::{is_index, is_manifest};

/// The layers (diff_ids) that something beside the images uses — the
/// store's containers — whose snapshots a sweep keeps.
pub type InUse<'a> = dyn Fn() -> Result<HashSet<Digest>> + 'a;

/// What a sweep removed.
#[derive(Debug, Default, Clone)]
pub struct SweepReport {
    /// Digests of the blobs removed.
    pub removed: Vec<Digest>,
    /// Bytes freed by the blobs removed.
    pub freed: u64,
    /// Resumable partial downloads removed (too old, nobody working on them).
    pub partials: usize,
    /// Bytes freed in the ingest area: abandoned temporary files and the
    /// partial downloads removed.
    pub ingest_freed: u64,
    /// Unpacked layers removed: no image or container uses them.
    pub snapshots: usize,
    /// Build cache entries (those whose layers are gone, and when asked
    /// the others) and cache mounts removed (when asked), by ID.
    pub build_cache: Vec<String>,
    /// Bytes they held.
    pub build_cache_freed: u64,
}

/// What a sweep does with img-build's cache beyond dropping the entries
/// whose layers are gone.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum BuildCache {
    /// Nothing more.
    #[default]
    Keep,
    /// Remove what no image uses: the `RUN --mount=type=cache` directories
    /// too (BuildKit's prune without `--all`: records no image shares).
    Unused,
    /// Remove all of it: every entry and every cache mount (`--all`).
    All,
}

/// What a sweep removes besides unreachable blobs and abandoned files.
#[derive(Debug, Default, Clone, Copy)]
pub struct SweepOptions {
    /// What becomes of the build cache.
    pub build_cache: BuildCache,
    /// Every partial download no pull holds, whatever its age (else only
    /// those idle for [`PARTIAL_MAX_AGE`]).
    pub every_partial: bool,
}

/// How long a resumable partial download (`.img/ingest/partial-HEX`) is kept
/// after its last write, for the next pull of its blob to continue it. Older
/// ones are given up by the next garbage collection (img-rm, img-prune).
pub const PARTIAL_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

impl Store {
    /// Every blob reachable from `index.json`.
    pub fn reachable(&self) -> Result<HashSet<Digest>> {
        let mut seen = HashSet::new();
        let mut pending: Vec<Descriptor> = self
            .index()?
            .entries()
            .into_iter()
            .map(|e| e.descriptor)
            .collect();
        while let Some(d) = pending.pop() {
            if !seen.insert(d.digest().clone()) || !self.has_blob(d.digest()) {
                continue;
            }
            let media_type = d.media_type();
            if is_index(media_type) {
                let index: ImageIndex = serde_json::from_slice(&self.read_blob(&d)?)
                    .map_err(|e| img_core::Error::invalid(format!("index {}: {e}", d.digest())))?;
                pending.extend(index.manifests().iter().cloned());
            } else if is_manifest(media_type) {
                let manifest: ImageManifest = serde_json::from_slice(&self.read_blob(&d)?)
                    .map_err(|e| {
                        img_core::Error::invalid(format!("manifest {}: {e}", d.digest()))
                    })?;
                pending.push(manifest.config().clone());
                pending.extend(manifest.layers().iter().cloned());
            }
        }
        Ok(seen)
    }

    /// Remove unreachable blobs, stale ingest files, and the snapshots no
    /// image and no container uses: `in_use` says which layers containers
    /// use (`img_container::Containers::layers`), asked under the exclusive
    /// gc lock, when no program can be making one. With `wait` false, gives
    /// up at once (an empty report) when a writer holds the store.
    pub fn sweep(&self, wait: bool, in_use: &InUse<'_>) -> Result<Option<SweepReport>> {
        self.sweep_all(wait, &SweepOptions::default(), in_use)
    }

    /// [`Store::sweep`], and what `options` add: the build cache, every
    /// partial download no pull holds.
    pub fn sweep_all(
        &self,
        wait: bool,
        options: &SweepOptions,
        in_use: &InUse<'_>,
    ) -> Result<Option<SweepReport>> {
        let wait = if wait {
            Wait::Bounded {
                budget: gclock::collector_wait(),
                say: true,
            }
        } else {
            Wait::No
        };
        self.with_gc_exclusive(wait, || {
            let keep = self.reachable()?;
            let mut report = SweepReport::default();
            let dir = self.blob_dir();
            for entry in fs::read_dir(&dir).io_context(|| format!("listing {}", dir.display()))? {
                let entry = entry.io_context(|| format!("listing {}", dir.display()))?;
                let name = entry.file_name();
                let Some(hex) = name.to_str() else { continue };
                let Ok(digest) = digest::from_hex(hex) else {
                    continue;
                };
                if keep.contains(&digest) || hex.len() != 64 {
                    continue;
                }
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                fs::remove_file(entry.path()).io_context(|| format!("removing blob {digest}"))?;
                report.freed += size;
                report.removed.push(digest);
            }
            let max_age = match options.every_partial {
                true => Duration::ZERO,
                false => PARTIAL_MAX_AGE,
            };
            self.sweep_ingest(&mut report, max_age)?;
            report.snapshots = Snapshots::of(self).sweep(&in_use()?)?;
            self.sweep_builds(&mut report)?;
            match options.build_cache {
                BuildCache::Keep => {}
                BuildCache::Unused => self.sweep_build_cache(&["build-mounts"], &mut report)?,
                BuildCache::All => {
                    self.sweep_build_cache(&["build-cache", "build-mounts"], &mut report)?
                }
            }
            report.build_cache.sort();
            report.removed.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
            Ok(report)
        })
    }

    /// Run `work` with the gc lock held exclusively (no writer in the
    /// store), taken as `wait` says (see `gclock.rs`); `Ok(None)` when it
    /// was not free and `wait` is [`Wait::No`]. Afterwards this process
    /// holds what it held before.
    pub fn with_gc_exclusive<T>(
        &self,
        wait: Wait,
        work: impl FnOnce() -> Result<T>,
    ) -> Result<Option<T>> {
        let writer = self.writer_lock.get().is_some();
        let lock = match self.writer_lock.get() {
            Some(held) => held
                .try_clone()
                .io_context(|| "reusing the gc lock".into())?,
            None => open_lock_file(&self.lock_dir().join(gclock::GC))?,
        };
        let Some(exclusive) = gclock::lock_exclusive(&self.lock_dir(), &lock, writer, wait)? else {
            return Ok(None);
        };
        let result = work();
        // Back to shared: this process may still be writing.
        exclusive.release(writer)?;
        result.map(Some)
    }

    /// Remove what builds left: the step directories of builds that did
    /// not finish (no build runs: the caller holds the gc lock
    /// exclusively), and cache entries whose layers are gone.
    fn sweep_builds(&self, report: &mut SweepReport) -> Result<()> {
        let work = self.state_dir().join("build");
        if let Ok(entries) = fs::read_dir(&work) {
            for entry in entries.flatten() {
                super::remove_tree(&entry.path())?;
            }
        }
        let cache = self.state_dir().join("build-cache");
        let Ok(entries) = fs::read_dir(&cache) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let complete = fs::read(entry.path())
                .ok()
                .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
                .and_then(|v| v.get("layers").and_then(|l| l.as_array()).cloned())
                .is_some_and(|layers| {
                    layers.iter().all(|l| {
                        l.get("digest")
                            .and_then(|d| d.as_str())
                            .and_then(|d| digest::parse(d).ok())
                            .is_some_and(|d| self.has_blob(&d))
                    })
                });
            if !complete {
                let bytes = file_usage(&entry.path());
                if fs::remove_file(entry.path()).is_ok() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    report
                        .build_cache
                        .push(name.trim_end_matches(".json").to_string());
                    report.build_cache_freed += bytes;
                }
            }
        }
        Ok(())
    }

    /// Remove everything in the build cache directories `dirs` (no build
    /// runs: the caller holds the gc lock exclusively).
    fn sweep_build_cache(&self, dirs: &[&str], report: &mut SweepReport) -> Result<()> {
        for dir in dirs {
            let Ok(entries) = fs::read_dir(self.state_dir().join(dir)) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let bytes = crate::tree_size(&path);
                super::remove_tree(&path)?;
                let name = entry.file_name().to_string_lossy().into_owned();
                report
                    .build_cache
                    .push(name.trim_end_matches(".json").to_string());
                report.build_cache_freed += bytes;
            }
        }
        Ok(())
    }

    /// Remove the ingest area's abandoned files: every temporary file (the
    /// caller holds the gc lock exclusively, so no writer owns one) and the
    /// partial downloads [`Store::sweep_partials`] gives up.
    fn sweep_ingest(&self, report: &mut SweepReport, partial_max_age: Duration) -> Result<()> {
        let dir = self.state_dir().join("ingest");
        for entry in fs::read_dir(&dir).io_context(|| format!("listing {}", dir.display()))? {
            let entry = entry.io_context(|| format!("listing {}", dir.display()))?;
            let name = entry.file_name();
            if partial_name(&name.to_string_lossy()).is_none() {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                if fs::remove_file(entry.path()).is_ok() {
                    report.ingest_freed += size;
                }
            }
        }
        // index.json's own temporary files (see `write_atomic`), of an
        // update that never finished.
        if let Ok(entries) = fs::read_dir(self.root()) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(".tmp-") {
                    let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                    if fs::remove_file(entry.path()).is_ok() {
                        report.ingest_freed += size;
                    }
                }
            }
        }
        let (count, bytes) = self.sweep_partials(partial_max_age)?;
        report.partials = count;
        report.ingest_freed += bytes;
        Ok(())
    }

    /// Remove the partial downloads not written to for `max_age` that no
    /// process holds (the flock a pull keeps on the data file), with their
    /// state files; returns how many went and the bytes freed. Safe without
    /// the gc lock: each removal happens under the download's own flock, and
    /// a pull that opens it afterwards finds it gone and starts anew.
    fn sweep_partials(&self, max_age: Duration) -> Result<(usize, u64)> {
        let dir = self.state_dir().join("ingest");
        let now = SystemTime::now();
        let age = |path: &Path| idle_since(path, now);
        let (mut count, mut freed) = (0, 0);
        for entry in fs::read_dir(&dir).io_context(|| format!("listing {}", dir.display()))? {
            let entry = entry.io_context(|| format!("listing {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((hex, is_state)) = partial_name(&name) else {
                continue;
            };
            let (data, state) = partial_files(&dir, hex);
            if is_state {
                // A state file whose download is gone records nothing.
                if !data.exists() && age(&state).is_some_and(|a| a > max_age) {
                    freed += file_usage(&state);
                    let _ = fs::remove_file(&state);
                }
                continue;
            }
            // The last write to either file counts.
            let stale = || {
                [age(&data), age(&state)]
                    .into_iter()
                    .flatten()
                    .min()
                    .is_some_and(|idle| idle > max_age)
            };
            if !stale() {
                continue;
            }
            let Ok(file) = File::open(&data) else {
                continue;
            };
            if file.try_lock().is_err() {
                continue; // a pull is working on it
            }
            // Under the lock, look again: a pull may have written to it, or
            // committed it (renamed away), since the first look.
            if !same_file(&file, &data) || !stale() {
                continue;
            }
            let bytes = file_usage(&data) + file_usage(&state);
            let _ = fs::remove_file(&state);
            fs::remove_file(&data)
                .io_context(|| format!("removing partial download {}", data.display()))?;
            count += 1;
            freed += bytes;
        }
        Ok((count, freed))
    }
}

#[cfg(test)]
#[path = "gc_tests.rs"]
mod tests;
