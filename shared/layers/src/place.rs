//! Making one entry of a layer in the destination: a regular file is
//! created by its plain name in its parent's handle (never through a
//! link), filled, and given its owner, mode, extended attributes and time
//! through its own descriptor; links, device nodes and directories are made
//! by name relative to their parent's handle, found through the
//! destination's [`Root`] (links on the way followed inside it, as tar and
//! umoci do). Directories get their mode and time at the very end
//! ([`Place::finish_dirs`]): writing into a directory changes its time,
//! and a read-only mode would keep its children out.
//!
//! A regular file whose fate is not known yet (a higher layer is still
//! being read) is written into a staging directory of the destination and
//! later moved to its place, or removed: its bytes are written once either
//! way.
//!
//! Both unpackers make their entries here: [`crate::rootfs`] (an image's
//! layers into one tree) and [`crate::extract`] (one layer applied to a
//! directory, or written in overlay form as a snapshot). In overlay form
//! ([`Place::overlay`]) a whiteout is an overlayfs whiteout (a character
//! device 0/0) and an opaque directory carries `trusted.overlay.opaque`,
//! as Docker's overlay2 driver keeps layers.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};

use std::collections::HashSet;

use rustix::fs::{FileType, Gid, Mode, Stat, Uid, XattrFlags};

use crate::tarout::EntryMeta;
use img_core::confine::{self, Dir, Missing, Root};
use img_core::error::{Error, IoContext, Result};
use img_core::timestamp::file_times;

/// One entry as read from its layer, without its content.
#[derive(Debug)]
pub struct Item {
    /// Its cleaned path.
    pub path: Vec<u8>,
    /// Its header and PAX records.
    pub meta: EntryMeta,
    /// A hard link's cleaned target.
    pub hard_link: Option<Vec<u8>>,
    /// A symbolic link's target, as it is.
    pub symlink: Option<Vec<u8>>,
    /// The content's length (regular files).
    pub size: u64,
}

impl Item {
    /// The tar entry `entry`, at the checked path `path` (a hard link to
    /// the checked `hard_link`).
    pub fn of<R: Read>(
        entry: &mut tar::Entry<'_, R>,
        path: Vec<u8>,
        hard_link: Option<Vec<u8>>,
    ) -> Result<Item> {
        let symlink = (entry.header().entry_type() == tar::EntryType::Symlink)
            .then(|| entry.link_name_bytes().unwrap_or_default().into_owned());
        Ok(Item {
            size: entry.size(),
            meta: EntryMeta::of(entry)?,
            path,
            hard_link,
            symlink,
        })
    }

    /// The entry's type (a sparse file is a regular file here).
    pub fn kind(&self) -> tar::EntryType {
        self.meta.header.entry_type()
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind().is_dir()
    }

    /// Whether it has content to be written.
    pub fn is_file(&self) -> bool {
        !self.is_dir()
            && self.hard_link.is_none()
            && !matches!(
                self.kind(),
                tar::EntryType::Symlink
                    | tar::EntryType::Char
                    | tar::EntryType::Block
                    | tar::EntryType::Fifo
            )
    }

    fn mode(&self) -> u32 {
        self.meta.header.mode().unwrap_or(0o644) & 0o7777
    }

    fn mtime(&self) -> u64 {
        self.meta.header.mtime().unwrap_or(0)
    }

    fn shown(&self) -> String {
        String::from_utf8_lossy(&self.path)
            .escape_debug()
            .to_string()
    }
}

/// What making a layer's entries did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Entries written.
    pub written: u64,
    /// Paths deleted by whiteouts and opaque directories.
    pub removed: u64,
    /// Device nodes not made (not root).
    pub skipped_devices: u64,
    /// Extended attributes the filesystem refused.
    pub skipped_xattrs: u64,
}

/// The extended attribute that makes an overlayfs directory opaque.
pub const OVERLAY_OPAQUE: &str = "trusted.overlay.opaque";

/// The destination and what making entries in it did.
pub struct Place<'r> {
    root: &'r Root,
    preserve_owners: bool,
    /// Whiteouts and opaque directories as overlayfs keeps them.
    overlay: bool,
    /// Where files wait for their fate, and how many were put there.
    staging: Option<Dir>,
    staged: AtomicU64,
    /// Directories made or given metadata: (path, mode, mtime).
    dirs: Mutex<Vec<(Vec<u8>, u32, u64)>>,
    written: AtomicU64,
    skipped_devices: AtomicU64,
    skipped_xattrs: AtomicU64,
}

