//! # img-check: `img-fsck`'s body — the store checked whole, and repaired
//! on request.
//!
//! It sits above the store, the layers and the containers because it
//! checks what each of them keeps: snapshots are compared with their layers
//! unpacked afresh by `img_layers`' own code, containers against their
//! images and their owners (`img_container::owner`).
//!
//! What is checked, each in a module of its own:
//! * [`blobs`] — every blob hashes to its name (on every core);
//! * [`images`] — every name reaches a whole image: manifest or index,
//!   config, layers, each a sound blob of the declared size; an index holds
//!   at least one of its images; `--deep` also hashes each layer's tar
//!   against its config's diff_id;
//! * [`snapshots`] — each unpacked layer matches its layer unpacked afresh
//!   (against the diff_id);
//! * [`leftovers`] — containers against their images and the runtime's
//!   state, and what interrupted programs left: temporary files, abandoned
//!   partial downloads, scratch and build directories.
//!
//! A problem is either **damage** (something the store promises is not
//! so) or a **leftover** (space nobody will use); each carries its fix,
//! which [`repair`] applies with `--repair`.
//!
//! Locks: a check holds the gc lock shared, as a writer does, so that no
//! garbage collection removes what it is looking at; the leftovers that
//! belong to running writers are judged only if the lock can then be taken
//! exclusively at once (no writer is in). A repair holds it exclusively
//! from the start (through the queue, for a bounded time, as img-prune),
//! so that nothing changes under it. Either way the store is safe beside
//! running programs.

mod blobs;
mod images;
mod leftovers;
mod repair;
mod snapshots;
mod tree;

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::PathBuf;

use oci_spec::image::Descriptor;

use img_core::digest::Digest;
use img_core::error::Result;
use img_core::progress::{Progress, Quiet};
use img_store::gclock::{self, Wait};
use img_store::Store;

/// What `img-fsck` was asked to do.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options {
    /// Fix what can be fixed (`--repair`).
    pub repair: bool,
    /// Also hash every layer's uncompressed tar (`--deep`).
    pub deep: bool,
}

/// What kind of problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Something the store promises is not so: a corrupt or missing blob, an
    /// incomplete image, a snapshot that differs from its layer.
    Damage,
    /// Space an interrupted program left that nobody will use.
    Leftover,
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Class::Damage => "damaged",
            Class::Leftover => "leftover",
        })
    }
}

/// One problem found.
#[derive(Debug, Clone)]
pub struct Problem {
    /// Damage or leftover.
    pub class: Class,
    /// What is wrong, one line, naming its subject.
    pub text: String,
    /// What `--repair` does about it.
    fix: Fix,
}

/// How a problem is repaired.
#[derive(Debug, Clone)]
enum Fix {
    /// Remove this file or tree (a corrupt blob, something that is no
    /// blob, a leftover).
    Remove(PathBuf),
    /// Remove the partial download of this blob (hex), unless a pull took
    /// it up meanwhile.
    Partial(String),
    /// Drop the snapshot of this diff_id: it is unpacked again when needed.
    Snapshot(Digest),
    /// Remove the index entries (every name) of this manifest or index.
    Names(Digest),
    /// End the container whose owner died: its processes and the
    /// runtime's state of it.
    Runtime {
        /// The container's ID.
        id: String,
    },
    /// Record that the container's process ended.
    Exited(String),
    /// Only the user can: the problem's text says how.
    Manual,
}

/// What was looked at.
#[derive(Debug, Default, Clone)]
pub struct Checked {
    /// Blob files hashed.
    pub blobs: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Index entries followed.
    pub images: usize,
    /// Snapshots compared with their layers.
    pub snapshots: usize,
    /// Containers.
    pub containers: usize,
}

/// What a check (and repair) found and did.
#[derive(Debug, Default)]
pub struct Report {
    /// Every problem found, in the order found.
    pub problems: Vec<Problem>,
    /// The index entries of the damaged images, as records.
    pub damaged: Vec<Descriptor>,
    /// What was looked at.
    pub checked: Checked,
    /// Things worth knowing that are no problem, one line each.
    pub notes: Vec<String>,
    /// What `--repair` did, one line each.
    pub repaired: Vec<String>,
    /// Problems `--repair` could not fix, with what to do.
    pub left: Vec<String>,
}

