//! Snapshots: image layers unpacked for overlay mounts, as Docker's
//! overlay2 driver keeps them.
//!
//! ```text
//! ROOT/.img/snapshots/HEX/     one layer, in overlay form, named by its diff_id
//! ROOT/.img/snapshots/tmp-*    a layer being unpacked (or a build step's upper
//!                              directory being made a snapshot)
//! ```
//!
//! A snapshot holds one layer's own entries, its whiteouts written as
//! overlayfs writes them (see `img_layers::extract`'s overlay mode), so a stack
//! of snapshots mounted as overlay lower directories is the image's root
//! filesystem. It is named by the layer's diff_id (the digest of its
//! uncompressed tar), so images that share a layer share its snapshot.
//!
//! A snapshot appears whole or not at all: it is made in a `tmp-`
//! directory ([`Snapshots::scratch`]) and renamed into place
//! ([`Snapshots::adopt`]); `img_layers::unpack` fills it from a layer blob,
//! checking the uncompressed bytes against the diff_id on the way. Writers hold the store's shared gc
//! lock while they make snapshots and register the containers that use
//! them; the sweep (under the exclusive lock) keeps every snapshot an image
//! in the store or a container names.
//!
//! ## After the machine went down
//!
//! A snapshot is not synced when it is made: syncing tens of thousands of
//! files would cost more than unpacking them. So the kernel may still hold
//! its files' contents when the machine loses power, and after the restart
//! the snapshot can be there with files empty or short — and every
//! container and build step would use it as it is. To know which ones, a
//! snapshot is marked before it is renamed into place:
//!
//! ```text
//! ROOT/.img/unsynced-snapshots/BOOT/HEX   an empty file: the snapshot HEX
//!                                         was made while the machine ran
//!                                         the boot BOOT, not synced since
//! ```
//!
//! (BOOT is the kernel's boot id.) Made before the rename, the mark reaches
//! the disk no later than the snapshot's name does: journaled file systems
//! commit metadata changes in the order they were made, and the mark is
//! nothing but a name. A snapshot marked by a boot other than the running
//! one is *suspect*: `img_layers::unpack` unpacks it again from its layer
//! ([`Snapshots::replace`]) before a container or a build step uses it, and
//! a kept container whose snapshot is suspect is not started until img-fsck
//! has compared it with its layer ([`Snapshots::vouch`]). img-prune and
//! img-fsck sync the file system and then drop the marks made before
//! ([`Snapshots::sync`]); the sweep drops the marks of snapshots that are
//! gone.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::{remove_tree, Store};
use img_core::digest::{self, Digest};
use img_core::error::{Error, IoContext, Result};
use img_core::image::Target;

const SNAPSHOTS: &str = "snapshots";
const TMP_PREFIX: &str = "tmp-";
const UNSYNCED: &str = "unsynced-snapshots";
/// The name a suspect snapshot is set aside under when it is replaced
/// (a scratch name: the sweep removes it).
pub const SET_ASIDE_PREFIX: &str = "tmp-suspect-";

/// The snapshots of a store.
pub struct Snapshots<'a> {
    store: &'a Store,
}

impl<'a> Snapshots<'a> {
    /// The snapshots of `store`.
    pub fn of(store: &'a Store) -> Snapshots<'a> {
        Snapshots { store }
    }

    /// The store they belong to.
    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// The directory of the snapshots.
    pub fn dir(&self) -> PathBuf {
        self.store.state_dir().join(SNAPSHOTS)
    }

    /// The snapshot directory of the layer `diff_id` (which may not exist).
    pub fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir().join(diff_id.digest())
    }

    /// A fresh directory beside the snapshots, for one to be made in; it
    /// is removed when dropped unless [`Snapshots::adopt`] takes it.
    pub fn scratch(&self) -> Result<tempfile::TempDir> {
        self.store.hold_writer_lock()?;
        let dir = self.dir();
        fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
        tempfile::Builder::new()
            .prefix(TMP_PREFIX)
            .tempdir_in(&dir)
            .io_context(|| format!("creating a directory in {}", dir.display()))
    }

