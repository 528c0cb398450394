//! Applying a layer to a directory: the layer's entries are written under
//! the destination, its whiteouts delete what lower layers left there, and
//! its opaque markers empty directories of everything lower layers put in
//! them — the OCI image spec's rules, layer by layer, as an unpacker does.
//!
//! Nothing is ever written outside the destination: entry paths are cleaned
//! and a `..` that leaves the root is refused; every directory on the way to
//! an entry is resolved inside the root, a symbolic link in it followed as
//! if the root were `/` (an absolute target or a `..` stays inside), so
//! that a layer's `etc -> /etc` symlink followed by `etc/passwd` writes the
//! root's own `etc/passwd`; the last component is never followed, and hard
//! link targets are resolved the same way. The destination must not be
//! changed by anyone else while a layer is applied.
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
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::tarout::EntryMeta;
use super::whiteout::{self, Kind as Whiteout};
use img_core::error::{Error, IoContext, Result};
use img_core::path;

/// Symbolic links followed while resolving one path before giving up.
const MAX_LINKS: usize = 255;

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

/// Apply the uncompressed layer tar `layer` onto the directory `root`.
pub fn apply(layer: impl Read, root: &Path, options: &Options) -> Result<Report> {
    let mut report = Report::default();
    let mut created: HashSet<Vec<u8>> = HashSet::new();
    // Directory times are set last: writing into a directory changes them.
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    let mut archive = tar::Archive::new(layer);
    let bad =
        |e: io::Error| Error::invalid(format!("not a valid layer tar: {}", super::one_line(&e)));
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let kind = entry.header().entry_type();
        if matches!(kind, tar::EntryType::XGlobalHeader) {
            continue;
        }
        let raw = entry.path_bytes().into_owned();
        let Some(rel) = path::clean(&raw)? else {
            continue;
        };
        match whiteout::classify(&rel) {
            Whiteout::Remove(target) if options.overlay => {
                if !created.contains(&target) {
                    overlay_whiteout(root, &target)?;
                    report.removed += 1;
                }
                continue;
            }
            Whiteout::Opaque(dir) if options.overlay => {
                overlay_opaque(root, dir)?;
                report.removed += 1;
                continue;
            }
            Whiteout::Remove(target) => {
                if !created.contains(&target) {
                    report.removed += remove(root, &target)?;
                }
                continue;
            }
            Whiteout::Opaque(dir) => {
                report.removed += empty_dir(root, dir, &created)?;
                continue;
            }
            Whiteout::Meta => continue,
            Whiteout::Entry => {}
        }
        let meta = EntryMeta::of(&mut entry)?;
        let parent = resolve_dir(root, path::parent(&rel), true)?
            .ok_or_else(|| Error::invalid("a parent directory vanished"))?;
        let dest = parent.join(OsStr::from_bytes(path::base_name(&rel)));
        let existing = fs::symlink_metadata(&dest).ok();
        let keep_dir = kind.is_dir() && existing.as_ref().is_some_and(|m| m.is_dir());
        // A directory that replaces a whited-out path must hide the lower
        // layers' directory of that name, not merge with it.
        let replaces_whiteout =
            options.overlay && kind.is_dir() && existing.as_ref().is_some_and(is_overlay_whiteout);
        if let Some(m) = &existing {
            if !keep_dir {
                if m.is_dir() {
                    fs::remove_dir_all(&dest)
                } else {
                    fs::remove_file(&dest)
                }
                .io_context(|| format!("replacing {}", dest.display()))?;
            }
        }
        let what = || format!("writing {}", dest.display());
        match kind {
            tar::EntryType::Directory => {
                if !keep_dir {
                    fs::create_dir(&dest).io_context(what)?;
                }
                if replaces_whiteout {
                    set_opaque(&dest)?;
                }
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                std::os::unix::fs::symlink(OsStr::from_bytes(&target), &dest).io_context(what)?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                let target = path::clean_link(&target)?;
                let source = resolve_dir(root, path::parent(&target), false)?
                    .map(|d| d.join(OsStr::from_bytes(path::base_name(&target))))
                    .filter(|p| fs::symlink_metadata(p).is_ok())
                    .ok_or_else(|| {
                        Error::invalid(format!(
                            "hard link {} points to {}, which the layer has not created",
                            String::from_utf8_lossy(&rel),
                            String::from_utf8_lossy(&target)
                        ))
                    })?;
                fs::hard_link(&source, &dest).io_context(what)?;
                created.insert(rel);
                report.written += 1;
                // A hard link shares its target's metadata.
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                if !make_node(&dest, &meta)? {
                    report.skipped_devices += 1;
                    continue;
                }
            }
            _ if kind.is_file() || kind.is_gnu_sparse() => {
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&dest)
                    .io_context(what)?;
                let copied = io::copy(&mut entry, &mut file).io_context(what)?;
                if copied != entry.size() {
                    return Err(Error::invalid(format!(
                        "{} ended early (truncated layer)",
                        String::from_utf8_lossy(&rel)
                    )));
                }
            }
            other => {
                return Err(Error::invalid(format!(
                    "{}: tar entry type {other:?} cannot be part of a root filesystem",
                    String::from_utf8_lossy(&rel)
                )))
            }
        }
        report.skipped_xattrs += set_meta(&dest, &meta, kind, options)?;
        if kind.is_dir() {
            dir_times.push((dest, meta.header.mtime().unwrap_or(0)));
        }
        created.insert(rel);
        report.written += 1;
    }
    for (dir, mtime) in dir_times.iter().rev() {
        set_mtime(dir, *mtime)?;
    }
    Ok(report)
}

