//! Partial blobs: downloads that survive the program that started them.
//!
//! A blob being downloaded lives in `ROOT/.img/ingest/partial-HEX` (its bytes,
//! written at their offsets, possibly out of order) beside
//! `partial-HEX.ranges` (which byte ranges of it have arrived, as JSON). A
//! later download of the same blob, by this program or the next one, reads
//! the ranges and fetches only what is missing. Partial blobs are never
//! content: they become a blob only through [`PartialBlob::commit`], after the
//! caller hashed every byte to the digest that names it. Garbage collection
//! keeps them for [`super::PARTIAL_MAX_AGE`] after their last write, and
//! never removes one a process holds (see `gc.rs`).
//!
//! One process at a time works on a partial blob: [`Store::partial`] takes an
//! exclusive flock on its data file and waits for any other holder.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{set_readable, sync_dir, Durability, Replace, Store};
use img_core::digest::{self, Digest};
use img_core::error::{Error, IoContext, Result, ResultExt};

/// Byte ranges `[start, end)`, sorted and merged.
pub type Ranges = Vec<(u64, u64)>;

/// A blob being downloaded; see the module docs.
pub struct PartialBlob<'s> {
    store: &'s Store,
    digest: Digest,
    size: u64,
    file: File,
    data_path: PathBuf,
    state_path: PathBuf,
    done: Ranges,
}

#[derive(Serialize, Deserialize)]
struct State {
    size: u64,
    done: Ranges,
}

/// The files of the partial download of blob `hex` in the ingest
/// directory `ingest`: its data, and its state (the ranges arrived).
pub fn partial_files(ingest: &Path, hex: &str) -> (PathBuf, PathBuf) {
    (
        ingest.join(format!("partial-{hex}")),
        ingest.join(format!("partial-{hex}.ranges")),
    )
}

/// The blob hex of a partial download's data file (`partial-HEX`, false)
/// or state file (`partial-HEX.ranges`, true); `None` for any other file.
pub fn partial_name(name: &str) -> Option<(&str, bool)> {
    let rest = name.strip_prefix("partial-")?;
    let (hex, is_state) = match rest.strip_suffix(".ranges") {
        Some(hex) => (hex, true),
        None => (rest, false),
    };
    let is_hex = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    is_hex.then_some((hex, is_state))
}

impl Store {
    /// Open (or start) the partial download of the blob `digest` of `size`
    /// bytes, waiting while another process works on it. The caller checks
    /// [`Store::has_blob`] afterwards: the other process may have finished it.
    pub fn partial(&self, digest: &Digest, size: u64) -> Result<PartialBlob<'_>> {
        digest::ensure_sha256(digest)?;
        self.hold_writer_lock()?;
        let dir = self.state_dir().join("ingest");
        let (data_path, state_path) = partial_files(&dir, digest.digest());
        let file = loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&data_path)
                .io_context(|| format!("opening partial blob {}", data_path.display()))?;
            file.lock().io_context(|| {
                format!("waiting for the download of {digest} by another program")
            })?;
            // The holder we waited for may have committed (renamed) or
            // discarded the file: only the file still at the path is ours.
            let same = match fs::metadata(&data_path) {
                Ok(m) => file.metadata().is_ok_and(|f| f.ino() == m.ino()),
                Err(_) => false,
            };
            if same {
                break file;
            }
        };
        let done = read_state(&state_path, size, &file);
        Ok(PartialBlob {
            store: self,
            digest: digest.clone(),
            size,
            file,
            data_path,
            state_path,
            done,
        })
    }
}

/// The ranges a state file records, when they fit this blob and its file;
/// anything unreadable counts as nothing downloaded.
fn read_state(path: &PathBuf, size: u64, file: &File) -> Ranges {
    let Ok(bytes) = fs::read(path) else {
        return Vec::new();
    };
    let Ok(state) = serde_json::from_slice::<State>(&bytes) else {
        return Vec::new();
    };
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let valid = state.size == size
        && state
            .done
            .iter()
            .all(|&(a, b)| a < b && b <= size && b <= file_len);
    if valid {
        merge_ranges(state.done)
    } else {
        Vec::new()
    }
}