    /// Make `unpacked` (a directory from [`Snapshots::scratch`] holding
    /// the layer `diff_id` in overlay form) that layer's snapshot. When
    /// another program made it meanwhile, theirs stays.
    pub fn adopt(&self, unpacked: tempfile::TempDir, diff_id: &Digest) -> Result<PathBuf> {
        let path = self.path(diff_id);
        let from = unpacked.keep();
        if let Err(e) = self.mark_unsynced(diff_id) {
            let _ = fs::remove_dir_all(&from);
            return Err(e);
        }
        match fs::rename(&from, &path) {
            Ok(()) => Ok(path),
            Err(_) if path.is_dir() => {
                let _ = fs::remove_dir_all(&from);
                Ok(path)
            }
            Err(e) => {
                let _ = fs::remove_dir_all(&from);
                Err(Error::io(format!("storing snapshot {}", path.display()), e))
            }
        }
    }

    /// Remove the snapshots of layers no image in the store and none of
    /// `also_keep` (the layers of containers) names, and abandoned scratch
    /// directories. The caller holds the gc lock exclusively. Returns how
    /// many snapshots went.
    pub(crate) fn sweep(&self, also_keep: &HashSet<Digest>) -> Result<usize> {
        let dir = self.dir();
        if !dir.is_dir() {
            return Ok(0);
        }
        let mut keep = self.image_diff_ids()?;
        keep.extend(also_keep.iter().cloned());
        let mut removed = 0;
        for entry in fs::read_dir(&dir).io_context(|| format!("listing {}", dir.display()))? {
            let entry = entry.io_context(|| format!("listing {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let unused = name.starts_with(TMP_PREFIX)
                || digest::from_hex(&name).is_ok_and(|d| !keep.contains(&d));
            if unused {
                remove_tree(&entry.path())?;
                removed += 1;
            }
        }
        self.drop_stale_marks()?;
        Ok(removed)
    }

    /// Make the directory `made` (a build step's upper directory, say) the
    /// snapshot of `diff_id`, marked as [`Snapshots::adopt`] marks one;
    /// false when a snapshot of it exists already (`made` stays).
    pub fn adopt_dir(&self, made: &Path, diff_id: &Digest) -> Result<bool> {
        let path = self.path(diff_id);
        if path.exists() {
            return Ok(false);
        }
        self.mark_unsynced(diff_id)?;
        match fs::rename(made, &path) {
            Ok(()) => Ok(true),
            Err(_) if path.is_dir() => Ok(false),
            Err(e) => Err(Error::io(format!("storing snapshot {}", path.display()), e)),
        }
    }

    /// Whether the snapshot of `diff_id` was made before the machine last
    /// started and never synced: its files may have lost what they held
    /// (see the module's text).
    pub fn is_suspect(&self, diff_id: &Digest) -> bool {
        let Ok(boot) = boot_id() else {
            return false; // no /proc: nothing to tell boots apart by
        };
        let Ok(boots) = fs::read_dir(self.marks_dir()) else {
            return false;
        };
        self.path(diff_id).is_dir()
            && boots
                .flatten()
                .filter(|b| b.file_name().to_str() != Some(boot))
                .any(|b| b.path().join(diff_id.digest()).exists())
    }

    /// Put `unpacked` (the layer `diff_id` unpacked afresh) in the place of
    /// its suspect snapshot. The old one is renamed to a scratch name,
    /// which the sweep removes when no program runs (a container may still
    /// have it mounted).
    pub fn replace(&self, unpacked: tempfile::TempDir, diff_id: &Digest) -> Result<PathBuf> {
        let path = self.path(diff_id);
        let aside = self
            .dir()
            .join(format!("{TMP_PREFIX}suspect-{}", diff_id.digest()));
        let _ = remove_tree(&aside);
        match fs::rename(&path, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("moving {} aside", path.display()), e)),
        }
        let fresh = self.adopt(unpacked, diff_id)?;
        self.vouch(diff_id)?;
        Ok(fresh)
    }

    /// Drop the marks that earlier boots left on the snapshot of `diff_id`,
    /// which was found to hold its layer (img-fsck compared them) or was
    /// unpacked again.
    pub fn vouch(&self, diff_id: &Digest) -> Result<()> {
        let boot = boot_id()?;
        for dir in self.mark_dirs()? {
            if dir.file_name().and_then(|n| n.to_str()) != Some(boot) {
                remove_tree(&dir.join(diff_id.digest()))?;
            }
        }
        Ok(())
    }

