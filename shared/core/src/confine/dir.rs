//! One directory handle and the operations on its entries: every one takes
//! a single plain name (never `.`, `..`, empty, or holding a `/` or NUL),
//! acts relative to the handle, and never follows a symbolic link in the
//! name's place. What the name stands for is decided by the directory the
//! handle holds, not by any path string, so nothing here can act outside
//! that directory.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, Timestamps, XattrFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// A directory, held open (`O_PATH`): operations name its entries.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    /// Where it is, for messages only: nothing is ever opened by it.
    shown: PathBuf,
}

/// Flags of every directory handle: a handle for lookups only, never a
/// terminal or a symbolic link.
pub(super) const DIR_FLAGS: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Refuse anything but one plain name: the one check that keeps each
/// operation inside its directory.
pub fn plain(name: &OsStr) -> Result<&OsStr> {
    let bytes = name.as_bytes();
    if bytes.is_empty()
        || bytes == b"."
        || bytes == b".."
        || bytes.contains(&b'/')
        || bytes.contains(&0)
    {
        return Err(Error::invalid(format!(
            "{:?} is not a plain file name (one path element, not . or ..)",
            name.to_string_lossy()
        )));
    }
    Ok(name)
}

/// An operating system error with what was being done.
pub(super) fn failed(what: String, e: Errno) -> Error {
    Error::io(what, io::Error::from(e))
}

impl Dir {
    pub(super) fn new(fd: OwnedFd, shown: PathBuf) -> Dir {
        Dir { fd, shown }
    }

    /// Where the directory is, for messages.
    pub fn shown(&self) -> &Path {
        &self.shown
    }

    /// Where an entry of the directory is, for messages.
    pub fn shown_child(&self, name: &OsStr) -> PathBuf {
        self.shown.join(name)
    }

