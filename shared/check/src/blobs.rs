//! Every file of `blobs/sha256/` hashed against its name, on every core.
//!
//! Hashing one blob cannot be split (sha256 is a chain), so the work is
//! spread by blob: the largest first, each taken by whichever thread is
//! free, so that a store of one huge layer and many small files ends when
//! the huge one does. A thread reads through one buffer that stays in its
//! CPU's cache between the read and the hash, and tells the kernel it reads
//! sequentially (more read-ahead).

use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Class, Fix, Problem};
use img_core::digest::{self, Digest, Hasher};
use img_core::error::{IoContext, Result};
use img_core::parallel::{self, Spare};
use img_store::Store;

/// The read buffer of each hashing thread.
const BUFFER: usize = 256 << 10;

/// The most threads hashing at once.
const MAX_THREADS: usize = 16;

/// What hashing the blob directory found.
#[derive(Debug, Default)]
pub(super) struct Verdicts {
    /// The blobs whose content hashes to their name, with their sizes.
    pub sound: std::collections::HashMap<Digest, u64>,
    /// Blobs whose content does not hash to their name.
    pub corrupt: std::collections::HashSet<Digest>,
    /// Bytes read.
    pub bytes: u64,
    /// Files looked at.
    pub files: usize,
}

/// One file of the blob directory.
struct Candidate {
    path: PathBuf,
    name: String,
    size: u64,
}

/// Hash every blob; problems go to `problems`. `progress` is told the bytes
/// hashed so far and the total.
pub(super) fn verify(
    store: &Store,
    problems: &mut Vec<Problem>,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Verdicts> {
    let dir = store.blob_dir();
    let mut candidates = Vec::new();
    for entry in fs::read_dir(&dir).io_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.io_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        let named = name.len() == 64 && digest::from_hex(&name).is_ok();
        if !named || !is_file {
            let what = if named {
                "not a regular file"
            } else {
                "not named by a sha256 digest"
            };
            problems.push(Problem {
                class: Class::Damage,
                text: format!("blobs/sha256/{name}: {what}; it is no blob"),
                fix: Fix::Remove(entry.path()),
            });
            continue;
        }
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        candidates.push(Candidate {
            path: entry.path(),
            name,
            size,
        });
    }
    // Largest first: the longest hash starts at once.
    candidates.sort_by(|a, b| b.size.cmp(&a.size).then(a.name.cmp(&b.name)));
    let total: u64 = candidates.iter().map(|c| c.size).sum();
    let done = AtomicU64::new(0);
    let threads = parallel::cores(MAX_THREADS);
    let hashed = parallel::map(&candidates, threads, &Spare::default(), |candidate| {
        let outcome = hash_file(candidate, &|n| {
            let now = done.fetch_add(n, Ordering::Relaxed) + n;
            progress(now, total);
        });
        Ok(outcome)
    })?;
    let mut verdicts = Verdicts {
        files: candidates.len(),
        ..Verdicts::default()
    };
    for (candidate, outcome) in candidates.iter().zip(hashed) {
        // The name parsed above.
        let Ok(expected) = digest::from_hex(&candidate.name) else {
            continue;
        };
        match outcome {
            Hashed::Digest(actual, size) => {
                verdicts.bytes += size;
                if actual == expected {
                    verdicts.sound.insert(expected, size);
                } else {
                    problems.push(Problem {
                        class: Class::Damage,
                        text: format!("blob {expected}: its content hashes to {actual} (corrupt)"),
                        fix: Fix::Remove(candidate.path.clone()),
                    });
                    verdicts.corrupt.insert(expected);
                }
            }
            // Removed meanwhile (by img-fsck --repair elsewhere, or by hand):
            // whatever needed it is reported as missing it.
            Hashed::Gone => {}
            Hashed::Unreadable(error) => {
                problems.push(Problem {
                    class: Class::Damage,
                    text: format!("blob {expected}: cannot be read: {error}"),
                    fix: Fix::Remove(candidate.path.clone()),
                });
                verdicts.corrupt.insert(expected);
            }
        }
    }
    Ok(verdicts)
}

enum Hashed {
    Digest(Digest, u64),
    Gone,
    Unreadable(String),
}

fn hash_file(candidate: &Candidate, progress: &dyn Fn(u64)) -> Hashed {
    let mut file = match File::open(&candidate.path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Hashed::Gone,
        Err(e) => return Hashed::Unreadable(e.to_string()),
    };
    let _ = rustix::fs::fadvise(file.as_fd(), 0, None, rustix::fs::Advice::Sequential);
    let mut hasher = Hasher::default();
    let mut buffer = vec![0u8; BUFFER];
    let mut unreported = 0u64;
    loop {
        match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buffer[..n]);
                unreported += n as u64;
                if unreported >= 16 << 20 {
                    progress(unreported);
                    unreported = 0;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Hashed::Unreadable(e.to_string()),
        }
    }
    progress(unreported);
    Hashed::Digest(hasher.digest(), hasher.size())
}
