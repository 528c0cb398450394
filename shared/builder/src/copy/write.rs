//! Writing a copy into the root filesystem being built.
//!
//! The destination is resolved inside the root filesystem with symbolic
//! links followed as if it were `/`; directories missing on the way are
//! made with mode 0755, owned by `--chown`'s user or 0:0. Inside a copied
//! directory every entry is written under a directory already resolved
//! there, and an existing link in an entry's place is replaced (a file,
//! link or FIFO) or followed inside the root (a directory), so a write
//! never leaves the root filesystem.
//!
//! An existing file in a file's place is replaced; an existing directory
//! there is an error, as is a file where a directory must go. Files keep
//! their mode (or get `--chmod`'s) and their access and modification times;
//! directories get theirs after their contents are written, since writing
//! into a directory changes its time. Files of one copy that were hard
//! links to each other in the source are written as hard links again.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Timespec, Timestamps, CWD};

use super::scoped;
use super::source::{Entry, Finder, Found, Visit};
use super::{Dest, Report, Request};
use img_core::error::{Error, IoContext, Result};

/// The metadata one written entry gets.
pub struct Meta {
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Permission bits; `None` for a symbolic link, which has none.
    pub mode: Option<u32>,
    /// Access and modification times; `None` keeps the time of writing.
    pub times: Option<(Timespec, Timespec)>,
}

/// Writes the sources of one copy, counting what it writes.
pub struct Writer<'r> {
    req: &'r Request<'r>,
    dest: &'r Dest,
    /// Files written so far, by source (device, inode), for hard links.
    written: HashMap<(u64, u64), PathBuf>,
    report: Report,
}

impl<'r> Writer<'r> {
    /// A writer of `req`'s sources to `dest`.
    pub fn new(req: &'r Request<'r>, dest: &'r Dest) -> Writer<'r> {
        Writer {
            req,
            dest,
            written: HashMap::new(),
            report: Report::default(),
        }
    }

    /// Start a new source: hard links are not made to what earlier
    /// sources wrote.
    pub fn forget_hard_links(&mut self) {
        self.written.clear();
    }

    /// What was written.
    pub fn finish(self) -> Report {
        self.report
    }

    /// The request being written.
    pub fn request(&self) -> &Request<'r> {
        self.req
    }

    /// The counts, for ADD's downloads and archives.
    pub fn report(&mut self) -> &mut Report {
        &mut self.report
    }

    /// The owner of what is written: `--chown`'s, or the source's when
    /// kept (`meta` given), or 0:0.
    pub fn owner(&self, source: Option<&fs::Metadata>) -> (u32, u32) {
        match (self.req.owner, source) {
            (Some(owner), _) => owner,
            (None, Some(meta)) if self.req.preserve_owners => (meta.uid(), meta.gid()),
            _ => (0, 0),
        }
    }

    /// The mode of what is written from a source entry of mode `mode`.
    pub fn mode(&self, mode: u32, is_dir: bool) -> u32 {
        match &self.req.chmod {
            Some(chmod) => chmod.apply(mode, is_dir),
            None => mode & 0o7777,
        }
    }

    /// The metadata a copy of the source entry `source` gets.
    fn meta_of(&self, source: &fs::Metadata) -> Meta {
        let (uid, gid) = self.owner(Some(source));
        let mode =
            (!source.file_type().is_symlink()).then(|| self.mode(source.mode(), source.is_dir()));
        Meta {
            uid,
            gid,
            mode,
            times: Some(times_of(source)),
        }
    }

    /// The destination as a directory, made where missing.
    pub fn dest_dir(&mut self) -> Result<PathBuf> {
        let resolved = self.resolve_dest()?;
        if resolved.exists() {
            if resolved.meta.as_ref().is_some_and(fs::Metadata::is_dir) {
                return Ok(resolved.existing(self.req.rootfs));
            }
            return Err(Error::invalid(format!(
                "cannot copy into {}: it exists and is not a directory",
                self.dest.shown()
            )));
        }
        self.make_missing(&resolved, 0)
    }

    /// Where a file named `name` goes: into the destination directory, or
    /// the destination itself when that names a file.
    pub fn file_target(&mut self, name: &OsStr) -> Result<PathBuf> {
        let resolved = self.resolve_dest()?;
        let is_dir = resolved.meta.as_ref().is_some_and(fs::Metadata::is_dir);
        if self.dest.is_dir || (resolved.exists() && is_dir) {
            return Ok(self.dest_dir()?.join(name));
        }
        if resolved.exists() {
            return Ok(resolved.existing(self.req.rootfs));
        }
        let parent = self.make_missing(&resolved, 1)?;
        let last = resolved.missing.last().map(|n| parent.join(n));
        last.ok_or_else(|| Error::invalid(format!("cannot write {}", self.dest.shown())))
    }