/// Bytes copied at a time from a layer into a file.
const COPY_BUFFER: usize = 1 << 20;

/// Files at least this large are written by a thread of their own while
/// the layer's thread decompresses their next bytes: writing a GiB into
/// the page cache costs about a third of what inflating it does.
const OFFLOAD: u64 = 8 << 20;

/// Buffers in flight between a layer's thread and a file's writer.
const IN_FLIGHT: usize = 3;

impl<'r> Place<'r> {
    /// Make entries inside `root`, with a staging directory `staging` (a
    /// fresh directory of the same file system) for [`Place::stage`].
    pub fn new(root: &'r Root, staging: Option<Dir>, preserve_owners: bool) -> Place<'r> {
        Place {
            root,
            preserve_owners,
            overlay: false,
            staging,
            staged: AtomicU64::new(0),
            dirs: Mutex::new(Vec::new()),
            written: AtomicU64::new(0),
            skipped_devices: AtomicU64::new(0),
            skipped_xattrs: AtomicU64::new(0),
        }
    }

    /// Write in overlay form: [`Place::whiteout`] and [`Place::opaque`]
    /// mark what overlayfs hides, and a directory made where a whiteout is
    /// becomes opaque (it replaces, not merges with, the lower one).
    pub fn overlay(mut self) -> Place<'r> {
        self.overlay = true;
        self
    }

