//! The file-system steps everything img keeps is written and removed with:
//! a file replaced whole or not at all ([`Replace`]; [`write_atomic`] and
//! [`write_json`] for the store's own files), a tree removed, a tree's size.
//!
//! Every replaced file goes through a temporary file renamed over it, so a
//! reader sees the old content or the new, never a part. How long the new
//! content lasts is each caller's choice, made where the file's job is
//! known: the store's files and records are synced with their directory (a
//! crash of the machine keeps them), a download's progress is only renamed
//! (losing it costs a download, and a sync per saved range would cost
//! more). The temporary file's prefix is part of the choice: the sweeps
//! that clean up after a killed writer recognise their area's prefixes.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use img_core::error::{Error, IoContext, Result};

/// How a replaced file's new content is made to last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Only renamed into place: whole or absent after any crash, but a
    /// crash of the machine may lose it.
    Renamed,
    /// The file synced before the rename: its content is on disk, though
    /// a crash of the machine may still lose the rename.
    FileSynced,
    /// The file synced before the rename, and its directory after it: the
    /// new content survives a crash of the machine.
    DirectorySynced,
}

/// How a file is replaced: whole or not at all, always; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replace {
    /// The temporary file's name prefix.
    pub prefix: &'static str,
    /// How the new content is made to last.
    pub durability: Durability,
    /// The file's mode; `None` keeps the temporary file's 0600.
    pub mode: Option<u32>,
}

impl Replace {
    /// The store's files: synced with their directory, world-readable (as
    /// other OCI tools write a layout), the temporary file `.tmp-*`.
    pub const DURABLE: Replace = Replace {
        prefix: ".tmp-",
        durability: Durability::DirectorySynced,
        mode: Some(0o644),
    };

    /// What matters only while the machine runs — notes for the reaper of
    /// a killed program, a container's state while it runs — whose loss in
    /// a crash changes nothing, since a crash ends every process they speak
    /// of: renamed into place unsynced, world-readable, `.tmp-*`.
    pub const VISIBLE: Replace = Replace {
        prefix: ".tmp-",
        durability: Durability::Renamed,
        mode: Some(0o644),
    };

    /// Replace `path` with `bytes`, the temporary file made in `dir` (the
    /// same file system as `path`).
    pub fn write(&self, dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix(self.prefix)
            .tempfile_in(dir)
            .io_context(|| format!("creating a temporary file in {}", dir.display()))?;
        tmp.write_all(bytes)
            .and_then(|()| match self.durability {
                Durability::Renamed => Ok(()),
                Durability::FileSynced | Durability::DirectorySynced => tmp.as_file().sync_all(),
            })
            .io_context(|| format!("writing {}", path.display()))?;
        if let Some(mode) = self.mode {
            set_mode(tmp.path(), mode)?;
        }
        tmp.persist(path)
            .map_err(|e| Error::io(format!("replacing {}", path.display()), e.error))?;
        match (self.durability, path.parent()) {
            (Durability::DirectorySynced, Some(parent)) => sync_dir(parent),
            _ => Ok(()),
        }
    }

    /// Replace `path` with `value` as compact JSON ([`img_core::json::encode`]).
    pub fn write_json(&self, dir: &Path, path: &Path, value: &impl Serialize) -> Result<()> {
        self.write(dir, path, &img_core::json::encode(value)?)
    }
}

/// Replace `path` (inside `dir`) with `bytes` atomically and durably:
/// temp file, fsync, rename, fsync of the directory ([`Replace::DURABLE`]).
pub fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    Replace::DURABLE.write(dir, path, bytes)
}

/// Replace `path` (inside `dir`) with `bytes` so that a reader sees the
/// old or the new content, never a part, without syncing
/// ([`Replace::VISIBLE`]).
pub fn replace_visible(dir: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    Replace::VISIBLE.write(dir, path, bytes)
}

/// Replace `path` (inside `dir`) with `value` as compact JSON, atomically
/// and durably: a record img keeps ([`Replace::DURABLE`]).
pub fn write_json(dir: &Path, path: &Path, value: &impl Serialize) -> Result<()> {
    Replace::DURABLE.write_json(dir, path, value)
}

/// Remove a file, or a directory tree.
pub fn remove_tree(path: &Path) -> Result<()> {
    let removed = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match removed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", path.display()), e)),
    }
}

/// The bytes the files under `path` hold (apparent sizes; unreadable
/// entries count as nothing).
pub fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}

/// The bytes removing `path` frees: its length, or less for a sparse
/// file (a download writes its pieces at their offsets); nothing for a
/// file that is gone.
pub fn file_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path)
        .map(|m| m.len().min(m.blocks() * 512))
        .unwrap_or(0)
}

/// How long ago `path` was last written, as seen at `now`; `None` when it
/// is gone.
pub fn idle_since(path: &Path, now: std::time::SystemTime) -> Option<std::time::Duration> {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| now.duration_since(t).unwrap_or_default())
}

/// Open the lock file `path` for flock, making it when it is missing.
pub fn open_lock_file(path: &Path) -> Result<File> {
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .io_context(|| format!("opening lock file {}", path.display()))
}

/// Whether `file` is still the file at `path`: a lock file removed (and
/// perhaps made anew) while this process waited for it locks nothing.
pub fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

/// tempfile creates 0600 files; store files are world-readable like the
/// other OCI tools write them.
pub(crate) fn set_readable(path: &Path) -> Result<()> {
    set_mode(path, 0o644)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .io_context(|| format!("setting permissions of {}", path.display()))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .io_context(|| format!("syncing directory {}", dir.display()))
}
