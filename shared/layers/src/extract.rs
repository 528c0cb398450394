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
//! Owners are kept when running as root (or when asked), modes always,
//! modification times and extended attributes (PAX `SCHILY.xattr.*`) where
//! the filesystem allows; device nodes need root, and are counted as
//! skipped otherwise, as rootless unpackers do.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{FileType, Stat};

use super::check;
use super::compression;
use super::tarout::EntryMeta;
use super::whiteout::{self, Kind as Whiteout};
use img_core::confine::{self, Dir, Missing, Root};
use img_core::error::{Error, IoContext, Result};
use img_core::path;
use img_core::timestamp::file_times;

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

/// The extended attribute that makes an overlayfs directory opaque.
pub const OVERLAY_OPAQUE: &str = "trusted.overlay.opaque";

/// What applying a layer did.
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
    let mut report = Report::default();
    let mut created: HashSet<Vec<u8>> = HashSet::new();
    // Directory times are set last: writing into a directory changes them.
    let mut dir_times: Vec<(Vec<u8>, u64)> = Vec::new();
    let mut archive = tar::Archive::new(layer);
    let bad =
        |e: io::Error| Error::invalid(format!("not a valid layer tar: {}", super::one_line(&e)));
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let Some(checked) = check::entry(&entry)? else {
            continue;
        };
        let rel = checked.path;
        match whiteout::classify(&rel)? {
            Whiteout::Remove(target) => {
                if !created.contains(&target) {
                    if options.overlay {
                        overlay_whiteout(root, &target)?;
                        report.removed += 1;
                    } else {
                        report.removed += remove(root, &target)?;
                    }
                }
                continue;
            }
            Whiteout::Opaque(dir) => {
                report.removed += if options.overlay {
                    let dir = root.dir(dir.unwrap_or_default(), Missing::Replace)?;
                    dir.ok_or_else(vanished)?
                        .set_xattr_self(OVERLAY_OPAQUE, b"y")?;
                    1
                } else {
                    empty_dir(root, dir, &created)?
                };
                continue;
            }
            Whiteout::Meta => continue,
            Whiteout::Entry => {}
        }
        let kind = entry.header().entry_type();
        let meta = EntryMeta::of(&mut entry)?;
        let (parent, name) = root.parent(&rel, Missing::Replace)?.ok_or_else(vanished)?;
        let existing = parent.stat(name)?;
        let keep_dir = kind.is_dir() && existing.as_ref().is_some_and(confine::is_dir);
        // A directory that replaces a whited-out path must hide the lower
        // layers' directory of that name, not merge with it.
        let replaces_whiteout =
            options.overlay && kind.is_dir() && existing.as_ref().is_some_and(is_overlay_whiteout);
        if existing.is_some() && !keep_dir {
            parent.remove(name)?;
        }
        match kind {
            tar::EntryType::Directory => {
                if !keep_dir {
                    parent.create_dir(name)?;
                }
                if replaces_whiteout {
                    parent.set_xattr(name, OVERLAY_OPAQUE, b"y")?;
                }
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                parent.symlink(OsStr::from_bytes(&target), name)?;
            }
            tar::EntryType::Link => {
                let target = checked.hard_link.unwrap_or_default();
                let (from, source) = root
                    .parent(&target, Missing::Absent)?
                    .filter(|(dir, source)| dir.stat(source).is_ok_and(|s| s.is_some()))
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "hard link {} points to {}, which the layer has not created",
                            String::from_utf8_lossy(&rel),
                            String::from_utf8_lossy(&target)
                        ))
                    })?;
                parent.hard_link(&from, source, name)?;
                created.insert(rel);
                report.written += 1;
                // A hard link shares its target's metadata.
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                if !make_node(&parent, name, &meta)? {
                    report.skipped_devices += 1;
                    continue;
                }
            }
            _ => {
                // Regular, contiguous or sparse: `check::entry` let no
                // other type through.
                let mut file = parent.create_file(name)?;
                let what = || format!("writing {}", parent.shown_child(name).display());
                let copied = io::copy(&mut entry, &mut file).io_context(what)?;
                if copied != entry.size() {
                    return Err(Error::invalid(format!(
                        "{} ended early (truncated layer)",
                        String::from_utf8_lossy(&rel)
                    )));
                }
            }
        }
        report.skipped_xattrs += set_meta(&parent, name, &meta, kind, options)?;
        if kind.is_dir() {
            dir_times.push((rel.clone(), meta.header.mtime().unwrap_or(0)));
        }
        created.insert(rel);
        report.written += 1;
    }
    for (dir, mtime) in dir_times.iter().rev() {
        // Found again by its path: a later entry may have replaced it,
        // and whatever is there now is inside the root.
        if let Some((parent, name)) = root.parent(dir, Missing::Absent)? {
            if parent.stat(name)?.is_some() {
                parent.set_times(name, &file_times(*mtime))?;
            }
        }
    }
    Ok(report)
}

fn vanished() -> Error {
    Error::invalid("a parent directory vanished while the layer was applied")
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

/// Whether `stat` is an overlayfs whiteout's: a character device 0/0.
fn is_overlay_whiteout(stat: &Stat) -> bool {
    FileType::from_raw_mode(stat.st_mode) == FileType::CharacterDevice && stat.st_rdev == 0
}

/// Put an overlayfs whiteout in `target`'s place (inside this layer's
/// directory, whose own entry of that name it replaces).
fn overlay_whiteout(root: &Root, target: &[u8]) -> Result<()> {
    let (dir, name) = root
        .parent(target, Missing::Replace)?
        .ok_or_else(vanished)?;
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

/// Make a device node or FIFO; `false` when not permitted (not root).
fn make_node(dir: &Dir, name: &OsStr, meta: &EntryMeta) -> Result<bool> {
    let header = &meta.header;
    let file_type = match header.entry_type() {
        tar::EntryType::Char => FileType::CharacterDevice,
        tar::EntryType::Block => FileType::BlockDevice,
        _ => FileType::Fifo,
    };
    let major = header.device_major().ok().flatten().unwrap_or(0);
    let minor = header.device_minor().ok().flatten().unwrap_or(0);
    let mode = header.mode().unwrap_or(0o644) & 0o7777;
    dir.mknod(name, file_type, mode, rustix::fs::makedev(major, minor))
}

/// Owner, mode, extended attributes and (for non-directories) time;
/// returns the number of extended attributes the filesystem refused.
fn set_meta(
    dir: &Dir,
    name: &OsStr,
    meta: &EntryMeta,
    kind: tar::EntryType,
    options: &Options,
) -> Result<u64> {
    let header = &meta.header;
    if options.preserve_owners {
        let uid = header.uid().ok().and_then(|u| u32::try_from(u).ok());
        let gid = header.gid().ok().and_then(|g| u32::try_from(g).ok());
        dir.chown(name, uid, gid)?;
    }
    let mut refused = 0;
    for (attribute, value) in meta.xattrs() {
        if dir.set_xattr(name, attribute, value).is_err() {
            refused += 1;
        }
    }
    if kind != tar::EntryType::Symlink {
        // After chown, which clears set-user-ID bits.
        dir.chmod(name, header.mode().unwrap_or(0o644) & 0o7777)?;
    }
    if !kind.is_dir() {
        dir.set_times(name, &file_times(header.mtime().unwrap_or(0)))?;
    }
    Ok(refused)
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
