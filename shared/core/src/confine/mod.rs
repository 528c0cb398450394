//! Filesystem work confined to a root directory by construction: what a
//! layer, an archive, an image's config or a build step decides about paths
//! is carried out through directory handles ([`Dir`]), never by joining
//! strings and handing the result to a path-based call.
//!
//! A [`Root`] resolves a path as if its directory were `/`: each element is
//! looked up in the directory handle the previous one gave, a symbolic link
//! on the way is followed *inside* the root (an absolute target starts
//! again at the root, a `..` never climbs above it), and the last element
//! is handed to the caller as a (directory handle, plain name) pair, which
//! every operation of [`Dir`] takes without following a link in its place.
//! Where the kernel has `openat2`, an existing directory is found in one
//! call with `RESOLVE_IN_ROOT`, which gives the same answer; the walk
//! (`O_NOFOLLOW` opens relative to handles) is the authority otherwise, and
//! the only one that makes what is missing.
//!
//! Nothing here depends on the tree holding still: a link swapped in while
//! a path is walked is seen as a link (an `O_NOFOLLOW` open fails) and never
//! followed out of the root.

mod dir;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags, Stat};
use rustix::io::Errno;

use dir::failed;
pub use dir::{plain, Dir};

use crate::error::{Error, Result};

/// Symbolic links followed while resolving one path before giving up
/// (Linux's own limit for a path is 40; a cycle ends here too).
const MAX_LINKS: usize = 255;

/// What resolving a directory does with elements that are not there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Nothing: the directory is not there.
    Absent,
    /// Missing directories are made (mode 0755); a non-directory in the
    /// way means the directory is not there.
    Create,
    /// Missing directories are made, and a non-directory in the way is
    /// removed and made a directory, as an unpacker does.
    Replace,
}

/// A directory that paths are resolved inside, as if it were `/`.
#[derive(Debug)]
pub struct Root {
    top: Dir,
}

/// Where a path led inside a root (see [`Root::lookup`]).
#[derive(Debug)]
pub struct Lookup {
    /// The real elements that exist, below the root (links resolved).
    pub found: Vec<OsString>,
    /// Elements after those that do not exist (or that `hidden` hides).
    pub missing: Vec<OsString>,
    /// An element that exists but is not a directory stood where more
    /// elements had to follow.
    pub blocked: bool,
    /// The last element's status (not followed), when all exist.
    pub meta: Option<Stat>,
    /// The directory at `found`, or its parent when the last element found
    /// is not a directory.
    pub dir: Dir,
}

impl Lookup {
    /// Whether the whole path exists.
    pub fn exists(&self) -> bool {
        self.missing.is_empty() && !self.blocked
    }

    /// Whether the whole path exists and is a directory.
    pub fn is_dir(&self) -> bool {
        self.exists() && self.meta.is_some_and(|m| is_dir(&m))
    }

    /// The last element found when it is not a directory: its name in
    /// [`Lookup::dir`].
    pub fn leaf(&self) -> Option<&OsStr> {
        match &self.meta {
            Some(m) if !is_dir(m) && self.exists() => self.found.last().map(OsString::as_os_str),
            _ => None,
        }
    }
}

/// Whether a status is a directory's.
pub fn is_dir(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::Directory
}

/// Whether a status is a symbolic link's.
pub fn is_symlink(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::Symlink
}

/// A path's elements (`/`-separated bytes), empty ones and `.` included:
/// the resolver skips them.
fn elements(path: &[u8]) -> impl DoubleEndedIterator<Item = OsString> + '_ {
    path.split(|b| *b == b'/')
        .map(|p| OsStr::from_bytes(p).to_os_string())
}

