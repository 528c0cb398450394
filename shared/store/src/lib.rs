//! # img-store: the image store
//!
//! An OCI image layout that other OCI tools read as it is, plus img's own
//! working area in `.img/` beside it. [`Store`] is the layout: blobs
//! (`blobs.rs`, written through `staging.rs` and `partial.rs`) and names
//! (`names.rs`, found by `lookup.rs`); images are read from it by
//! `images.rs` and written into it by [`compose`]. Beside the layout, with
//! its own type: [`Snapshots`] (layers unpacked for overlay mounts).
//! [`Store::sweep`] (`gc.rs`) collects blobs, snapshots and what builds left,
//! keeping what its caller says containers use; img-fsck (the `img-check` crate) checks it.
//!
//! Everything img keeps on disk is here, and nothing else: no compression,
//! no network, no runtime, so that the programs that only read and name
//! images (img-tag, img-ls, img-rm, img-inspect) link this and `img-core`
//! alone. What fills a snapshot (`img_layers::unpack`) or runs a container
//! (`img_container`) lives above.
//!
//! ```text
//! ROOT/oci-layout           {"imageLayoutVersion":"1.0.0"}
//! ROOT/index.json           one descriptor per name (ref.name annotation), and
//!                           unnamed entries for dangling images
//! ROOT/blobs/sha256/HEX     every blob once, visible only after verification
//! ROOT/.img/                img's working area, private to the store's owner
//!                           (0700: see create.rs)
//! ROOT/.img/ingest/         blobs being written (temporary files)
//! ROOT/.img/lock/index      flock held while index.json is replaced
//! ROOT/.img/lock/gc         shared by writers, exclusive for garbage collection
//! ROOT/.img/lock/gc-queue   the turnstile that queues writers behind a
//!                           waiting collection (see gclock.rs)
//! ROOT/.img/snapshots/      layers unpacked for overlay mounts (see snapshots.rs)
//! ROOT/.img/unsynced-snapshots/  which of them no sync has reached yet
//! ROOT/.img/containers/     containers' records and directories (img_container)
//! ```
//!
//! Invariants: a blob path exists only with verified content (temp file,
//! fsync, rename); `index.json` only ever names blobs that are complete,
//! because writers commit children before parents and the index last; and
//! garbage collection cannot run while a writer holds the shared gc lock, so it
//! never removes a blob that a running writer has ingested but not yet named.

#![warn(missing_docs)]

mod blobs;
pub mod compose;
mod create;
mod files;
mod gc;
pub mod gclock;
mod images;
mod lookup;
mod names;
mod partial;
mod snapshots;
mod space;
mod staging;
pub mod writeback;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use blobs::{BlobWriter, MAX_METADATA_SIZE};
pub use files::{
    file_usage, idle_since, open_lock_file, remove_tree, replace_visible, same_file, tree_size,
    write_atomic, write_json, Durability, Replace,
};
use files::{set_readable, sync_dir};
pub use gc::{BuildCache, InUse, SweepOptions, SweepReport, PARTIAL_MAX_AGE};
pub use lookup::{no_such_image, ImageArg, Resolved};
pub use names::{Entry, Index};
pub use partial::{merge_ranges, missing_ranges, partial_files, partial_name, PartialBlob, Ranges};
pub use snapshots::{Snapshots, SET_ASIDE_PREFIX};
pub use space::is_disk_full;
pub use staging::StagedBlob;

use img_core::error::{Error, IoContext, Kind, Result};

const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_VERSION: &str = "1.0.0";
const STATE_DIR: &str = ".img";

/// An open store rooted at a directory.
pub struct Store {
    root: PathBuf,
    /// The shared gc lock, taken on the first write and held until the store
    /// is dropped (the end of the program), so that garbage collection waits
    /// for every blob this process ingests to be named or abandoned.
    writer_lock: OnceLock<File>,
}

impl Store {
    /// The store root a program uses when `--root` is not given:
    /// `$IMG_ROOT`, else `$XDG_DATA_HOME/img-store`, else
    /// `~/.local/share/img-store`.
    pub fn default_root() -> PathBuf {
        if let Some(root) = std::env::var_os("IMG_ROOT").filter(|r| !r.is_empty()) {
            return PathBuf::from(root);
        }
        if let Some(data) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
            return PathBuf::from(data).join("img-store");
        }
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
        PathBuf::from(home).join(".local/share/img-store")
    }

    /// Open the store at `root`, creating an empty OCI layout there when the
    /// directory is missing or empty (or holds what an interrupted creation
    /// left). A non-empty directory that is not an OCI layout is refused and
    /// left untouched.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        create::create_if_missing(&root)?;
        check_layout(&root.join(LAYOUT_FILE))?;
        let store = Store {
            root,
            writer_lock: OnceLock::new(),
        };
        create::private_dir(&store.state_dir())?;
        for dir in [
            store.blob_dir(),
            store.state_dir().join("ingest"),
            store.lock_dir(),
        ] {
            match fs::create_dir_all(&dir) {
                Ok(()) => {}
                // Another user's store: its private part is closed to this
                // user, who may still read the layout.
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
                Err(e) => return Err(Error::io(format!("creating {}", dir.display()), e)),
            }
        }
        Ok(store)
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// img's own working area beside the layout (`ROOT/.img`).
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    /// Where the blobs are (`ROOT/blobs/sha256`), for img-fsck, which
    /// reads every file there, blob or not.
    pub fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn lock_dir(&self) -> PathBuf {
        self.state_dir().join("lock")
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// Take the shared gc lock once for this process: from now on, garbage
    /// collection in other processes waits until this store is dropped.
    pub fn hold_writer_lock(&self) -> Result<()> {
        if self.writer_lock.get().is_some() {
            return Ok(());
        }
        let file = open_lock_file(&self.lock_dir().join(gclock::GC))?;
        gclock::enter_writer(&self.lock_dir(), &file)?;
        // Another thread may have set it first; its lock serves as well.
        let _ = self.writer_lock.set(file);
        Ok(())
    }
}

fn check_layout(layout: &Path) -> Result<()> {
    let text = fs::read_to_string(layout).io_context(|| format!("reading {}", layout.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::new(
            Kind::FailedPrecondition,
            format!("{} is not valid JSON: {e}", layout.display()),
        )
    })?;
    match value.get("imageLayoutVersion").and_then(|v| v.as_str()) {
        Some(v) if v.starts_with("1.") => Ok(()),
        other => Err(Error::new(
            Kind::FailedPrecondition,
            format!(
                "{} declares image layout version {other:?}; img reads version 1.x",
                layout.display()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_layout_in_empty_dir_and_refuses_foreign_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        Store::open(&root).unwrap();
        assert!(root.join("oci-layout").exists());
        assert!(root.join("index.json").exists());
        Store::open(&root).unwrap();

        let foreign = tmp.path().join("home");
        fs::create_dir(&foreign).unwrap();
        fs::write(foreign.join("notes.txt"), "mine").unwrap();
        let err = Store::open(&foreign).err().unwrap();
        assert_eq!(err.kind(), Kind::FailedPrecondition);
        assert!(err.to_string().contains("not an OCI image layout"));
        let left: Vec<_> = fs::read_dir(&foreign).unwrap().collect();
        assert_eq!(left.len(), 1, "nothing written into a foreign directory");
    }
}
