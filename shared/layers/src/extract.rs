//! Applying a layer to a directory: the layer's entries are written under
//! the destination, its whiteouts delete what lower layers left there, and
//! its opaque markers empty directories of everything lower layers put in
//! them — the OCI image spec's rules, layer by layer, as an unpacker does.
//!
//! Nothing is ever written, read or deleted outside the destination, by
//! construction: every entry is checked first ([`super::check`]: no `..`
//! out of the root, no whiteout of `.` or `..`), then placed through the
//! destination's [`Root`]: the directories on the way are resolved inside
//! it, a symbolic link among them followed as if the root were `/` (so a
//! layer's `etc -> /etc` followed by `etc/passwd` writes the root's own
//! `etc/passwd`), and the entry itself is made, replaced or deleted by its
//! plain name relative to its directory's handle, never through a link.
//! Hard link targets are resolved the same way.
//!
//! With [`Options::overlay`] the layer is written as one overlayfs lower
//! (or upper) directory instead: whiteouts become overlayfs whiteouts (a
//! character device 0/0 in the deleted path's place) and opaque markers the
//! `trusted.overlay.opaque` attribute, so that a stack of such directories
//! mounted as an overlay shows the image's root filesystem, as Docker's
//! overlay2 driver keeps layers.
//!
//! Entries are made by [`Place`], as the image unpacker ([`crate::rootfs`])
//! makes them: owners kept when running as root (or when asked), modes
//! always, modification times and extended attributes (PAX
//! `SCHILY.xattr.*`) where the filesystem allows; device nodes need root,
//! and are counted as skipped otherwise, as rootless unpackers do. What is
//! left here is what applying one layer adds: deleting what its whiteouts
//! name (or, in overlay form, marking it), and making its hard links at
//! once, their targets being earlier entries of the layer or of the tree.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::check;
use super::compression;
use super::place::{Item, Place};
use super::whiteout::{self, Kind as Whiteout};
use img_core::confine::{Missing, Root};
use img_core::error::{Error, IoContext, Result};
use img_core::path;

pub use super::place::{Report, OVERLAY_OPAQUE};

/// How to apply a layer.
#[derive(Debug, Clone)]
pub struct Options {
    /// Set each file's owner from the layer (needs root).
    pub preserve_owners: bool,
    /// Write whiteouts and opaque markers as overlayfs does (needs root),
    /// into a directory that holds this one layer only.
    pub overlay: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            preserve_owners: rustix::process::geteuid().is_root(),
            overlay: false,
        }
    }
}

/// Apply the layer tar (plain, gzip or zstd) read from `input` onto the
/// directory `root`. A regular file is checked whole first, so that a
/// layer refused changes nothing; a pipe is checked entry by entry as it
/// is applied, and stops at the first entry refused.
pub(crate) fn apply_file(mut input: File, root: &Path, options: &Options) -> Result<Report> {
    let regular = input.metadata().is_ok_and(|m| m.is_file());
    if regular {
        let what = || "reading the layer".to_string();
        let start = input.stream_position().io_context(what)?;
        let (_, tar) =
            compression::decompress(BufReader::with_capacity(compression::BUFFER, &input))?;
        check::tar(tar)?;
        input.seek(SeekFrom::Start(start)).io_context(what)?;
    }
    let (_, tar) = compression::decompress(BufReader::with_capacity(compression::BUFFER, input))?;
    apply(tar, root, options)
}

/// Apply the uncompressed layer tar `layer` onto the directory `root`.
pub fn apply(layer: impl Read, root: &Path, options: &Options) -> Result<Report> {
    apply_in(layer, &Root::open(root)?, options)
}

/// Apply the uncompressed layer tar `layer` inside `root`.
pub fn apply_in(layer: impl Read, root: &Root, options: &Options) -> Result<Report> {
    let mut place = Place::new(root, None, options.preserve_owners);
    if options.overlay {
        place = place.overlay();
    }
    let mut removed = 0;
    let mut created: HashSet<Vec<u8>> = HashSet::new();
    let mut buffer = Vec::new();
    let mut archive = tar::Archive::new(layer);
    let bad =
        |e: io::Error| Error::invalid(format!("not a valid layer tar: {}", super::one_line(&e)));
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let Some(checked) = check::entry(&entry)? else {
            continue;
        };
        match whiteout::classify(&checked.path)? {
            Whiteout::Remove(target) => {
                // A whiteout deletes from the layers below only.
                if !created.contains(&target) {
                    if options.overlay {
                        place.whiteout(&target)?;
                        removed += 1;
                    } else {
                        removed += remove(root, &target)?;
                    }
                }
                continue;
            }
            Whiteout::Opaque(dir) => {
                removed += if options.overlay {
                    place.opaque(dir)?;
                    1
                } else {
                    empty_dir(root, dir, &created)?
                };
                continue;
            }
            Whiteout::Meta => continue,
            Whiteout::Entry => {}
        }
        let item = Item::of(&mut entry, checked.path, checked.hard_link)?;
        match &item.hard_link {
            Some(target) => place.hard_link(&item.path, target)?,
            None => place.make(&item, &mut entry, &mut buffer)?,
        }
        created.insert(item.path);
    }
    place.finish_dirs()?;
    let mut report = place.report();
    report.removed = removed;
    Ok(report)
}

/// Delete `target` (a whiteout): the path itself, never what it links to.
fn remove(root: &Root, target: &[u8]) -> Result<u64> {
    let Some((dir, name)) = root.parent(target, Missing::Absent)? else {
        return Ok(0);
    };
    Ok(u64::from(dir.remove(name)?))
}

/// Remove every child of `dir` that this layer has not created itself.
fn empty_dir(root: &Root, dir: Option<&[u8]>, created: &HashSet<Vec<u8>>) -> Result<u64> {
    let Some(real) = root.dir(dir.unwrap_or_default(), Missing::Absent)? else {
        return Ok(0);
    };
    let mut removed = 0;
    for name in real.names()? {
        if !created.contains(&path::join(dir, name.as_bytes())) {
            removed += u64::from(real.remove(&name)?);
        }
    }
    Ok(removed)
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
