//! The layer between two directory trees (`img-layer diff LOWER UPPER`):
//! applied onto LOWER it gives UPPER, as Docker's and umoci's diffs do.
//!
//! Both trees are walked together, each directory's children merged in name
//! order (so the output is reproducible, like `create`'s). A path only in
//! UPPER is written with everything under it; a path only in LOWER becomes a
//! `.wh.NAME` whiteout; a path in both is written again when it changed: its
//! type, mode, owner, modification time (to the nanosecond), size, extended
//! attributes, link target or device numbers differ, or, all of these equal,
//! a regular file's bytes differ. A directory present in both is written
//! only when its own metadata changed, and then compared child by child;
//! but every directory holding a change is written too (before the change),
//! as containerd's diff does: adding or removing a child changes a
//! directory's modification time, which the unpacker then sets back. A
//! path whose type changed (a directory became a file or the reverse) is
//! written whole: applying an entry replaces what was there, so no whiteout
//! is needed. A removed child gets its own whiteout, as Docker's diff on
//! plain directories writes it; but when a directory kept in UPPER has
//! none of the (two or more) children it had in LOWER, one opaque marker
//! (`DIR/.wh..wh..opq`) says the same: LOWER is the whole tree below the
//! layer, so hiding every lower child removes exactly those children.

use std::fs::{self, File, Metadata};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::create::{self, check_dir, sorted_children, Options, Report, TreeWriter};
use img_core::error::{IoContext, Result};
use img_core::path;

/// Write the layer that turns `lower` into `upper` into `out`.
pub fn diff<W: Write>(lower: &Path, upper: &Path, out: W, options: Options) -> Result<(W, Report)> {
    check_dir(lower)?;
    check_dir(upper)?;
    let mut diff = Diff {
        writer: TreeWriter::new(out, options),
        pending: Vec::new(),
    };
    diff.dir(lower, upper, None)?;
    diff.writer.finish()
}

/// A diff under way.
struct Diff<W: Write> {
    writer: TreeWriter<W>,
    /// The unchanged directories being walked, outermost first: written
    /// (and set to `None`) once something under them is.
    pending: Vec<Option<(PathBuf, Vec<u8>, Metadata)>>,
}

impl<W: Write> Diff<W> {
    /// Write the directories around the next change.
    fn parents(&mut self) -> Result<&mut TreeWriter<W>> {
        for dir in self.pending.iter_mut() {
            if let Some((full, rel, meta)) = dir.take() {
                self.writer.add(&full, &rel, &meta)?;
            }
        }
        Ok(&mut self.writer)
    }

    fn dir(&mut self, lower: &Path, upper: &Path, rel: Option<&[u8]>) -> Result<()> {
        let old = sorted_children(lower)?;
        // A socket cannot be in a layer: as far as the diff goes, it is absent.
        let mut new = Vec::new();
        for name in sorted_children(upper)? {
            let meta = fs::symlink_metadata(upper.join(&name))
                .io_context(|| format!("reading {}", upper.join(&name).display()))?;
            if !meta.file_type().is_socket() {
                new.push(name);
            }
        }
        let (mut i, mut j) = (0, 0);
        if let Some(dir) = rel {
            if old.len() >= 2 && disjoint(&old, &new) {
                self.parents()?.opaque(dir)?;
                // Every lower child is gone: only UPPER's are left to write.
                i = old.len();
            }
        }
        while i < old.len() || j < new.len() {
            let order = match (old.get(i), new.get(j)) {
                (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    self.parents()?
                        .whiteout(&path::join(rel, old[i].as_bytes()))?;
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    let child = path::join(rel, new[j].as_bytes());
                    self.parents()?.add_tree(&upper.join(&new[j]), &child)?;
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    let child = path::join(rel, new[j].as_bytes());
                    let (a, b) = (lower.join(&old[i]), upper.join(&new[j]));
                    let am = fs::symlink_metadata(&a)
                        .io_context(|| format!("reading {}", a.display()))?;
                    let bm = fs::symlink_metadata(&b)
                        .io_context(|| format!("reading {}", b.display()))?;
                    if am.is_dir() && bm.is_dir() {
                        if meta_changed(&a, &am, &b, &bm)? {
                            self.parents()?.add(&b, &child, &bm)?;
                            self.pending.push(None);
                        } else {
                            self.pending.push(Some((b.clone(), child.clone(), bm)));
                        }
                        let walked = self.dir(&a, &b, Some(&child));
                        self.pending.pop();
                        walked?;
                    } else if changed(&a, &am, &b, &bm)? {
                        self.parents()?.add_tree(&b, &child)?;
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        Ok(())
    }
}

/// Whether two sorted name lists share no name.
fn disjoint(a: &[std::ffi::OsString], b: &[std::ffi::OsString]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].as_bytes().cmp(b[j].as_bytes()) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return false,
        }
    }
    true
}

/// Whether the non-content metadata of two paths differs.
fn meta_changed(a: &Path, am: &Metadata, b: &Path, bm: &Metadata) -> Result<bool> {
    Ok(am.file_type() != bm.file_type()
        || am.mode() != bm.mode()
        || am.uid() != bm.uid()
        || am.gid() != bm.gid()
        || am.mtime() != bm.mtime()
        || am.mtime_nsec() != bm.mtime_nsec()
        || create::xattrs(a)? != create::xattrs(b)?)
}

/// Whether a non-directory changed between `a` and `b`.
fn changed(a: &Path, am: &Metadata, b: &Path, bm: &Metadata) -> Result<bool> {
    if meta_changed(a, am, b, bm)? || am.len() != bm.len() {
        return Ok(true);
    }
    let kind = bm.file_type();
    if kind.is_symlink() {
        return Ok(
            fs::read_link(a).io_context(|| format!("reading {}", a.display()))?
                != fs::read_link(b).io_context(|| format!("reading {}", b.display()))?,
        );
    }
    if kind.is_char_device() || kind.is_block_device() {
        return Ok(am.rdev() != bm.rdev());
    }
    if kind.is_file() {
        return Ok(!same_bytes(a, b)?);
    }
    Ok(false)
}

/// Whether two files of the same size hold the same bytes.
fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    let mut fa = File::open(a).io_context(|| format!("reading {}", a.display()))?;
    let mut fb = File::open(b).io_context(|| format!("reading {}", b.display()))?;
    let mut ba = vec![0u8; 1 << 16];
    let mut bb = vec![0u8; 1 << 16];
    loop {
        let n = read_full(&mut fa, &mut ba).io_context(|| format!("reading {}", a.display()))?;
        let m = read_full(&mut fb, &mut bb).io_context(|| format!("reading {}", b.display()))?;
        if n != m || ba[..n] != bb[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