    fn resolve_dest(&self) -> Result<scoped::Resolved> {
        let resolved = scoped::resolve(self.req.rootfs, &self.dest.parts, true, &|_, _| false)?;
        if resolved.blocked {
            // The element in the way is the first one taken as missing.
            let mut blocker = resolved.found.clone();
            blocker.extend(resolved.missing.first().cloned());
            return Err(Error::invalid(format!(
                "cannot copy to {}: /{} is not a directory",
                self.dest.shown(),
                scoped::relative(&blocker)
            )));
        }
        Ok(resolved)
    }

    /// Make the missing directories of `resolved` but its last `keep`
    /// elements; returns the last one made (or found).
    fn make_missing(&mut self, resolved: &scoped::Resolved, keep: usize) -> Result<PathBuf> {
        let mut path = resolved.existing(self.req.rootfs);
        let make = resolved.missing.len().saturating_sub(keep);
        let (uid, gid) = self.owner(None);
        for name in &resolved.missing[..make] {
            path.push(name);
            fs::create_dir(&path).io_context(|| format!("creating {}", self.shown(&path)))?;
            apply(
                &path,
                &Meta {
                    uid,
                    gid,
                    mode: Some(0o755),
                    times: None,
                },
            )?;
        }
        Ok(path)
    }

    /// Copy the contents of the directory `found` into the destination.
    pub fn directory(&mut self, finder: &Finder, found: &Found) -> Result<()> {
        let top = self.dest_dir()?;
        let mut tree = Tree {
            writer: self,
            targets: vec![top.clone()],
        };
        finder.walk(found, &mut tree)?;
        // The destination keeps its own mode and owner but takes the
        // source directory's times, as BuildKit does.
        set_times(&top, times_of(&found.meta))
    }

    /// Copy the file `found` to the destination.
    pub fn file(&mut self, found: &Found) -> Result<()> {
        let target = self.file_target(&found.name)?;
        self.copy_leaf(&found.path, &found.meta, &target)
    }

    /// Write a heredoc as the file `name` (mode 0644, or `--chmod`'s).
    pub fn inline(&mut self, name: &str, content: &[u8]) -> Result<()> {
        let target = self.file_target(OsStr::new(name))?;
        self.clear_for_file(&target)?;
        let what = || format!("writing {}", self.shown(&target));
        let mut file = create(&target).io_context(what)?;
        file.write_all(content).io_context(what)?;
        let (uid, gid) = self.owner(None);
        let meta = Meta {
            uid,
            gid,
            mode: Some(self.mode(0o644, false)),
            times: None,
        };
        apply(&target, &meta)?;
        self.report.files += 1;
        self.report.bytes += content.len() as u64;
        Ok(())
    }

    /// Make room for a file (or link) at `target`: what is there is
    /// removed, unless it is a directory.
    pub fn clear_for_file(&self, target: &Path) -> Result<()> {
        match fs::symlink_metadata(target) {
            Ok(m) if m.is_dir() => Err(Error::invalid(format!(
                "cannot replace the directory {} with a file",
                self.shown(target)
            ))),
            Ok(_) => {
                fs::remove_file(target).io_context(|| format!("replacing {}", self.shown(target)))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(format!("looking at {}", self.shown(target)), e)),
        }
    }

    /// Copy a file, symbolic link or FIFO to `target`.
    fn copy_leaf(&mut self, source: &Path, meta: &fs::Metadata, target: &Path) -> Result<()> {
        self.clear_for_file(target)?;
        let what = || format!("writing {}", self.shown(target));
        let kind = meta.file_type();
        if kind.is_symlink() {
            let link =
                fs::read_link(source).io_context(|| format!("reading {}", source.display()))?;
            std::os::unix::fs::symlink(link, target).io_context(what)?;
            self.report.symlinks += 1;
        } else if kind.is_file() {
            let inode = (meta.dev(), meta.ino());
            if let Some(first) = self.written.get(&inode).filter(|_| meta.nlink() > 1) {
                fs::hard_link(first, target).io_context(what)?;
                self.report.hard_links += 1;
                // A hard link shares its first copy's metadata.
                return Ok(());
            }
            let mut from =
                fs::File::open(source).io_context(|| format!("reading {}", source.display()))?;
            let mut to = create(target).io_context(what)?;
            // io::copy between files uses copy_file_range: streamed, and
            // in the kernel where the filesystems allow.
            self.report.bytes += io::copy(&mut from, &mut to).io_context(what)?;
            self.report.files += 1;
            if meta.nlink() > 1 {
                self.written.insert(inode, target.to_path_buf());
            }
        } else {
            rustix::fs::mknodat(
                CWD,
                target,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )
            .map_err(|e| Error::io(what(), e.into()))?;
            self.report.files += 1;
        }
        apply(target, &self.meta_of(meta))
    }