impl Root {
    /// The directory `path` (which the caller trusts: it is followed as it
    /// is) as a root.
    pub fn open(path: &Path) -> Result<Root> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty())
            .map_err(|e| failed(format!("opening the directory {}", path.display()), e))?;
        Ok(Root {
            top: Dir::new(fd, path.to_path_buf()),
        })
    }

    /// A directory found inside another root as a root of its own.
    pub fn from_dir(dir: Dir) -> Root {
        Root { top: dir }
    }

    /// The root directory itself.
    pub fn top(&self) -> &Dir {
        &self.top
    }

    /// The root's path, for messages.
    pub fn path(&self) -> &Path {
        self.top.shown()
    }

    /// The directory `rel` (`/`-separated; `..` and links resolved inside
    /// the root), what is missing made as `missing` says; `None` when it
    /// is not there (or not a directory) and nothing was to be made.
    pub fn dir(&self, rel: &[u8], missing: Missing) -> Result<Option<Dir>> {
        if let Some(found) = self.find_dir(rel)? {
            return Ok(Some(found));
        }
        self.walk(rel, missing)
    }

    /// The parent directory of the cleaned, non-empty path `rel` (made as
    /// `missing` says) and `rel`'s last element.
    pub fn parent<'p>(&self, rel: &'p [u8], missing: Missing) -> Result<Option<(Dir, &'p OsStr)>> {
        let (parent, name) = match rel.iter().rposition(|b| *b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&b""[..], rel),
        };
        let name = plain(OsStr::from_bytes(name))?;
        Ok(self.dir(parent, missing)?.map(|dir| (dir, name)))
    }

    /// The parent directory of the cleaned, non-empty path `rel` when every
    /// element on the way is a real directory (a link among them: `None`),
    /// and `rel`'s last element: a path as overlayfs looks it up in one
    /// layer's directory, where links are the image's, never followed.
    pub fn parent_no_links<'p>(&self, rel: &'p [u8]) -> Result<Option<(Dir, &'p OsStr)>> {
        let mut parts = rel.split(|b| *b == b'/').filter(|p| !p.is_empty());
        let Some(last) = parts.next_back() else {
            return Ok(None);
        };
        let mut dir = self.top.try_clone()?;
        for part in parts {
            let part = plain(OsStr::from_bytes(part))?;
            match dir.stat(part)? {
                Some(stat) if is_dir(&stat) => dir = dir.open_dir(part)?,
                _ => return Ok(None),
            }
        }
        Ok(Some((dir, plain(OsStr::from_bytes(last))?)))
    }

    /// Open the file `rel` for reading, every link (the last element's too)
    /// followed inside the root.
    pub fn open_file(&self, rel: &[u8]) -> Result<File> {
        let found = self.lookup(&elements(rel).collect::<Vec<_>>(), true, &|_, _| false)?;
        let name = match found.leaf() {
            Some(name) => name,
            None if found.is_dir() => {
                return Err(Error::invalid(format!(
                    "/{} is a directory, not a file",
                    String::from_utf8_lossy(rel).trim_start_matches('/')
                )))
            }
            None => {
                return Err(Error::not_found(format!(
                    "/{} does not exist in {}",
                    String::from_utf8_lossy(rel).trim_start_matches('/'),
                    self.path().display()
                )))
            }
        };
        found.dir.open_file(name)
    }

    /// The real path of `rel` (which must exist), every link followed
    /// inside the root: for a program that needs a path (a bind mount's
    /// source), taken from the kernel's record of the handle.
    pub fn real_path(&self, rel: &[u8]) -> Result<PathBuf> {
        let found = self.lookup(&elements(rel).collect::<Vec<_>>(), true, &|_, _| false)?;
        let shown = String::from_utf8_lossy(rel)
            .trim_start_matches('/')
            .to_string();
        if !found.exists() {
            return Err(Error::not_found(format!(
                "/{shown} does not exist in its source"
            )));
        }
        let real = match found.leaf() {
            Some(name) => found.dir.real_path()?.join(name),
            None => found.dir.real_path()?,
        };
        // The handle was found inside the root; its path says so too unless
        // the tree was moved meanwhile.
        let root = self.top.real_path()?;
        if !real.starts_with(&root) {
            return Err(Error::invalid(format!(
                "/{shown} moved out of {} while being resolved",
                root.display()
            )));
        }
        Ok(real)
    }

    /// `openat2` with `RESOLVE_IN_ROOT`: the existing directory `rel` in
    /// one call; `None` whenever it cannot say (an old kernel, something
    /// missing, too many links), and the walk decides.
    fn find_dir(&self, rel: &[u8]) -> Result<Option<Dir>> {
        let rel = if rel.is_empty() { &b"."[..] } else { rel };
        if rel.contains(&0) {
            return Err(Error::invalid(format!(
                "{:?} holds a NUL byte",
                String::from_utf8_lossy(rel)
            )));
        }
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        match rustix::fs::openat2(
            self.top.fd(),
            OsStr::from_bytes(rel),
            flags,
            Mode::empty(),
            resolve,
        ) {
            Ok(fd) => Ok(Some(Dir::new(fd, self.shown(rel)))),
            Err(_) => Ok(None),
        }
    }

    fn shown(&self, rel: &[u8]) -> PathBuf {
        let rel = String::from_utf8_lossy(rel);
        let rel = rel.trim_start_matches('/');
        if rel.is_empty() || rel == "." {
            self.path().to_path_buf()
        } else {
            self.path().join(rel)
        }
    }

    /// The directory at the real elements `found` (each a directory),
    /// opened again from the root without following anything.
    fn reopen(&self, found: &[OsString]) -> Result<Dir> {
        let mut dir = self.top.try_clone()?;
        for name in found {
            dir = dir.open_dir(name)?;
        }
        Ok(dir)
    }

    /// Resolve the directory `rel` one element at a time.
    fn walk(&self, rel: &[u8], missing: Missing) -> Result<Option<Dir>> {
        let mut found: Vec<OsString> = Vec::new();
        let mut dir = self.top.try_clone()?;
        let mut todo: Vec<OsString> = elements(rel).rev().collect();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            match part.as_bytes() {
                b"" | b"." => continue,
                b".." => {
                    if found.pop().is_some() {
                        dir = self.reopen(&found)?;
                    }
                    continue;
                }
                _ => {}
            }
            match dir.stat(&part)? {
                Some(stat) if is_symlink(&stat) => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(too_many_links(&self.shown(rel)));
                    }
                    let target = dir.read_link(&part)?;
                    if target.as_bytes().starts_with(b"/") {
                        found.clear();
                        dir = self.top.try_clone()?;
                    }
                    todo.extend(elements(target.as_bytes()).rev());
                    continue;
                }
                Some(stat) if is_dir(&stat) => {}
                Some(_) if missing == Missing::Replace => {
                    dir.remove_file(&part)?;
                    dir.mkdir(&part, 0o755)?;
                }
                None if missing != Missing::Absent => dir.mkdir(&part, 0o755)?,
                Some(_) | None => return Ok(None),
            }
            dir = dir.open_dir(&part)?;
            found.push(part);
        }
        Ok(Some(dir))
    }

    /// Look up the elements `parts` (`..` and links resolved inside the
    /// root; the last element's link too when `follow_last`) without
    /// making anything. `hidden` says of a root-relative path (and whether
    /// it is a directory) that it is to be taken as missing: a
    /// `.dockerignore`d file.
    pub fn lookup(
        &self,
        parts: &[impl AsRef<OsStr>],
        follow_last: bool,
        hidden: &dyn Fn(&str, bool) -> bool,
    ) -> Result<Lookup> {
        let mut found: Vec<OsString> = Vec::new();
        let mut missing: Vec<OsString> = Vec::new();
        let mut meta = None;
        let mut blocked = false;
        // The directory at `found`, or its parent once a non-directory is
        // found (which ends the path).
        let mut dir = self.top.try_clone()?;
        let mut todo: Vec<OsString> = parts.iter().rev().map(|p| p.as_ref().into()).collect();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            let is_last = todo.iter().all(|p| p.is_empty() || p == ".");
            match part.as_bytes() {
                b"" | b"." => continue,
                b".." => {
                    if missing.pop().is_none() {
                        let was_dir = meta.as_ref().is_none_or(is_dir);
                        if found.pop().is_some() && was_dir {
                            dir = self.reopen(&found)?;
                        }
                    }
                    meta = None;
                    continue;
                }
                _ => {}
            }
            if !missing.is_empty() || blocked {
                missing.push(part);
                continue;
            }
            let Some(stat) = dir.stat(&part)? else {
                missing.push(part);
                continue;
            };
            let mut rel = found.clone();
            rel.push(part.clone());
            if hidden(&relative(&rel), is_dir(&stat)) {
                missing.push(part);
                continue;
            }
            if is_symlink(&stat) && (follow_last || !is_last) {
                links += 1;
                if links > MAX_LINKS {
                    return Err(too_many_links(&dir.shown_child(&part)));
                }
                let target = dir.read_link(&part)?;
                if target.as_bytes().starts_with(b"/") {
                    found.clear();
                    dir = self.top.try_clone()?;
                }
                todo.extend(elements(target.as_bytes()).rev());
                continue;
            }
            if !is_dir(&stat) && !is_last {
                blocked = true;
                missing.push(part);
                continue;
            }
            if is_dir(&stat) {
                dir = dir.open_dir(&part)?;
            }
            found.push(part);
            meta = Some(stat);
        }
        let meta = match meta {
            _ if !missing.is_empty() || blocked => None,
            Some(meta) => Some(meta),
            // The path ended at the root (`.`) or with a link's `..`.
            None => Some(dir.stat_self()?),
        };
        Ok(Lookup {
            found,
            missing,
            blocked,
            meta,
            dir,
        })
    }
}

/// `/`-separated form of path elements below a root.
pub fn relative(parts: &[OsString]) -> String {
    let parts: Vec<String> = parts
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

fn too_many_links(path: &Path) -> Error {
    Error::invalid(format!(
        "too many symbolic links resolving {} (a loop?)",
        path.display()
    ))
}

/// An errno as the caller's error, for the few callers that make their
/// own calls on a handle.
pub fn os_error(what: String, e: Errno) -> Error {
    failed(what, e)
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