/// Sort and merge ranges.
pub fn merge_ranges(mut ranges: Ranges) -> Ranges {
    ranges.retain(|&(a, b)| a < b);
    ranges.sort_unstable();
    let mut merged: Ranges = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// The parts of `[0, size)` that `done` does not cover.
pub fn missing_ranges(done: &[(u64, u64)], size: u64) -> Ranges {
    let mut gaps = Vec::new();
    let mut at = 0;
    for &(a, b) in done {
        if a > at {
            gaps.push((at, a.min(size)));
        }
        at = at.max(b);
    }
    if at < size {
        gaps.push((at, size));
    }
    gaps
}

impl PartialBlob<'_> {
    /// The blob's digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The blob's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The ranges already downloaded (by an earlier run, or this one).
    pub fn done(&self) -> &[(u64, u64)] {
        &self.done
    }

    /// The data file, for writing at offsets and reading back.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The file opened anew for direct I/O (writes that bypass the page
    /// cache), or `None` where the file system does not allow it.
    pub fn open_direct(&self) -> Option<File> {
        use rustix::fs::{Mode, OFlags};
        rustix::fs::open(
            &self.data_path,
            OFlags::WRONLY | OFlags::DIRECT | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()
        .map(File::from)
    }

    /// Write the bytes to disk now, ahead of [`PartialBlob::commit`]: a
    /// download whose layer check is still inflating syncs meanwhile, and
    /// the commit's own sync finds nothing left to write.
    pub fn sync_data(&self) -> Result<()> {
        self.file
            .sync_data()
            .io_context(|| format!("syncing blob {}", self.digest))
    }

    /// Record `done` as downloaded, so that a later run resumes from it. The
    /// bytes must already be written to the file.
    pub fn save(&mut self, done: Ranges) -> Result<()> {
        let done = merge_ranges(done);
        if done == self.done {
            return Ok(());
        }
        let state = State {
            size: self.size,
            done: done.clone(),
        };
        // No fsync: after a crash of the machine a lost or stale state only
        // costs a download; the final digest check catches any bad bytes.
        // The prefix is the sweep's: a killed writer's temporary state goes
        // with the ingest area's other leftovers.
        let replace = Replace {
            prefix: "partial-tmp-",
            durability: Durability::Renamed,
            mode: None,
        };
        let dir = self.store.state_dir().join("ingest");
        replace
            .write_json(&dir, &self.state_path, &state)
            .with_context(|| format!("saving download state of {}", self.digest))?;
        self.done = done;
        Ok(())
    }

    /// Make the downloaded bytes the blob `digest`, after the caller hashed
    /// them to `verified`. A mismatch discards the download.
    pub fn commit(self, verified: &Digest) -> Result<()> {
        if verified != &self.digest {
            let err = Error::digest_mismatch(&self.digest, verified);
            self.discard();
            return Err(err);
        }
        let len = self
            .file
            .metadata()
            .io_context(|| format!("reading partial blob {}", self.digest))?
            .len();
        if len != self.size {
            self.file
                .set_len(self.size)
                .io_context(|| format!("sizing blob {}", self.digest))?;
        }
        self.file
            .sync_all()
            .io_context(|| format!("syncing blob {}", self.digest))?;
        set_readable(&self.data_path)?;
        let target = self.store.blob_path(&self.digest);
        fs::rename(&self.data_path, &target)
            .io_context(|| format!("storing blob {}", self.digest))?;
        let _ = fs::remove_file(&self.state_path);
        sync_dir(&target.parent().map(PathBuf::from).unwrap_or_default())
    }

    /// Throw the download away (its bytes were bad).
    pub fn discard(self) {
        let _ = fs::remove_file(&self.state_path);
        let _ = fs::remove_file(&self.data_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn ranges_merge_and_gaps() {
        assert_eq!(
            merge_ranges(vec![(5, 7), (0, 2), (2, 3), (6, 9)]),
            vec![(0, 3), (5, 9)]
        );
        assert_eq!(missing_ranges(&[(0, 3), (5, 9)], 10), vec![(3, 5), (9, 10)]);
        assert_eq!(missing_ranges(&[], 4), vec![(0, 4)]);
        assert_eq!(missing_ranges(&[(0, 4)], 4), Vec::<(u64, u64)>::new());
    }

    #[test]
    fn partial_survives_and_commits_only_verified() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let content = b"hello, world";
        let digest = digest::of_bytes(content);
        {
            let mut p = store.partial(&digest, 12).unwrap();
            p.file().write_all_at(&content[..5], 0).unwrap();
            p.save(vec![(0, 5)]).unwrap();
        }
        assert!(!store.has_blob(&digest), "a partial blob is not content");
        let p = store.partial(&digest, 12).unwrap();
        assert_eq!(p.done(), &[(0, 5)]);
        p.file().write_all_at(&content[5..], 5).unwrap();
        let wrong = digest::of_bytes(b"other");
        assert!(p.commit(&wrong).is_err());
        assert!(!store.has_blob(&digest));
        let p = store.partial(&digest, 12).unwrap();
        assert!(p.done().is_empty(), "a failed commit discards the partial");
        p.file().write_all_at(content, 0).unwrap();
        p.commit(&digest).unwrap();
        assert_eq!(store.read_blob_by_digest(&digest).unwrap(), content);
        // a state that does not fit is ignored
        let other = digest::of_bytes(b"abc");
        let mut p = store.partial(&other, 3).unwrap();
        p.save(vec![(0, 3)]).unwrap();
        drop(p);
        assert!(store.partial(&other, 3).unwrap().done().is_empty());
    }
}