    /// A path in the root filesystem as the image shows it.
    pub fn shown(&self, path: &Path) -> String {
        match path.strip_prefix(self.req.rootfs) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => path.display().to_string(),
        }
    }
}

/// Writes a source directory's entries under the destination.
struct Tree<'w, 'r> {
    writer: &'w mut Writer<'r>,
    /// The real directory each entered source directory is written to.
    targets: Vec<PathBuf>,
}

impl Tree<'_, '_> {
    fn parent(&self) -> Result<&Path> {
        self.targets
            .last()
            .map(PathBuf::as_path)
            .ok_or_else(|| Error::invalid("left more directories than were entered"))
    }
}

impl Visit for Tree<'_, '_> {
    fn enter(&mut self, entry: &Entry) -> Result<()> {
        let target = self.parent()?.join(entry.name);
        let rootfs = self.writer.req.rootfs;
        let real = match fs::symlink_metadata(&target) {
            Ok(m) if m.is_dir() => target,
            Ok(m) if m.file_type().is_symlink() => {
                // Follow it inside the root filesystem, as an unpacker
                // does: a source `lib/` merges into what `lib` points to.
                let rel: Vec<&OsStr> = target
                    .strip_prefix(rootfs)
                    .map(|r| r.iter().collect())
                    .unwrap_or_default();
                let resolved = scoped::resolve(rootfs, &rel, true, &|_, _| false)?;
                match &resolved.meta {
                    Some(m) if m.is_dir() && resolved.exists() => resolved.existing(rootfs),
                    _ => return Err(not_a_directory(self.writer, &target)),
                }
            }
            Ok(_) => return Err(not_a_directory(self.writer, &target)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&target)
                    .io_context(|| format!("creating {}", self.writer.shown(&target)))?;
                target
            }
            Err(e) => return Err(Error::io(format!("looking at {}", target.display()), e)),
        };
        self.writer.report.directories += 1;
        self.targets.push(real);
        Ok(())
    }

    fn leave(&mut self, entry: &Entry) -> Result<()> {
        let target = self
            .targets
            .pop()
            .ok_or_else(|| Error::invalid("left more directories than were entered"))?;
        apply(&target, &self.writer.meta_of(entry.meta))
    }

    fn leaf(&mut self, entry: &Entry) -> Result<()> {
        let target = self.parent()?.join(entry.name);
        self.writer.copy_leaf(entry.path, entry.meta, &target)
    }
}

fn not_a_directory(writer: &Writer, target: &Path) -> Error {
    Error::invalid(format!(
        "cannot copy a directory to {}: it exists and is not a directory",
        writer.shown(target)
    ))
}

/// A new file, private until its mode is set.
pub fn create(path: &Path) -> io::Result<fs::File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Set owner, then mode (chown clears set-user-ID bits), then times.
pub fn apply(path: &Path, meta: &Meta) -> Result<()> {
    let what = || format!("setting the metadata of {}", path.display());
    std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid)).io_context(what)?;
    if let Some(mode) = meta.mode {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).io_context(what)?;
    }
    match meta.times {
        Some(times) => set_times(path, times),
        None => Ok(()),
    }
}

/// A source's access and modification times, to the nanosecond.
pub fn times_of(meta: &fs::Metadata) -> (Timespec, Timespec) {
    (
        Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec(),
        },
        Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec(),
        },
    )
}

/// Set access and modification times, of a link itself where it is one.
pub fn set_times(path: &Path, (access, modification): (Timespec, Timespec)) -> Result<()> {
    let times = Timestamps {
        last_access: access,
        last_modification: modification,
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::io(format!("setting the times of {}", path.display()), e.into()))
}
