//! `img-fsck --repair`: each problem's fix, applied with the gc lock held
//! exclusively (no writer in the store; the caller holds it), in an order
//! that keeps the store consistent if it is interrupted: names first (so
//! that nothing names a blob about to go), then blobs, snapshots and
//! leftovers. A snapshot a running container uses, and problems only the
//! user can solve, are left, with what to do.

use std::fs;

use crate::leftovers::{self, short};
use crate::{Fix, Problem};
use img_container::{owner, Containers};
use img_core::digest::Digest;
use img_core::error::Result;
use img_store::{partial_files, remove_tree, Snapshots, Store};

/// What a repair did, and what it could not.
#[derive(Debug, Default)]
pub(super) struct Repaired {
    /// One line per change, in Docker's words where it has them.
    pub done: Vec<String>,
    /// The problems left, with why.
    pub left: Vec<String>,
}

/// Apply the fix of every problem.
pub(super) fn repair(store: &Store, problems: &[Problem]) -> Result<Repaired> {
    let mut repaired = Repaired::default();
    let mut names: Vec<&Digest> = problems
        .iter()
        .filter_map(|p| match &p.fix {
            Fix::Names(digest) => Some(digest),
            _ => None,
        })
        .collect();
    names.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    names.dedup();
    if !names.is_empty() {
        let lines = store.update_index(|index| {
            let mut lines = Vec::new();
            for digest in &names {
                for entry in index.entries_for(digest) {
                    if let Some(name) = &entry.name {
                        lines.push(format!("untagged: {}", name.familiar()));
                    }
                }
                if index.remove_digest(digest) > 0 {
                    lines.push(format!("deleted: {digest}"));
                }
            }
            Ok(lines)
        })?;
        repaired.done.extend(lines);
    }
    let containers = Containers::of(store).list()?;
    for problem in problems {
        match &problem.fix {
            Fix::Names(_) => {}
            Fix::Remove(path) => {
                if fs::symlink_metadata(path).is_ok() {
                    remove_tree(path)?;
                    repaired.done.push(removed(store, path));
                }
            }
            Fix::Partial(hex) => {
                if remove_partial(store, hex)? {
                    repaired
                        .done
                        .push(format!("removed the partial download of sha256:{hex}"));
                }
            }
            Fix::Snapshot(diff_id) => {
                let runtime_dir = owner::runtime_dir(&store.state_dir());
                let running = containers.iter().find(|c| {
                    c.layers.contains(diff_id)
                        && (Containers::of(store).dir_of(&c.id).is_held()
                            || owner::is_owned(&runtime_dir, &c.id))
                });
                if let Some(c) = running {
                    repaired.left.push(format!(
                        "snapshot {diff_id} is in use by the running container {} ({}): \
                         stop it, then run img-fsck --repair again",
                        c.name,
                        c.short_id()
                    ));
                    continue;
                }
                remove_tree(&Snapshots::of(store).path(diff_id))?;
                repaired.done.push(format!(
                    "dropped snapshot {diff_id} (it is unpacked again when needed)"
                ));
            }
            Fix::Runtime { id } => match leftovers::reap(store, id) {
                Ok(true) => repaired.done.push(format!(
                    "ended container {} (its owner was gone) and its runtime state",
                    short(id)
                )),
                Ok(false) => {}
                Err(e) => repaired.left.push(format!("{}: {e}", problem.text)),
            },
            Fix::Exited(id) => {
                if leftovers::mark_exited(store, id)? {
                    repaired
                        .done
                        .push(format!("marked container {} as exited (255)", short(id)));
                }
            }
            Fix::Manual => repaired.left.push(problem.text.clone()),
        }
    }
    Ok(repaired)
}

/// Remove the partial download of blob `hex` unless a pull holds it now;
/// whether it went.
fn remove_partial(store: &Store, hex: &str) -> Result<bool> {
    let (data, state) = partial_files(&store.state_dir().join("ingest"), hex);
    let Ok(file) = fs::File::open(&data) else {
        return Ok(false);
    };
    if file.try_lock().is_err() {
        return Ok(false); // a pull took it up meanwhile
    }
    let _ = fs::remove_file(state);
    remove_tree(&data)?;
    Ok(true)
}

/// What removing `path` was: a corrupt blob, or a path in the store.
fn removed(store: &Store, path: &std::path::Path) -> String {
    let rel = path.strip_prefix(store.root()).unwrap_or(path);
    let hex = rel
        .strip_prefix("blobs/sha256")
        .ok()
        .and_then(|h| h.to_str())
        .filter(|h| img_core::digest::from_hex(h).is_ok());
    match hex {
        Some(hex) => format!("removed corrupt blob sha256:{hex}"),
        None => format!("removed {}", rel.display()),
    }
}
