//! Writing a copy into the root filesystem being built.
//!
//! The destination is resolved inside the root filesystem with symbolic
//! links followed as if it were `/` (through its [`Root`]); directories
//! missing on the way are made with mode 0755, owned by `--chown`'s user or
//! 0:0. Inside a copied directory every entry is written by its plain name
//! under a directory handle already resolved there, and an existing link in
//! an entry's place is replaced (a file, link or FIFO) or followed inside
//! the root (a directory), so a write never leaves the root filesystem,
//! whatever links the image holds.
//!
//! An existing file in a file's place is replaced; an existing directory
//! there is an error, as is a file where a directory must go. Files keep
//! their mode (or get `--chmod`'s) and their access and modification times;
//! directories get theirs after their contents are written, since writing
//! into a directory changes its time. Files of one copy that were hard
//! links to each other in the source are written as hard links again.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{FileType, Timespec, Timestamps};

use super::source::{Entry, Finder, Found, Visit};
use super::{Dest, Report, Request};
use img_core::confine::{self, Dir, Lookup, Root};
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

/// Where one entry is written: its directory's handle inside the root
/// filesystem, its plain name there, and its path in the image.
pub struct Target {
    /// The directory it is written in.
    pub dir: Dir,
    /// Its name in that directory.
    pub name: OsString,
    /// Its path in the image (`/`-separated, no leading `/`).
    pub rel: Vec<u8>,
}

impl Target {
    /// The path in the image, for messages.
    pub fn shown(&self) -> String {
        format!("/{}", String::from_utf8_lossy(&self.rel))
    }
}

/// Writes the sources of one copy, counting what it writes.
pub struct Writer<'r> {
    req: &'r Request<'r>,
    dest: &'r Dest,
    rootfs: Root,
    /// Files written so far, by source (device, inode), for hard links:
    /// the path of the first copy in the image.
    written: HashMap<(u64, u64), Vec<u8>>,
    report: Report,
}

/// `child` under the image path `dir`.
fn join_rel(dir: &[u8], child: &OsStr) -> Vec<u8> {
    if dir.is_empty() {
        child.as_bytes().to_vec()
    } else {
        [dir, b"/", child.as_bytes()].concat()
    }
}