impl Report {
    /// Whether the store is sound: nothing found, or (after a repair)
    /// nothing left.
    pub fn is_clean(&self, repaired: bool) -> bool {
        match repaired {
            true => self.left.is_empty(),
            false => self.problems.is_empty(),
        }
    }
}

/// Check the whole store (see the module docs), repairing with
/// `options.repair`. Progress (bytes hashed) goes to `progress`.
pub fn fsck(store: &Store, options: &Options, progress: &dyn Progress) -> Result<Report> {
    if !options.repair {
        store.hold_writer_lock()?;
        let mut report = check(store, options, progress)?;
        let judged = store.with_gc_exclusive(Wait::No, || {
            let mut found = Vec::new();
            leftovers::of_writers(store, &mut found)?;
            Ok(found)
        })?;
        match judged {
            Some(found) => report.problems.extend(found),
            None => report.notes.push(
                "programs are writing to the store: the temporary files they may own were \
                 not judged"
                    .to_string(),
            ),
        }
        return Ok(report);
    }
    // A writer first, so that what the repair writes (index.json,
    // scratch directories) needs no lock this process does not hold.
    store.hold_writer_lock()?;
    let wait = Wait::Bounded {
        budget: gclock::collector_wait(),
        say: true,
    };
    let report = store.with_gc_exclusive(wait, || {
        let mut report = check(store, options, progress)?;
        leftovers::of_writers(store, &mut report.problems)?;
        let done = repair::repair(store, &report.problems)?;
        report.repaired = done.done;
        report.left = done.left;
        Ok(report)
    })?;
    // A bounded wait either gets the lock or fails.
    Ok(report.unwrap_or_default())
}

/// Every problem found, one line each (empty when the store is
/// sound); see [`fsck`].
pub fn verify(store: &Store) -> Result<Vec<String>> {
    let report = fsck(store, &Options::default(), &Quiet)?;
    Ok(report
        .problems
        .iter()
        .map(|p| format!("{}: {}", p.class, p.text))
        .collect())
}

/// Everything but the leftovers of writers.
fn check(store: &Store, options: &Options, progress: &dyn Progress) -> Result<Report> {
    let mut report = Report::default();
    let problems = &mut report.problems;
    // The names first: every blob they reach is in the store before
    // they name it, and none goes while this process holds the gc lock.
    let entries = match store.index() {
        Ok(index) => index.entries(),
        Err(e) => {
            problems.push(Problem {
                class: Class::Damage,
                text: format!("{e}"),
                fix: Fix::Manual,
            });
            Vec::new()
        }
    };
    let live = std::io::stderr().is_terminal();
    if live {
        progress.status("blobs", "Verifying");
    }
    let show = |done: u64, total: u64| progress.bytes("blobs", "Verifying", done, total);
    let verdicts = blobs::verify(store, problems, &show)?;
    if live {
        progress.status("blobs", "Verified");
        progress.finish();
    }
    report.checked.blobs = verdicts.files;
    report.checked.bytes = verdicts.bytes;
    let images = images::check(store, &entries, &verdicts, problems);
    report.checked.images = images.entries;
    let unreached: Vec<u64> = verdicts
        .sound
        .iter()
        .filter(|(digest, _)| !images.reached.contains(*digest))
        .map(|(_, size)| *size)
        .collect();
    if !unreached.is_empty() {
        report.notes.push(format!(
            "{} blobs ({}) belong to no image (img-prune -f removes them)",
            unreached.len(),
            img_core::format::human_size_precision(unreached.iter().sum(), 4)
        ));
    }
    let snapshots = snapshots::check(store, &images, problems)?;
    report.checked.snapshots = snapshots.compared;
    if options.deep {
        images::check_diff_ids(store, &images, &snapshots.hashed, problems)?;
    }
    report.checked.containers = leftovers::containers(store, problems)?;
    let (waiting, bytes) = leftovers::partials(store, problems);
    if waiting > 0 {
        report.notes.push(format!(
            "{waiting} partial downloads ({}) wait for their pull to continue them \
             (img-prune --system -f removes them now)",
            img_core::format::human_size_precision(bytes, 4)
        ));
    }
    let damaged: HashSet<&Digest> = report
        .problems
        .iter()
        .filter_map(|p| match &p.fix {
            Fix::Names(digest) => Some(digest),
            _ => None,
        })
        .collect();
    report.damaged = entries
        .iter()
        .filter(|e| damaged.contains(e.digest()))
        .map(|e| e.descriptor.clone())
        .collect();
    Ok(report)
}
