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

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};

use rustix::fs::{FileType, Gid, Mode, Uid, XattrFlags};

use crate::extract::Report;
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

/// The destination and what making entries in it did.
pub struct Place<'r> {
    root: &'r Root,
    preserve_owners: bool,
    /// Where files wait for their fate, and how many were put there.
    staging: Dir,
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
    /// fresh directory of the same file system).
    pub fn new(root: &'r Root, staging: Dir, preserve_owners: bool) -> Place<'r> {
        Place {
            root,
            preserve_owners,
            staging,
            staged: AtomicU64::new(0),
            dirs: Mutex::new(Vec::new()),
            written: AtomicU64::new(0),
            skipped_devices: AtomicU64::new(0),
            skipped_xattrs: AtomicU64::new(0),
        }
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
        let number = self.staged.fetch_add(1, Ordering::Relaxed);
        let name = OsString::from(number.to_string());
        let file = self.staging.create_file(&name)?;
        self.fill(item, file, content, buffer, &|| item.shown())?;
        Ok(name)
    }

    /// Move the staged file `staged` to `item`'s path.
    pub fn adopt(&self, item: &Item, staged: &OsStr) -> Result<()> {
        let (parent, name) = self.parent(&item.path)?;
        if parent.stat(name)?.is_some() {
            parent.remove(name)?;
        }
        parent.rename_from(&self.staging, staged, name)?;
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Remove the staged file `staged`, which the image does not show.
    pub fn discard(&self, staged: &OsStr) -> Result<()> {
        self.staging.remove_file(staged).map(|_| ())
    }

    /// Make `name` in `dir` a hard link to the entry at `target`.
    pub fn hard_link(&self, path: &[u8], target: &[u8]) -> Result<()> {
        let (from, source) = self
            .root
            .parent(target, Missing::Absent)?
            .filter(|(dir, source)| dir.stat(source).is_ok_and(|s| s.is_some()))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "hard link {} points to {}, which the image does not have",
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
    /// first; each is found again by its path, inside the root.
    pub fn finish_dirs(&self) -> Result<()> {
        let dirs = std::mem::take(&mut *self.dirs.lock().unwrap_or_else(|p| p.into_inner()));
        for (path, mode, mtime) in dirs.iter().rev() {
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
    loop {
        match content.read(buffer) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(crate::check::bad_tar(e)),
        }
    }
}