impl<'r> Writer<'r> {
    /// A writer of `req`'s sources to `dest`.
    pub fn new(req: &'r Request<'r>, dest: &'r Dest) -> Result<Writer<'r>> {
        Ok(Writer {
            req,
            dest,
            rootfs: Root::open(req.rootfs)?,
            written: HashMap::new(),
            report: Report::default(),
        })
    }

    /// Start a new source: hard links are not made to what earlier
    /// sources wrote.
    pub(crate) fn forget_hard_links(&mut self) {
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

    /// The destination as a directory, made where missing: its handle and
    /// its path in the image.
    pub(crate) fn dest_dir(&mut self) -> Result<(Dir, Vec<u8>)> {
        let found = self.lookup_dest()?;
        let rel = self.dest.parts.join("/").into_bytes();
        if found.exists() {
            if found.is_dir() {
                return Ok((found.dir, rel));
            }
            return Err(Error::invalid(format!(
                "cannot copy into {}: it exists and is not a directory",
                self.dest.shown()
            )));
        }
        Ok((self.make_missing(found, 0)?, rel))
    }

    /// Where a file named `name` goes: into the destination directory, or
    /// the destination itself when that names a file.
    pub(crate) fn file_target(&mut self, name: &OsStr) -> Result<Target> {
        let found = self.lookup_dest()?;
        if self.dest.is_dir || found.is_dir() {
            let (dir, rel) = self.dest_dir()?;
            return Ok(Target {
                dir,
                name: confine::plain(name)?.to_os_string(),
                rel: join_rel(&rel, name),
            });
        }
        let rel = self.dest.parts.join("/").into_bytes();
        if let Some(leaf) = found.leaf() {
            let name = leaf.to_os_string();
            return Ok(Target {
                dir: found.dir,
                name,
                rel,
            });
        }
        let last = found.missing.last().cloned();
        let dir = self.make_missing(found, 1)?;
        let name =
            last.ok_or_else(|| Error::invalid(format!("cannot write {}", self.dest.shown())))?;
        Ok(Target { dir, name, rel })
    }

    fn lookup_dest(&self) -> Result<Lookup> {
        let found = self.rootfs.lookup(&self.dest.parts, true, &|_, _| false)?;
        if found.blocked {
            // The element in the way is the first one taken as missing.
            let mut blocker = found.found.clone();
            blocker.extend(found.missing.first().cloned());
            return Err(Error::invalid(format!(
                "cannot copy to {}: /{} is not a directory",
                self.dest.shown(),
                confine::relative(&blocker)
            )));
        }
        Ok(found)
    }

    /// Make the missing directories of `found` but its last `keep`
    /// elements; returns the last one made (or found).
    fn make_missing(&mut self, found: Lookup, keep: usize) -> Result<Dir> {
        let make = found.missing.len().saturating_sub(keep);
        let (uid, gid) = self.owner(None);
        let mut dir = found.dir;
        for name in &found.missing[..make] {
            dir.create_dir(name)?;
            let meta = Meta {
                uid,
                gid,
                mode: Some(0o755),
                times: None,
            };
            apply(&dir, name, &meta)?;
            dir = dir.open_dir(name)?;
        }
        Ok(dir)
    }

    /// Copy the contents of the directory `found` into the destination.
    pub fn directory(&mut self, finder: &Finder, found: &Found) -> Result<()> {
        let (top, rel) = self.dest_dir()?;
        let times = times_of(&found.meta);
        let mut tree = Tree {
            writer: self,
            targets: vec![(top, rel)],
        };
        finder.walk(found, &mut tree)?;
        // The destination keeps its own mode and owner but takes the
        // source directory's times, as BuildKit does.
        let (top, _) = tree.targets.pop().ok_or_else(unbalanced)?;
        top.set_times_self(&timestamps(times))
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
        let mut file = target.dir.create_file(&target.name)?;
        file.write_all(content)
            .io_context(|| format!("writing {}", target.shown()))?;
        let (uid, gid) = self.owner(None);
        let meta = Meta {
            uid,
            gid,
            mode: Some(self.mode(0o644, false)),
            times: None,
        };
        apply(&target.dir, &target.name, &meta)?;
        self.report.files += 1;
        self.report.bytes += content.len() as u64;
        Ok(())
    }

    /// Make room for a file (or link) at `target`: what is there is
    /// removed, unless it is a directory.
    pub(crate) fn clear_for_file(&self, target: &Target) -> Result<()> {
        match target.dir.stat(&target.name)? {
            Some(stat) if confine::is_dir(&stat) => Err(Error::invalid(format!(
                "cannot replace the directory {} with a file",
                target.shown()
            ))),
            Some(_) => target.dir.remove_file(&target.name).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Copy a file, symbolic link or FIFO to `target`.
    fn copy_leaf(&mut self, source: &Path, meta: &fs::Metadata, target: &Target) -> Result<()> {
        img_core::cancel::check()?;
        self.clear_for_file(target)?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let link =
                fs::read_link(source).io_context(|| format!("reading {}", source.display()))?;
            target.dir.symlink(link.as_os_str(), &target.name)?;
            self.report.symlinks += 1;
        } else if kind.is_file() {
            let inode = (meta.dev(), meta.ino());
            if let Some(first) = self.written.get(&inode).filter(|_| meta.nlink() > 1) {
                let (from, first_name) = self
                    .rootfs
                    .parent(first, confine::Missing::Absent)?
                    .ok_or_else(|| Error::invalid(format!("{} vanished", target.shown())))?;
                target.dir.hard_link(&from, first_name, &target.name)?;
                self.report.hard_links += 1;
                // A hard link shares its first copy's metadata.
                return Ok(());
            }
            let from =
                fs::File::open(source).io_context(|| format!("reading {}", source.display()))?;
            let mut to = target.dir.create_file(&target.name)?;
            self.report.bytes += copy_checked(&from, &mut to)
                .io_context(|| format!("writing {}", target.shown()))?;
            self.report.files += 1;
            if meta.nlink() > 1 {
                self.written.insert(inode, target.rel.clone());
            }
        } else {
            target.dir.mknod(&target.name, FileType::Fifo, 0o600, 0)?;
            self.report.files += 1;
        }
        apply(&target.dir, &target.name, &self.meta_of(meta))
    }
}

/// Writes a source directory's entries under the destination.
struct Tree<'w, 'r> {
    writer: &'w mut Writer<'r>,
    /// The real directory each entered source directory is written to,
    /// and its path in the image.
    targets: Vec<(Dir, Vec<u8>)>,
}

fn unbalanced() -> Error {
    Error::invalid("left more directories than were entered")
}

impl Tree<'_, '_> {
    fn target(&self, name: &OsStr) -> Result<Target> {
        let (dir, rel) = self.targets.last().ok_or_else(unbalanced)?;
        Ok(Target {
            dir: dir.try_clone()?,
            name: confine::plain(name)?.to_os_string(),
            rel: join_rel(rel, name),
        })
    }
}

impl Visit for Tree<'_, '_> {
    fn enter(&mut self, entry: &Entry) -> Result<()> {
        let target = self.target(entry.name)?;
        let real = match target.dir.stat(&target.name)? {
            Some(stat) if confine::is_dir(&stat) => target.dir.open_dir(&target.name)?,
            Some(stat) if confine::is_symlink(&stat) => {
                // Follow it inside the root filesystem, as an unpacker
                // does: a source `lib/` merges into what `lib` points to.
                let parts: Vec<&OsStr> = target
                    .rel
                    .split(|b| *b == b'/')
                    .map(OsStr::from_bytes)
                    .collect();
                let found = self.writer.rootfs.lookup(&parts, true, &|_, _| false)?;
                if !found.is_dir() {
                    return Err(not_a_directory(&target));
                }
                found.dir
            }
            Some(_) => return Err(not_a_directory(&target)),
            None => {
                target.dir.create_dir(&target.name)?;
                target.dir.open_dir(&target.name)?
            }
        };
        self.writer.report.directories += 1;
        self.targets.push((real, target.rel));
        Ok(())
    }

    fn leave(&mut self, entry: &Entry) -> Result<()> {
        let (dir, rel) = self.targets.pop().ok_or_else(unbalanced)?;
        let meta = self.writer.meta_of(entry.meta);
        apply_self(&dir, &meta)
            .map_err(|e| e.context(format!("/{}", String::from_utf8_lossy(&rel))))
    }

    fn leaf(&mut self, entry: &Entry) -> Result<()> {
        let target = self.target(entry.name)?;
        self.writer.copy_leaf(entry.path, entry.meta, &target)
    }
}

fn not_a_directory(target: &Target) -> Error {
    Error::invalid(format!(
        "cannot copy a directory to {}: it exists and is not a directory",
        target.shown()
    ))
}

/// Set owner, then mode (chown clears set-user-ID bits), then times, of
/// the entry `name` of `dir`.
pub fn apply(dir: &Dir, name: &OsStr, meta: &Meta) -> Result<()> {
    dir.chown(name, Some(meta.uid), Some(meta.gid))?;
    if let Some(mode) = meta.mode {
        dir.chmod(name, mode)?;
    }
    match meta.times {
        Some(times) => dir.set_times(name, &timestamps(times)),
        None => Ok(()),
    }
}

/// [`apply`] to the directory `dir` itself.
fn apply_self(dir: &Dir, meta: &Meta) -> Result<()> {
    dir.chown_self(meta.uid, meta.gid)?;
    if let Some(mode) = meta.mode {
        dir.chmod_self(mode)?;
    }
    match meta.times {
        Some(times) => dir.set_times_self(&timestamps(times)),
        None => Ok(()),
    }
}

/// A source's access and modification times, to the nanosecond.
pub(crate) fn times_of(meta: &fs::Metadata) -> (Timespec, Timespec) {
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

/// Access and modification times as the kernel takes them.
pub fn timestamps((access, modification): (Timespec, Timespec)) -> Timestamps {
    Timestamps {
        last_access: access,
        last_modification: modification,
    }
}

/// Bytes a file is copied by between checks of the cancel flag: small
/// enough that a signal ends a COPY of a large file well within a second.
const CHECKED_CHUNK: u64 = 16 << 20;

/// Copy `from` whole into `to`, stopping when the cancel flag is raised.
/// `io::copy` between files uses `copy_file_range` (also for a `Take` of
/// one): streamed, and in the kernel where the filesystems allow.
fn copy_checked(mut from: &fs::File, to: &mut fs::File) -> io::Result<u64> {
    let mut copied = 0;
    loop {
        img_core::cancel::check_io()?;
        let n = io::copy(&mut io::Read::take(&mut from, CHECKED_CHUNK), to)?;
        copied += n;
        if n < CHECKED_CHUNK {
            return Ok(copied);
        }
    }
}