/// Make the directory `rel` (a path inside the root filesystem `root`)
/// and its parents where missing, resolving symbolic links on the way
/// inside `root` as an unpacker does; returns its real path.
pub fn ensure_dir(root: &Path, rel: &str) -> Result<PathBuf> {
    let rel = rel.trim_start_matches('/');
    resolve_dir(root, (!rel.is_empty()).then_some(rel.as_bytes()), true)?
        .ok_or_else(|| Error::invalid(format!("cannot make directory /{rel}")))
}

/// The real path of `rel` (a file or directory that must exist) inside the
/// root filesystem `root`, symbolic links on the way resolved inside it;
/// the last component is followed too, as a mount source is.
pub fn resolve_inside(root: &Path, rel: &str) -> Result<PathBuf> {
    resolve_inside_at(root, rel, 0)
}

fn resolve_inside_at(root: &Path, rel: &str, links: usize) -> Result<PathBuf> {
    if links > MAX_LINKS {
        return Err(Error::invalid(format!(
            "too many symbolic links resolving /{rel}"
        )));
    }
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        return Ok(root.to_path_buf());
    }
    let missing = || Error::not_found(format!("/{rel} does not exist in its source"));
    let parent = resolve_dir(root, path::parent(rel.as_bytes()), false)?.ok_or_else(missing)?;
    let here = parent.join(OsStr::from_bytes(path::base_name(rel.as_bytes())));
    match fs::symlink_metadata(&here) {
        Ok(m) if m.file_type().is_symlink() => {
            let target =
                fs::read_link(&here).io_context(|| format!("reading {}", here.display()))?;
            let target = target.as_os_str().as_bytes();
            let next = if target.starts_with(b"/") {
                String::from_utf8_lossy(target).into_owned()
            } else {
                let dir =
                    path::parent(rel.as_bytes()).map(|p| String::from_utf8_lossy(p).into_owned());
                format!(
                    "{}/{}",
                    dir.unwrap_or_default(),
                    String::from_utf8_lossy(target)
                )
            };
            resolve_inside_at(root, &img_core::path::inside(&next)?, links + 1)
        }
        Ok(_) => Ok(here),
        Err(_) => Err(missing()),
    }
}

/// The real path of the directory `rel` under `root`, symlinks on the way
/// resolved inside the root. Missing directories (and non-directories in
/// the way) are made into directories when `create`, else `None`.
fn resolve_dir(root: &Path, rel: Option<&[u8]>, create: bool) -> Result<Option<PathBuf>> {
    let mut resolved: Vec<Vec<u8>> = Vec::new();
    let mut todo: Vec<Vec<u8>> = rel
        .map(|r| r.split(|b| *b == b'/').rev().map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.as_slice() {
            b"" | b"." => continue,
            b".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let here = join(root, &resolved).join(OsStr::from_bytes(&part));
        match fs::symlink_metadata(&here) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Error::invalid(format!(
                        "too many symbolic links resolving {}",
                        String::from_utf8_lossy(rel.unwrap_or_default())
                    )));
                }
                let target =
                    fs::read_link(&here).io_context(|| format!("reading {}", here.display()))?;
                let target = target.as_os_str().as_bytes();
                if target.starts_with(b"/") {
                    resolved.clear();
                }
                todo.extend(target.split(|b| *b == b'/').rev().map(<[u8]>::to_vec));
            }
            Ok(m) if m.is_dir() => resolved.push(part),
            Ok(_) if create => {
                fs::remove_file(&here).io_context(|| format!("replacing {}", here.display()))?;
                make_dir(&here)?;
                resolved.push(part);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                make_dir(&here)?;
                resolved.push(part);
            }
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", here.display()), e)),
        }
    }
    Ok(Some(join(root, &resolved)))
}

fn join(root: &Path, parts: &[Vec<u8>]) -> PathBuf {
    let mut p = root.to_path_buf();
    for part in parts {
        p.push(OsStr::from_bytes(part));
    }
    p
}

fn make_dir(path: &Path) -> Result<()> {
    fs::create_dir(path).io_context(|| format!("creating {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .io_context(|| format!("setting the mode of {}", path.display()))
}

/// Delete `target` (a whiteout): the path itself, never what it links to.
fn remove(root: &Path, target: &[u8]) -> Result<u64> {
    let Some(dir) = resolve_dir(root, path::parent(target), false)? else {
        return Ok(0);
    };
    let victim = dir.join(OsStr::from_bytes(path::base_name(target)));
    let result = match fs::symlink_metadata(&victim) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&victim),
        Ok(_) => fs::remove_file(&victim),
        Err(_) => return Ok(0),
    };
    result.io_context(|| format!("removing {}", victim.display()))?;
    Ok(1)
}