    /// Sync the file system of the snapshots, then drop the marks this boot
    /// made before: those snapshots are on the disk whole.
    pub fn sync(&self) -> Result<()> {
        let mine = self.marks_dir().join(boot_id()?);
        let Ok(entries) = fs::read_dir(&mine) else {
            return Ok(());
        };
        let marks: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        if marks.is_empty() {
            return Ok(());
        }
        let dir = fs::File::open(self.dir())
            .io_context(|| format!("opening {}", self.dir().display()))?;
        rustix::fs::syncfs(&dir).map_err(|e| {
            Error::io(
                format!("syncing the file system of {}", self.dir().display()),
                e.into(),
            )
        })?;
        for mark in marks {
            remove_tree(&mark)?;
        }
        Ok(())
    }

    /// Where the marks of snapshots not synced yet are, one directory per
    /// boot (see the module's text).
    fn marks_dir(&self) -> PathBuf {
        self.store.state_dir().join(UNSYNCED)
    }

    /// Mark the snapshot of `diff_id`, about to be renamed into place, as
    /// made in this boot and not synced. A boot's directory is made durable
    /// once, so that its marks have a place to be found.
    fn mark_unsynced(&self, diff_id: &Digest) -> Result<()> {
        let marks = self.marks_dir();
        let mine = marks.join(boot_id()?);
        if !mine.is_dir() {
            fs::create_dir_all(&mine).io_context(|| format!("creating {}", mine.display()))?;
            crate::files::sync_dir(&marks)?;
            crate::files::sync_dir(&self.store.state_dir())?;
        }
        let mark = mine.join(diff_id.digest());
        fs::File::create(&mark).io_context(|| format!("creating {}", mark.display()))?;
        // Marks an earlier boot left were the old snapshot's, not this one's.
        self.vouch(diff_id)
    }

    /// The directories of marks, one per boot that left any.
    fn mark_dirs(&self) -> Result<Vec<PathBuf>> {
        let marks = self.marks_dir();
        match fs::read_dir(&marks) {
            Ok(entries) => Ok(entries.flatten().map(|e| e.path()).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io(format!("listing {}", marks.display()), e)),
        }
    }

    /// Remove the marks of snapshots that are gone, and the directories of
    /// earlier boots left empty.
    fn drop_stale_marks(&self) -> Result<()> {
        let boot = boot_id().ok();
        for dir in self.mark_dirs()? {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            let mut left = 0;
            for mark in entries.flatten() {
                if self.dir().join(mark.file_name()).is_dir() {
                    left += 1;
                } else {
                    remove_tree(&mark.path())?;
                }
            }
            if left == 0 && dir.file_name().and_then(|n| n.to_str()) != boot {
                let _ = fs::remove_dir(&dir);
            }
        }
        Ok(())
    }

    /// The diff_ids of every image the index reaches (every platform of
    /// an index that the store holds).
    fn image_diff_ids(&self) -> Result<HashSet<Digest>> {
        let mut ids = HashSet::new();
        for entry in self.store.index()?.entries() {
            let Ok(target) = self.store.load_target(&entry.descriptor) else {
                continue; // an incomplete image has nothing unpacked to keep
            };
            let images = match &target {
                Target::Image(image) => std::slice::from_ref(image.as_ref()),
                Target::Index(index) => index.images.as_slice(),
            };
            for image in images {
                let diff_ids = image.config.rootfs().diff_ids();
                ids.extend(diff_ids.iter().filter_map(|d| digest::parse(d).ok()));
            }
        }
        Ok(ids)
    }
}

