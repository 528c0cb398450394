//! Removing a `--rm` container's directory off the critical path.
//!
//! Deleting a container's directory (its writable layer, overlayfs's work
//! directory, the bundle) is ext4 metadata work that took 8–21 ms of every
//! `img-run --rm`, between the container's end and img-run's exit status.
//! Instead the directory is renamed, in one step, into the store's trash
//! (`ROOT/.img/trash/ID`, on the same file system), and emptied once the
//! run is over by the container's guard (`owner.rs`), a process of its own
//! that outlives img-run:
//!
//! ```text
//! ROOT/.img/containers/ID/   the container, while it exists
//! ROOT/.img/trash/ID/        the same directory once thrown away
//! ```
//!
//! A detached `--rm` container's monitor throws its directory away the
//! same way, and the reap of a `--rm` container whose owner was killed
//! (`owner.rs`) too: removed in place, that could fail
//! half-way while the dead owner's mount namespace, dying with the
//! container's last processes, still had the root filesystem mounted, and
//! the record was left saying the container runs; trash is swept until it
//! is gone.
//!
//! Nothing is lost: only a directory whose container is gone is thrown
//! away, and the rename is atomic — the container is listed, or it is
//! trash. Nothing leaks: the guard holds a shared flock on the
//! container's directory from its start (it moves with the directory), and
//! every program, when it opens the store, removes the trash that no live
//! guard holds — what a killed guard, or a crash, left. A program that
//! finds the entry before its guard took the lock removes it itself, which
//! is as good.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use img_core::error::{IoContext, Result};
use img_store::remove_tree;

const TRASH: &str = "trash";

/// The store's trash (`STATE/trash`, `STATE` being `ROOT/.img`).
fn dir(state_dir: &Path) -> PathBuf {
    state_dir.join(TRASH)
}

/// Move the container directory `path` (`STATE/containers/ID`) into the
/// trash in one step; one that is gone already is no error.
pub(crate) fn throw_away(path: &Path) -> Result<()> {
    let (Some(name), Some(state_dir)) = (path.file_name(), path.parent().and_then(Path::parent))
    else {
        return remove_tree(path);
    };
    let trash = dir(state_dir);
    let to = trash.join(name);
    let moved = fs::rename(path, &to).or_else(|e| {
        if e.kind() != std::io::ErrorKind::NotFound || !path.exists() {
            return Err(e);
        }
        // The first time: no trash yet.
        match fs::create_dir(&trash) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e),
            _ => fs::rename(path, &to),
        }
    });
    match moved {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        // Anything else (an entry of that name in the trash already):
        // removed the slow way, as before there was a trash.
        Err(_) => remove_tree(path),
    }
}

/// A guard's hold on the container directory `path`, which keeps the
/// store's sweep ([`sweep`]) off it once it is trash: the guard empties it
/// then ([`remove`]). `None` when there is no such directory (a build
/// step's container lives elsewhere, and is never thrown away).
pub(crate) fn hold(path: &Path) -> Option<File> {
    let dir = File::open(path).ok()?;
    dir.try_lock_shared().ok()?;
    Some(dir)
}

/// Remove the trash of the container `id` of the store whose state
/// directory is `state_dir`, if it was thrown away.
pub(crate) fn remove(state_dir: &Path, id: &str) -> Result<()> {
    remove_tree(&dir(state_dir).join(id))
}

/// Remove every entry of the trash that no guard holds (see the module
/// docs); what is held, or cannot be removed, waits for the next sweep
/// (and img-fsck shows what never goes: [`unheld`]).
pub fn sweep(state_dir: &Path) -> Result<usize> {
    Ok(unheld(state_dir)?
        .iter()
        .filter(|path| remove_tree(path).is_ok())
        .count())
}

/// The entries of the trash that no guard holds: nobody's, to be removed.
pub fn unheld(state_dir: &Path) -> Result<Vec<PathBuf>> {
    let trash = dir(state_dir);
    let entries = match fs::read_dir(&trash) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).io_context(|| format!("listing {}", trash.display())),
    };
    Ok(entries
        .flatten()
        .map(|entry| entry.path())
        // A file where only directories go is no one's either.
        .filter(|path| File::open(path).is_ok_and(|f| f.try_lock().is_ok()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(state: &Path, id: &str) -> PathBuf {
        let path = state.join("containers").join(id);
        fs::create_dir_all(path.join("upper/etc")).unwrap();
        fs::write(path.join("upper/etc/file"), b"data").unwrap();
        path
    }

    #[test]
    fn a_thrown_away_directory_is_trash_in_one_step_and_its_guard_removes_it() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path();
        let path = container(state, "a");
        let held = hold(&path).unwrap();
        throw_away(&path).unwrap();
        assert!(!path.exists());
        assert!(state.join("trash/a/upper/etc/file").exists());
        // Gone already: no error.
        throw_away(&path).unwrap();
        // The sweep leaves what a live guard holds.
        assert_eq!(sweep(state).unwrap(), 0);
        assert!(state.join("trash/a").exists());
        remove(state, "a").unwrap();
        drop(held);
        assert!(!state.join("trash/a").exists());
    }

    #[test]
    fn the_sweep_removes_the_trash_nobody_holds() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path();
        assert_eq!(sweep(state).unwrap(), 0, "no trash yet");
        let orphan = container(state, "orphan");
        let kept = container(state, "kept");
        let held = hold(&kept).unwrap();
        throw_away(&orphan).unwrap();
        throw_away(&kept).unwrap();
        assert_eq!(sweep(state).unwrap(), 1);
        assert!(!state.join("trash/orphan").exists());
        assert!(state.join("trash/kept").exists());
        drop(held);
        assert_eq!(sweep(state).unwrap(), 1);
        assert!(!state.join("trash/kept").exists());
    }
}
