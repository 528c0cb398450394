//! Garbage collection: blobs that no entry of `index.json` reaches are
//! removed. Reachability follows indexes to their manifests (those present),
//! and manifests to their config and layers. The sweep holds the gc lock
//! exclusively, so it runs only when no writer holds it shared: a blob a
//! writer has ingested but not yet named is never swept.

use std::collections::HashSet;
use std::fs;
use std::time::{Duration, SystemTime};

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use super::{open_lock_file, Store};
use crate::digest::{self, Digest};
use crate::error::{IoContext, Result};
use crate::image::{is_index, is_manifest};

/// What a sweep removed.
#[derive(Debug, Default, Clone)]
pub struct SweepReport {
    /// Digests of the blobs removed.
    pub removed: Vec<Digest>,
    /// Bytes freed.
    pub freed: u64,
}

/// Temporary ingest files older than this are abandoned writes (a crashed
/// program); younger ones may belong to a pull that resumes.
const STALE_INGEST: Duration = Duration::from_secs(24 * 3600);

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
                    .map_err(|e| crate::Error::invalid(format!("index {}: {e}", d.digest())))?;
                pending.extend(index.manifests().iter().cloned());
            } else if is_manifest(media_type) {
                let manifest: ImageManifest = serde_json::from_slice(&self.read_blob(&d)?)
                    .map_err(|e| crate::Error::invalid(format!("manifest {}: {e}", d.digest())))?;
                pending.push(manifest.config().clone());
                pending.extend(manifest.layers().iter().cloned());
            }
        }
        Ok(seen)
    }

    /// Remove unreachable blobs and stale ingest files. With `wait` false,
    /// gives up at once (an empty report) when a writer holds the store.
    pub fn sweep(&self, wait: bool) -> Result<Option<SweepReport>> {
        let lock = match self.writer_lock.get() {
            Some(held) => held
                .try_clone()
                .io_context(|| "reusing the gc lock".into())?,
            None => open_lock_file(&self.lock_dir().join("gc"))?,
        };
        if wait {
            lock.lock()
                .io_context(|| "waiting for the store's gc lock".into())?;
        } else if lock.try_lock().is_err() {
            // A failed conversion drops the shared lock this process held
            // (flock converts by unlocking first): take it back.
            if self.writer_lock.get().is_some() {
                lock.lock_shared()
                    .io_context(|| "re-taking the gc lock".into())?;
            }
            return Ok(None);
        }
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
        self.sweep_ingest()?;
        // Back to shared: this process may still be writing.
        if self.writer_lock.get().is_some() {
            lock.lock_shared()
                .io_context(|| "re-taking the gc lock".into())?;
        }
        report.removed.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
        Ok(Some(report))
    }

    fn sweep_ingest(&self) -> Result<()> {
        let dir = self.state_dir().join("ingest");
        let now = SystemTime::now();
        for entry in fs::read_dir(&dir).io_context(|| format!("listing {}", dir.display()))? {
            let entry = entry.io_context(|| format!("listing {}", dir.display()))?;
            let name = entry.file_name();
            let resumable = name.to_string_lossy().starts_with("partial-");
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .unwrap_or_default();
            // No writer holds the lock now, so every temporary blob is
            // abandoned; resumable partial downloads are kept a day.
            if !resumable || age > STALE_INGEST {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }
}