/// The kernel's id of the running boot (a UUID), read once.
fn boot_id() -> Result<&'static str> {
    static BOOT: OnceLock<std::result::Result<String, String>> = OnceLock::new();
    let read = BOOT.get_or_init(|| {
        let path = "/proc/sys/kernel/random/boot_id";
        let id = fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
        let id = id.trim().to_string();
        // It names a directory: a UUID's characters only.
        match !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            true => Ok(id),
            false => Err(format!("{path} holds {id:?}, not a boot id")),
        }
    });
    read.as_deref().map_err(|e| Error::invalid(e.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot of `diff_id` holding one file, made as a layer's unpacking
    /// makes it: in scratch, then adopted.
    fn made(snapshots: &Snapshots, diff_id: &Digest) -> PathBuf {
        let tmp = snapshots.scratch().unwrap();
        fs::write(tmp.path().join("f"), diff_id.digest()).unwrap();
        snapshots.adopt(tmp, diff_id).unwrap()
    }

    #[test]
    fn adopting_keeps_the_first_snapshot_made() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let snapshots = Snapshots::of(&store);
        let id = digest::of_bytes(b"one layer");
        let path = made(&snapshots, &id);
        assert_eq!(path, snapshots.path(&id));
        let again = snapshots.scratch().unwrap();
        fs::write(again.path().join("f"), b"other").unwrap();
        assert_eq!(snapshots.adopt(again, &id).unwrap(), path);
        assert_eq!(fs::read(path.join("f")).unwrap(), id.digest().as_bytes());
        let left: Vec<_> = fs::read_dir(snapshots.dir()).unwrap().collect();
        assert_eq!(left.len(), 1, "no scratch directory left behind");
    }

    /// What a power loss leaves: the marks of the running boot now look
    /// like those of an earlier one.
    fn restart(snapshots: &Snapshots) {
        let marks = snapshots.marks_dir();
        let earlier = marks.join("00000000-0000-0000-0000-000000000000");
        fs::rename(marks.join(boot_id().unwrap()), earlier).unwrap();
    }

    #[test]
    fn a_snapshot_not_synced_before_a_restart_is_suspect_until_replaced_or_vouched_for() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let snapshots = Snapshots::of(&store);
        let (one, two, three) = (
            digest::of_bytes(b"1"),
            digest::of_bytes(b"2"),
            digest::of_bytes(b"3"),
        );
        made(&snapshots, &one);
        made(&snapshots, &two);
        let upper = dir.path().join("upper");
        fs::create_dir(&upper).unwrap();
        assert!(snapshots.adopt_dir(&upper, &three).unwrap());
        assert!(!upper.exists());
        // Made in this boot: the page cache holds them whole.
        assert!(![&one, &two, &three].iter().any(|d| snapshots.is_suspect(d)));
        restart(&snapshots);
        assert!([&one, &two, &three].iter().all(|d| snapshots.is_suspect(d)));
        // Unpacked again, or found whole by img-fsck.
        let fresh = snapshots.scratch().unwrap();
        fs::write(fresh.path().join("f"), b"again").unwrap();
        let path = snapshots.replace(fresh, &one).unwrap();
        assert_eq!(fs::read(path.join("f")).unwrap(), b"again");
        snapshots.vouch(&two).unwrap();
        assert!(!snapshots.is_suspect(&one) && !snapshots.is_suspect(&two));
        assert!(snapshots.is_suspect(&three));
        // A sync clears this boot's marks, never an earlier boot's.
        let mine = snapshots.marks_dir().join(boot_id().unwrap());
        assert_eq!(
            fs::read_dir(&mine).unwrap().count(),
            1,
            "the replaced one is marked"
        );
        snapshots.sync().unwrap();
        assert_eq!(fs::read_dir(&mine).unwrap().count(), 0);
        assert!(snapshots.is_suspect(&three));
        // The sweep takes the old copy set aside, and the marks of what it removes.
        let kept: HashSet<Digest> = [one.clone(), two.clone()].into();
        assert_eq!(snapshots.sweep(&kept).unwrap(), 2, "three and the old one");
        assert!(!snapshots.is_suspect(&three));
        let boots: Vec<_> = fs::read_dir(snapshots.marks_dir())
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(
            boots.len(),
            1,
            "the earlier boot's directory went with its last mark"
        );
    }

    #[test]
    fn the_sweep_keeps_what_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store")).unwrap();
        let snapshots = Snapshots::of(&store);
        let one_id = digest::of_bytes(b"1");
        let two_id = digest::of_bytes(b"2");
        made(&snapshots, &one_id);
        made(&snapshots, &two_id);
        let abandoned = snapshots.scratch().unwrap().keep();
        let kept: HashSet<Digest> = [two_id.clone()].into();
        assert_eq!(snapshots.sweep(&kept).unwrap(), 2);
        assert!(!snapshots.path(&one_id).exists());
        assert!(snapshots.path(&two_id).exists());
        assert!(!abandoned.exists());
    }
}