/// Remove every child of `dir` that this layer has not created itself.
fn empty_dir(root: &Path, dir: Option<&[u8]>, created: &HashSet<Vec<u8>>) -> Result<u64> {
    let Some(real) = resolve_dir(root, dir, false)? else {
        return Ok(0);
    };
    let mut removed = 0;
    for child in fs::read_dir(&real).io_context(|| format!("listing {}", real.display()))? {
        let child = child.io_context(|| format!("listing {}", real.display()))?;
        let name = child.file_name();
        let rel = path::join(dir, name.as_bytes());
        if !created.contains(&rel) {
            removed += remove(root, &rel)?;
        }
    }
    Ok(removed)
}

/// Whether `meta` is an overlayfs whiteout: a character device 0/0.
fn is_overlay_whiteout(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Put an overlayfs whiteout in `target`'s place (inside this layer's
/// directory, whose own entry of that name it replaces).
fn overlay_whiteout(root: &Path, target: &[u8]) -> Result<()> {
    let parent = resolve_dir(root, path::parent(target), true)?
        .ok_or_else(|| Error::invalid("a parent directory vanished"))?;
    let dest = parent.join(OsStr::from_bytes(path::base_name(target)));
    match fs::symlink_metadata(&dest) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&dest),
        Ok(_) => fs::remove_file(&dest),
        Err(_) => Ok(()),
    }
    .io_context(|| format!("replacing {}", dest.display()))?;
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &dest,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        rustix::fs::makedev(0, 0),
    )
    .map_err(|e| {
        Error::io(
            format!(
                "writing the whiteout {} (overlay layers need root)",
                dest.display()
            ),
            e.into(),
        )
    })
}

/// Mark the directory `dir` (made when missing) opaque for overlayfs.
fn overlay_opaque(root: &Path, dir: Option<&[u8]>) -> Result<()> {
    let real = resolve_dir(root, dir, true)?
        .ok_or_else(|| Error::invalid("a parent directory vanished"))?;
    set_opaque(&real)
}

fn set_opaque(dir: &Path) -> Result<()> {
    rustix::fs::lsetxattr(dir, OVERLAY_OPAQUE, b"y", rustix::fs::XattrFlags::empty()).map_err(|e| {
        Error::io(
            format!(
                "marking {} opaque (overlay layers need root)",
                dir.display()
            ),
            e.into(),
        )
    })
}

/// Make a device node or FIFO; `false` when not permitted (not root).
fn make_node(dest: &Path, meta: &EntryMeta) -> Result<bool> {
    use rustix::fs::{FileType, Mode};
    let header = &meta.header;
    let file_type = match header.entry_type() {
        tar::EntryType::Char => FileType::CharacterDevice,
        tar::EntryType::Block => FileType::BlockDevice,
        _ => FileType::Fifo,
    };
    let major = header.device_major().ok().flatten().unwrap_or(0);
    let minor = header.device_minor().ok().flatten().unwrap_or(0);
    let mode = Mode::from_raw_mode(header.mode().unwrap_or(0o644) & 0o7777);
    match rustix::fs::mknodat(
        rustix::fs::CWD,
        dest,
        file_type,
        mode,
        rustix::fs::makedev(major, minor),
    ) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::PERM => Ok(false),
        Err(e) => Err(Error::io(
            format!("creating {}", dest.display()),
            io::Error::from(e),
        )),
    }
}

/// Owner, mode, extended attributes and (for non-directories) time;
/// returns the number of extended attributes the filesystem refused.
fn set_meta(dest: &Path, meta: &EntryMeta, kind: tar::EntryType, options: &Options) -> Result<u64> {
    let header = &meta.header;
    let what = || format!("setting metadata of {}", dest.display());
    if options.preserve_owners {
        let uid = header.uid().ok().and_then(|u| u32::try_from(u).ok());
        let gid = header.gid().ok().and_then(|g| u32::try_from(g).ok());
        std::os::unix::fs::lchown(dest, uid, gid).io_context(what)?;
    }
    let mut refused = 0;
    for (key, value) in &meta.pax {
        if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
            if rustix::fs::lsetxattr(dest, name, value, rustix::fs::XattrFlags::empty()).is_err() {
                refused += 1;
            }
        }
    }
    if kind != tar::EntryType::Symlink {
        // After chown, which clears set-user-ID bits.
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        fs::set_permissions(dest, fs::Permissions::from_mode(mode)).io_context(what)?;
    }
    if !kind.is_dir() {
        set_mtime(dest, header.mtime().unwrap_or(0))?;
    }
    Ok(refused)
}

fn set_mtime(dest: &Path, mtime: u64) -> Result<()> {
    let time = rustix::fs::Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: time,
        last_modification: time,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        dest,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| Error::io(format!("setting the time of {}", dest.display()), e.into()))
}

#[cfg(test)]
#[path = "extract_tests.rs"]
mod tests;