    /// The parent directory of `rel` (made where missing) and its name.
    /// Another thread may be making the same directories: a walk that
    /// lost that race finds them on its next try.
    fn parent<'p>(&self, rel: &'p [u8]) -> Result<(Dir, &'p OsStr)> {
        let mut tries = 0;
        loop {
            match self.root.parent(rel, Missing::Replace) {
                Ok(Some(found)) => return Ok(found),
                Ok(None) => {
                    return Err(Error::invalid(
                        "a parent directory vanished while the image was unpacked",
                    ))
                }
                // Another worker made a directory between the walk's look
                // and its mkdir: the next walk finds it.
                Err(_) if tries < 8 => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Make `item` at its path, its content (a regular file's) read from
    /// `content`. A non-directory already there (an earlier entry of the
    /// same layer) is replaced.
    pub fn make(&self, item: &Item, content: &mut dyn Read, buffer: &mut Vec<u8>) -> Result<()> {
        let (parent, name) = self.parent(&item.path)?;
        let existing = parent.stat(name)?;
        let keep_dir = item.is_dir() && existing.as_ref().is_some_and(confine::is_dir);
        let replaces_whiteout =
            self.overlay && item.is_dir() && existing.as_ref().is_some_and(is_overlay_whiteout);
        if existing.is_some() && !keep_dir {
            parent.remove(name)?;
        }
        if item.is_file() {
            let file = parent.create_file(name)?;
            let what = || parent.shown_child(name).display().to_string();
            self.fill(item, file, content, buffer, &what)?;
        } else {
            self.make_special(item, &parent, name, keep_dir)?;
        }
        if replaces_whiteout {
            parent.set_xattr(name, OVERLAY_OPAQUE, b"y")?;
        }
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Write `item`'s content into the staging directory; the name it got
    /// there, for [`Place::adopt`] or [`Place::discard`].
    pub fn stage(
        &self,
        item: &Item,
        content: &mut dyn Read,
        buffer: &mut Vec<u8>,
    ) -> Result<OsString> {
        let staging = self.staging()?;
        let number = self.staged.fetch_add(1, Ordering::Relaxed);
        let name = OsString::from(number.to_string());
        let file = staging.create_file(&name)?;
        self.fill(item, file, content, buffer, &|| item.shown())?;
        Ok(name)
    }

    /// Move the staged file `staged` to `item`'s path.
    pub fn adopt(&self, item: &Item, staged: &OsStr) -> Result<()> {
        let (parent, name) = self.parent(&item.path)?;
        if parent.stat(name)?.is_some() {
            parent.remove(name)?;
        }
        parent.rename_from(self.staging()?, staged, name)?;
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Remove the staged file `staged`, which the image does not show.
    pub fn discard(&self, staged: &OsStr) -> Result<()> {
        self.staging()?.remove_file(staged).map(|_| ())
    }

    fn staging(&self) -> Result<&Dir> {
        self.staging
            .as_ref()
            .ok_or_else(|| Error::invalid("staging a file needs a staging directory"))
    }

    /// In overlay form, an overlayfs whiteout in `target`'s place: what
    /// the layers below have there is deleted from the overlay.
    pub fn whiteout(&self, target: &[u8]) -> Result<()> {
        let (dir, name) = self.parent(target)?;
        dir.remove(name)?;
        if !dir.mknod(name, FileType::CharacterDevice, 0, 0)? {
            return Err(Error::new(
                img_core::Kind::Io,
                format!(
                    "writing the whiteout {}: not permitted (overlay layers need root)",
                    dir.shown_child(name).display()
                ),
            ));
        }
        Ok(())
    }

    /// In overlay form, mark the directory `dir` (`None`: the root) opaque
    /// (made where missing): its children in the layers below are hidden.
    pub fn opaque(&self, dir: Option<&[u8]>) -> Result<()> {
        let found = self.root.dir(dir.unwrap_or_default(), Missing::Replace)?;
        found
            .ok_or_else(|| Error::invalid("a directory vanished while the layer was unpacked"))?
            .set_xattr_self(OVERLAY_OPAQUE, b"y")
    }

    /// Make `name` in `dir` a hard link to the entry at `target`.
    pub fn hard_link(&self, path: &[u8], target: &[u8]) -> Result<()> {
        let (from, source) = self
            .root
            .parent(target, Missing::Absent)?
            .filter(|(dir, source)| dir.stat(source).is_ok_and(|s| s.is_some()))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "hard link {} points to {}, which is not there before it",
                    String::from_utf8_lossy(path).escape_debug(),
                    String::from_utf8_lossy(target).escape_debug()
                ))
            })?;
        let (parent, name) = self.parent(path)?;
        if parent.stat(name)?.is_some() {
            parent.remove(name)?;
        }
        parent.hard_link(&from, source, name)?;
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Copy the content into `file`, then set its metadata through it.
    fn fill(
        &self,
        item: &Item,
        mut file: File,
        content: &mut dyn Read,
        buffer: &mut Vec<u8>,
        what: &dyn Fn() -> String,
    ) -> Result<()> {
        let copied = if item.size >= OFFLOAD {
            copy_beside(content, &mut file, what)?
        } else {
            copy(content, &mut file, item.size, buffer, what)?
        };
        if copied != item.size {
            return Err(Error::invalid(format!(
                "{} ended early (truncated layer)",
                item.shown()
            )));
        }
        let failed = |e| confine::os_error(format!("setting the metadata of {}", what()), e);
        if self.preserve_owners {
            let (uid, gid) = owner(item);
            rustix::fs::fchown(&file, uid, gid).map_err(failed)?;
        }
        for (key, value) in item.meta.xattrs() {
            if rustix::fs::fsetxattr(&file, key, value, XattrFlags::empty()).is_err() {
                self.skipped_xattrs.fetch_add(1, Ordering::Relaxed);
            }
        }
        // After chown, which clears set-user-ID bits.
        rustix::fs::fchmod(&file, Mode::from_raw_mode(item.mode())).map_err(failed)?;
        rustix::fs::futimens(&file, &file_times(item.mtime())).map_err(failed)?;
        Ok(())
    }

    /// A directory, symbolic link, device node or FIFO.
    fn make_special(&self, item: &Item, parent: &Dir, name: &OsStr, keep_dir: bool) -> Result<()> {
        let kind = item.kind();
        match kind {
            tar::EntryType::Directory => {
                if !keep_dir {
                    parent.create_dir(name)?;
                }
                let mut dirs = self.dirs.lock().unwrap_or_else(|p| p.into_inner());
                dirs.push((item.path.clone(), item.mode(), item.mtime()));
            }
            tar::EntryType::Symlink => {
                let target = item.symlink.as_deref().unwrap_or_default();
                parent.symlink(OsStr::from_bytes(target), name)?;
            }
            _ => {
                let file_type = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let header = &item.meta.header;
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let device = rustix::fs::makedev(major, minor);
                if !parent.mknod(name, file_type, item.mode(), device)? {
                    self.skipped_devices.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
            }
        }
        if self.preserve_owners {
            let (uid, gid) = owner(item);
            parent.chown(name, uid.map(Uid::as_raw), gid.map(Gid::as_raw))?;
        }
        for (key, value) in item.meta.xattrs() {
            if parent.set_xattr(name, key, value).is_err() {
                self.skipped_xattrs.fetch_add(1, Ordering::Relaxed);
            }
        }
        match kind {
            tar::EntryType::Directory => {}
            tar::EntryType::Symlink => parent.set_times(name, &file_times(item.mtime()))?,
            _ => {
                parent.chmod(name, item.mode())?;
                parent.set_times(name, &file_times(item.mtime()))?;
            }
        }
        Ok(())
    }

    /// Give the directories their modes and times, deepest last written
    /// first (a path written twice gets what its last entry says); each is
    /// found again by its path, inside the root.
    pub fn finish_dirs(&self) -> Result<()> {
        let dirs = std::mem::take(&mut *self.dirs.lock().unwrap_or_else(|p| p.into_inner()));
        let mut done: HashSet<&[u8]> = HashSet::new();
        for (path, mode, mtime) in dirs.iter().rev() {
            if !done.insert(path) {
                continue;
            }
            if let Some((parent, name)) = self.root.parent(path, Missing::Absent)? {
                if parent.stat(name)?.is_some_and(|s| confine::is_dir(&s)) {
                    parent.chmod(name, *mode)?;
                    parent.set_times(name, &file_times(*mtime))?;
                }
            }
        }
        Ok(())
    }

    /// What was done.
    pub fn report(&self) -> Report {
        Report {
            written: self.written.load(Ordering::Relaxed),
            removed: 0,
            skipped_devices: self.skipped_devices.load(Ordering::Relaxed),
            skipped_xattrs: self.skipped_xattrs.load(Ordering::Relaxed),
        }
    }
}

/// Whether `stat` is an overlayfs whiteout's: a character device 0/0.
pub fn is_overlay_whiteout(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice && stat.st_rdev == 0
}

fn owner(item: &Item) -> (Option<Uid>, Option<Gid>) {
    let header = &item.meta.header;
    let uid = header.uid().ok().and_then(|u| u32::try_from(u).ok());
    let gid = header.gid().ok().and_then(|g| u32::try_from(g).ok());
    // `-1` is chown's own "leave it", never an ID.
    (
        uid.filter(|u| *u != u32::MAX).map(Uid::from_raw),
        gid.filter(|g| *g != u32::MAX).map(Gid::from_raw),
    )
}

/// Read `content` to its end into `file`, through `buffer`; the bytes
/// copied.
fn copy(
    content: &mut dyn Read,
    file: &mut File,
    size: u64,
    buffer: &mut Vec<u8>,
    what: &dyn Fn() -> String,
) -> Result<u64> {
    let want = usize::try_from(size)
        .unwrap_or(COPY_BUFFER)
        .clamp(1, COPY_BUFFER);
    if buffer.len() < want {
        buffer.resize(want, 0);
    }
    let mut copied = 0u64;
    loop {
        let n = read(content, buffer)?;
        if n == 0 {
            return Ok(copied);
        }
        file.write_all(&buffer[..n])
            .io_context(|| format!("writing {}", what()))?;
        copied += n as u64;
    }
}

/// [`copy`], the writes made by a thread of their own.
fn copy_beside(content: &mut dyn Read, file: &mut File, what: &dyn Fn() -> String) -> Result<u64> {
    let (full, filled) = mpsc::sync_channel::<(Vec<u8>, usize)>(IN_FLIGHT);
    let (back, empty) = mpsc::channel::<Vec<u8>>();
    for _ in 0..IN_FLIGHT {
        // The receiver is right here: sending cannot fail.
        let _ = back.send(vec![0u8; COPY_BUFFER]);
    }
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> std::io::Result<()> {
            for (buffer, n) in filled {
                file.write_all(&buffer[..n])?;
                // Once reading stopped nobody takes it back: dropped.
                let _ = back.send(buffer);
            }
            Ok(())
        });
        let mut copied = 0u64;
        let mut outcome = Ok(());
        // A writer that failed drops its end: no buffer comes back then.
        while let Ok(mut buffer) = empty.recv() {
            match read(content, &mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    copied += n as u64;
                    if full.send((buffer, n)).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        drop(full);
        let written = match writer.join() {
            Ok(written) => written.io_context(|| format!("writing {}", what())),
            Err(_) => Err(Error::invalid(format!(
                "writing {}: its thread panicked",
                what()
            ))),
        };
        outcome.and(written).map(|()| copied)
    })
}

/// One read of a layer's content; a read error is the layer's.
fn read(content: &mut dyn Read, buffer: &mut [u8]) -> Result<usize> {
    // A layer unpacked into a build's snapshot stops with the build.
    img_core::cancel::check()?;
    loop {
        match content.read(buffer) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(crate::check::bad_tar(e)),
        }
    }
}