    /// Another handle of the same directory.
    pub fn try_clone(&self) -> Result<Dir> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| Error::io(format!("holding {}", self.shown.display()), e))?;
        Ok(Dir::new(fd, self.shown.clone()))
    }

    /// The entry `name`'s status (the entry itself, never a link's
    /// target); `None` when there is none.
    pub fn stat(&self, name: &OsStr) -> Result<Option<Stat>> {
        match rustix::fs::statat(&self.fd, plain(name)?, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(stat)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(failed(
                format!("reading {}", self.shown_child(name).display()),
                e,
            )),
        }
    }

    /// The directory's own status.
    pub fn stat_self(&self) -> Result<Stat> {
        rustix::fs::fstat(&self.fd)
            .map_err(|e| failed(format!("reading {}", self.shown.display()), e))
    }

    /// The child directory `name`; an error when it is anything else
    /// (a symbolic link included).
    pub fn open_dir(&self, name: &OsStr) -> Result<Dir> {
        let fd =
            rustix::fs::openat(&self.fd, plain(name)?, DIR_FLAGS, Mode::empty()).map_err(|e| {
                failed(
                    format!("opening the directory {}", self.shown_child(name).display()),
                    e,
                )
            })?;
        Ok(Dir::new(fd, self.shown_child(name)))
    }

    /// Make the directory `name` with `mode` exactly (the umask does not
    /// apply).
    pub fn mkdir(&self, name: &OsStr, mode: u32) -> Result<()> {
        let what = || format!("creating {}", self.shown_child(name).display());
        rustix::fs::mkdirat(&self.fd, plain(name)?, Mode::from_raw_mode(mode))
            .map_err(|e| failed(what(), e))?;
        self.chmod(name, mode)
    }

    /// Make the directory `name`, private (0700 at most) until its mode is
    /// set.
    pub fn create_dir(&self, name: &OsStr) -> Result<()> {
        rustix::fs::mkdirat(&self.fd, plain(name)?, Mode::from_raw_mode(0o700))
            .map_err(|e| failed(format!("creating {}", self.shown_child(name).display()), e))
    }

    /// A new regular file `name` for writing, private (0600) until its
    /// mode is set; an error when anything is there already.
    pub fn create_file(&self, name: &OsStr) -> Result<File> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        rustix::fs::openat(&self.fd, plain(name)?, flags, Mode::from_raw_mode(0o600))
            .map(File::from)
            .map_err(|e| failed(format!("creating {}", self.shown_child(name).display()), e))
    }

    /// The regular file `name`, for reading; an error for a symbolic link.
    pub fn open_file(&self, name: &OsStr) -> Result<File> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
        rustix::fs::openat(&self.fd, plain(name)?, flags, Mode::empty())
            .map(File::from)
            .map_err(|e| failed(format!("opening {}", self.shown_child(name).display()), e))
    }

    /// Make the symbolic link `name` holding `target` (which is never
    /// looked at: a link is followed only where it is used).
    pub fn symlink(&self, target: &OsStr, name: &OsStr) -> Result<()> {
        rustix::fs::symlinkat(target, &self.fd, plain(name)?)
            .map_err(|e| failed(format!("creating {}", self.shown_child(name).display()), e))
    }

    /// What the symbolic link `name` holds.
    pub fn read_link(&self, name: &OsStr) -> Result<OsString> {
        rustix::fs::readlinkat(&self.fd, plain(name)?, Vec::new())
            .map(|target| OsStr::from_bytes(target.as_bytes()).to_os_string())
            .map_err(|e| {
                failed(
                    format!("reading the link {}", self.shown_child(name).display()),
                    e,
                )
            })
    }

    /// Make `name` a hard link to `from`'s entry `source` (the entry
    /// itself, a symbolic link not followed).
    pub fn hard_link(&self, from: &Dir, source: &OsStr, name: &OsStr) -> Result<()> {
        rustix::fs::linkat(
            &from.fd,
            plain(source)?,
            &self.fd,
            plain(name)?,
            AtFlags::empty(),
        )
        .map_err(|e| failed(format!("linking {}", self.shown_child(name).display()), e))
    }

    /// Make a device node or FIFO; `false` when not permitted (not root).
    pub fn mknod(&self, name: &OsStr, kind: FileType, mode: u32, device: u64) -> Result<bool> {
        match rustix::fs::mknodat(
            &self.fd,
            plain(name)?,
            kind,
            Mode::from_raw_mode(mode),
            device,
        ) {
            Ok(()) => Ok(true),
            Err(Errno::PERM) => Ok(false),
            Err(e) => Err(failed(
                format!("creating {}", self.shown_child(name).display()),
                e,
            )),
        }
    }

    /// Rename the entry `name` to `to` in the same directory, replacing
    /// what `to` names unless that is a directory.
    pub fn rename(&self, name: &OsStr, to: &OsStr) -> Result<()> {
        rustix::fs::renameat(&self.fd, plain(name)?, &self.fd, plain(to)?)
            .map_err(|e| failed(format!("renaming {}", self.shown_child(name).display()), e))
    }

    /// Move `from`'s entry `source` to `name` in this directory (both plain
    /// names relative to their handles), replacing what `name` names
    /// unless that is a directory.
    pub fn rename_from(&self, from: &Dir, source: &OsStr, name: &OsStr) -> Result<()> {
        rustix::fs::renameat(&from.fd, plain(source)?, &self.fd, plain(name)?).map_err(|e| {
            failed(
                format!("renaming to {}", self.shown_child(name).display()),
                e,
            )
        })
    }

    /// Remove the entry `name`, a directory with everything in it; whether
    /// there was one. Links in the tree are removed, never followed.
    pub fn remove(&self, name: &OsStr) -> Result<bool> {
        let what = || format!("removing {}", self.shown_child(name).display());
        match rustix::fs::unlinkat(&self.fd, plain(name)?, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(Errno::ISDIR | Errno::PERM) if self.is_dir(name)? => {
                self.open_dir(name)?.clear()?;
                rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR)
                    .map_err(|e| failed(what(), e))?;
                Ok(true)
            }
            Err(e) => Err(failed(what(), e)),
        }
    }

    /// Remove the empty directory `name`; `false` when it is not there or
    /// not empty.
    pub fn remove_empty_dir(&self, name: &OsStr) -> Result<bool> {
        match rustix::fs::unlinkat(&self.fd, plain(name)?, AtFlags::REMOVEDIR) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT | Errno::NOTEMPTY | Errno::EXIST | Errno::NOTDIR) => Ok(false),
            Err(e) => Err(failed(
                format!("removing {}", self.shown_child(name).display()),
                e,
            )),
        }
    }

    /// Remove the file (not a directory) `name`; whether there was one.
    pub fn remove_file(&self, name: &OsStr) -> Result<bool> {
        match rustix::fs::unlinkat(&self.fd, plain(name)?, AtFlags::empty()) {
            Ok(()) => Ok(true),
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(failed(
                format!("removing {}", self.shown_child(name).display()),
                e,
            )),
        }
    }

    fn is_dir(&self, name: &OsStr) -> Result<bool> {
        Ok(self
            .stat(name)?
            .is_some_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory))
    }

    /// Remove everything in the directory.
    pub fn clear(&self) -> Result<()> {
        for name in self.names()? {
            self.remove(&name)?;
        }
        Ok(())
    }

    /// The names of the directory's entries (not `.` and `..`), in the
    /// order the file system lists them.
    pub fn names(&self) -> Result<Vec<OsString>> {
        let what = || format!("listing {}", self.shown.display());
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.fd, ".", flags, Mode::empty())
            .map_err(|e| failed(what(), e))?;
        let mut listing = rustix::fs::Dir::new(fd).map_err(|e| failed(what(), e))?;
        let mut names = Vec::new();
        while let Some(entry) = listing.read() {
            let entry = entry.map_err(|e| failed(what(), e))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(OsStr::from_bytes(name).to_os_string());
            }
        }
        Ok(names)
    }

    /// Set the owner and group of `name` (of a link itself where it is
    /// one); `None` leaves it as it is.
    pub fn chown(&self, name: &OsStr, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
        // `-1` is chown's own "leave it", never an ID.
        let uid = uid
            .filter(|u| *u != u32::MAX)
            .map(rustix::fs::Uid::from_raw);
        let gid = gid
            .filter(|g| *g != u32::MAX)
            .map(rustix::fs::Gid::from_raw);
        rustix::fs::chownat(&self.fd, plain(name)?, uid, gid, AtFlags::SYMLINK_NOFOLLOW).map_err(
            |e| {
                failed(
                    format!("setting the owner of {}", self.shown_child(name).display()),
                    e,
                )
            },
        )
    }

    /// Set the permission bits of `name`, which is not a symbolic link
    /// (those have none, and one is never followed here).
    pub fn chmod(&self, name: &OsStr, mode: u32) -> Result<()> {
        let what = || format!("setting the mode of {}", self.shown_child(name).display());
        // Pinned to the entry itself, then changed through the handle's
        // name in /proc, which stands for that inode and nothing else:
        // `chmod` of a link's handle fails instead of following it.
        let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let entry = rustix::fs::openat(&self.fd, plain(name)?, flags, Mode::empty())
            .map_err(|e| failed(what(), e))?;
        // A link has no mode of its own; glibc refuses it the same way
        // before going through /proc.
        let stat = rustix::fs::fstat(&entry).map_err(|e| failed(what(), e))?;
        if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink {
            return Err(failed(what(), Errno::OPNOTSUPP));
        }
        let mode = Mode::from_raw_mode(mode);
        match rustix::fs::chmod(proc_fd(entry.as_fd()), mode) {
            // No /proc: by name, the handle having shown it is no link.
            Err(Errno::NOENT) if !proc_mounted() => {
                rustix::fs::chmodat(&self.fd, name, mode, AtFlags::empty())
            }
            other => other,
        }
        .map_err(|e| failed(what(), e))
    }

    /// Set the permission bits of the directory itself.
    pub fn chmod_self(&self, mode: u32) -> Result<()> {
        let mode = Mode::from_raw_mode(mode);
        match rustix::fs::chmod(self.proc_path(), mode) {
            Err(Errno::NOENT) if !proc_mounted() => {
                rustix::fs::chmodat(&self.fd, ".", mode, AtFlags::empty())
            }
            other => other,
        }
        .map_err(|e| failed(format!("setting the mode of {}", self.shown.display()), e))
    }

    /// Set the access and modification times of `name` (of a link itself
    /// where it is one).
    pub fn set_times(&self, name: &OsStr, times: &Timestamps) -> Result<()> {
        rustix::fs::utimensat(&self.fd, plain(name)?, times, AtFlags::SYMLINK_NOFOLLOW).map_err(
            |e| {
                failed(
                    format!("setting the time of {}", self.shown_child(name).display()),
                    e,
                )
            },
        )
    }

    /// Set the times of the directory itself.
    pub fn set_times_self(&self, times: &Timestamps) -> Result<()> {
        match rustix::fs::utimensat(rustix::fs::CWD, self.proc_path(), times, AtFlags::empty()) {
            Err(Errno::NOENT) if !proc_mounted() => {
                rustix::fs::utimensat(&self.fd, "", times, AtFlags::EMPTY_PATH)
            }
            other => other,
        }
        .map_err(|e| failed(format!("setting the time of {}", self.shown.display()), e))
    }

    /// Set the owner and group of the directory itself.
    pub fn chown_self(&self, uid: u32, gid: u32) -> Result<()> {
        rustix::fs::chownat(
            &self.fd,
            "",
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
            AtFlags::EMPTY_PATH,
        )
        .map_err(|e| failed(format!("setting the owner of {}", self.shown.display()), e))
    }

    /// Set the extended attribute `key` of `name` (of a link itself where
    /// it is one).
    pub fn set_xattr(&self, name: &OsStr, key: &str, value: &[u8]) -> Result<()> {
        let path = self.proc_path().join(plain(name)?);
        rustix::fs::lsetxattr(&path, key, value, XattrFlags::empty()).map_err(|e| {
            failed(
                format!("setting {key} on {}", self.shown_child(name).display()),
                e,
            )
        })
    }

    /// Set the extended attribute `key` of the directory itself.
    pub fn set_xattr_self(&self, key: &str, value: &[u8]) -> Result<()> {
        rustix::fs::setxattr(self.proc_path(), key, value, XattrFlags::empty())
            .map_err(|e| failed(format!("setting {key} on {}", self.shown.display()), e))
    }

    /// The path in `/proc` that stands for this handle's directory: the
    /// kernel resolves it to the directory itself, wherever that is.
    fn proc_path(&self) -> PathBuf {
        proc_fd(self.fd.as_fd())
    }

    /// The real path of the directory, as the kernel knows it now.
    pub fn real_path(&self) -> Result<PathBuf> {
        std::fs::read_link(self.proc_path())
            .map_err(|e| Error::io(format!("locating {}", self.shown.display()), e))
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn proc_fd(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Whether `/proc` shows this process's descriptors.
fn proc_mounted() -> bool {
    Path::new("/proc/self/fd").is_dir()
}
