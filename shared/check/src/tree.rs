//! Two directory trees compared entry by entry: type, permission bits,
//! owner, size and content of files, link targets, device numbers, and
//! the overlayfs markers of a layer in overlay form (whiteouts are
//! character devices 0/0, compared as devices; an opaque directory carries
//! `trusted.overlay.opaque`). Modification times are not compared
//! (writing into a directory changes its own).
//!
//! The walk never leaves the two roots: every entry is opened relative to
//! its directory's handle, without following a symbolic link
//! (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`), so a snapshot holding a link to
//! `/` is compared as a link, never read through.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use img_core::error::{Error, Result};
use img_layers::extract::OVERLAY_OPAQUE;

/// Differences reported per tree before the rest are only counted.
const SHOWN: usize = 3;

/// The differences of `actual` from `expected`, as lines (the first few,
/// then how many more); empty when they are the same.
pub(super) fn compare(expected: &Path, actual: &Path) -> Result<Vec<String>> {
    let open = |path: &Path| {
        rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(format!("opening {}", path.display()), e.into()))
    };
    let mut walk = Walk {
        differences: Vec::new(),
        more: 0,
    };
    let (expected, actual) = (open(expected)?, open(actual)?);
    if opaque(&expected) != opaque(&actual) {
        walk.differ("", || {
            "the root's opaque marker differs from the layer's".into()
        });
    }
    walk.dir(&expected, &actual, "")?;
    if walk.more > 0 {
        walk.differences
            .push(format!("and {} more differences", walk.more));
    }
    Ok(walk.differences)
}

struct Walk {
    differences: Vec<String>,
    more: usize,
}

impl Walk {
    fn differ(&mut self, path: &str, what: impl FnOnce() -> String) {
        if self.differences.len() < SHOWN {
            self.differences.push(format!("/{path}: {}", what()));
        } else {
            self.more += 1;
        }
    }

    fn dir(&mut self, expected: &OwnedFd, actual: &OwnedFd, path: &str) -> Result<()> {
        let want = names(expected, path)?;
        let have = names(actual, path)?;
        let (mut i, mut j) = (0, 0);
        while i < want.len() || j < have.len() {
            let order = match (want.get(i), have.get(j)) {
                (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match order {
                std::cmp::Ordering::Less => {
                    let child = join(path, &want[i]);
                    self.differ(&child, || "missing".into());
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    let child = join(path, &have[j]);
                    self.differ(&child, || "not in the layer".into());
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    let name = &want[i];
                    self.entry(expected, actual, name, &join(path, name))?;
                    i += 1;
                    j += 1;
                }
            }
        }
        Ok(())
    }

    fn entry(
        &mut self,
        expected_dir: &OwnedFd,
        actual_dir: &OwnedFd,
        name: &CStr,
        path: &str,
    ) -> Result<()> {
        let stat = |dir: &OwnedFd| {
            rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| Error::io(format!("reading /{path}"), e.into()))
        };
        let (want, have) = (stat(expected_dir)?, stat(actual_dir)?);
        let (want_type, have_type) = (
            FileType::from_raw_mode(want.st_mode),
            FileType::from_raw_mode(have.st_mode),
        );
        if want_type != have_type {
            self.differ(path, || {
                format!(
                    "a {} where the layer has a {}",
                    kind(have_type),
                    kind(want_type)
                )
            });
            return Ok(());
        }
        let mode = |m: u32| m & 0o7777;
        if want_type != FileType::Symlink && mode(want.st_mode) != mode(have.st_mode) {
            self.differ(path, || {
                format!(
                    "mode {:o} where the layer has {:o}",
                    mode(have.st_mode),
                    mode(want.st_mode)
                )
            });
        }
        if (want.st_uid, want.st_gid) != (have.st_uid, have.st_gid) {
            self.differ(path, || {
                format!(
                    "owner {}:{} where the layer has {}:{}",
                    have.st_uid, have.st_gid, want.st_uid, want.st_gid
                )
            });
        }
        match want_type {
            FileType::RegularFile if want.st_size != have.st_size => {
                self.differ(path, || {
                    format!(
                        "{} bytes where the layer has {}",
                        have.st_size, want.st_size
                    )
                });
            }
            FileType::RegularFile if !same_content(expected_dir, actual_dir, name, path)? => {
                self.differ(path, || "content differs from the layer's".into());
            }
            FileType::Symlink => {
                let link = |dir: &OwnedFd| {
                    rustix::fs::readlinkat(dir, name, Vec::new())
                        .map_err(|e| Error::io(format!("reading /{path}"), e.into()))
                };
                let (a, b) = (link(expected_dir)?, link(actual_dir)?);
                if a != b {
                    self.differ(path, || {
                        format!("links to {b:?} where the layer's links to {a:?}")
                    });
                }
            }
            FileType::CharacterDevice | FileType::BlockDevice if want.st_rdev != have.st_rdev => {
                self.differ(path, || "device numbers differ from the layer's".into());
            }
            FileType::Directory => {
                let open = |dir: &OwnedFd| {
                    rustix::fs::openat(
                        dir,
                        name,
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                    .map_err(|e| Error::io(format!("opening /{path}"), e.into()))
                };
                let (a, b) = (open(expected_dir)?, open(actual_dir)?);
                if opaque(&a) != opaque(&b) {
                    self.differ(path, || {
                        match opaque(&b) {
                            true => "opaque where the layer's is not",
                            false => "not opaque where the layer's is",
                        }
                        .into()
                    });
                }
                self.dir(&a, &b, path)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// The entries of a directory, sorted by name.
fn names(dir: &OwnedFd, path: &str) -> Result<Vec<CString>> {
    let listing = rustix::fs::Dir::read_from(dir)
        .map_err(|e| Error::io(format!("listing /{path}"), e.into()))?;
    let mut names = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| Error::io(format!("listing /{path}"), e.into()))?;
        let name = entry.file_name();
        if name != c"." && name != c".." {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn join(path: &str, name: &CStr) -> String {
    let name = name.to_string_lossy();
    if path.is_empty() {
        name.into_owned()
    } else {
        format!("{path}/{name}")
    }
}

fn kind(t: FileType) -> &'static str {
    match t {
        FileType::RegularFile => "file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "fifo",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        FileType::Unknown => "thing",
    }
}

fn opaque(dir: &OwnedFd) -> bool {
    let mut value = [0u8; 8];
    rustix::fs::fgetxattr(dir.as_fd(), OVERLAY_OPAQUE, &mut value[..])
        .is_ok_and(|n| value[..n.min(value.len())] == *b"y")
}

/// Whether two regular files of the same size hold the same bytes.
fn same_content(
    expected_dir: &OwnedFd,
    actual_dir: &OwnedFd,
    name: &CStr,
    path: &str,
) -> Result<bool> {
    let open = |dir: &OwnedFd| -> Result<File> {
        rustix::fs::openat(
            dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map(File::from)
        .map_err(|e| Error::io(format!("opening /{path}"), e.into()))
    };
    let (mut a, mut b) = (open(expected_dir)?, open(actual_dir)?);
    let mut left = vec![0u8; 64 << 10];
    let mut right = vec![0u8; 64 << 10];
    loop {
        let n = read_full(&mut a, &mut left, path)?;
        let m = read_full(&mut b, &mut right, path)?;
        if n != m || left[..n] != right[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(file: &mut File, buf: &mut [u8], path: &str) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(format!("reading /{path}"), e)),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn finds_every_kind_of_difference_and_follows_no_link() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        for root in [&a, &b] {
            fs::create_dir_all(root.join("etc")).unwrap();
            fs::write(root.join("etc/passwd"), b"root:x:0:0\n").unwrap();
            std::os::unix::fs::symlink("/", root.join("host")).unwrap();
        }
        assert!(compare(&a, &b).unwrap().is_empty());
        fs::write(b.join("etc/passwd"), b"root:y:0:0\n").unwrap();
        fs::write(b.join("extra"), b"").unwrap();
        fs::remove_file(a.join("host")).unwrap();
        std::os::unix::fs::symlink("/etc", a.join("host")).unwrap();
        let diffs = compare(&a, &b).unwrap();
        assert_eq!(
            diffs,
            [
                "/etc/passwd: content differs from the layer's",
                "/extra: not in the layer",
                "/host: links to \"/\" where the layer's links to \"/etc\""
            ]
        );
        fs::remove_dir_all(b.join("etc")).unwrap();
        fs::write(b.join("etc"), b"").unwrap();
        let diffs = compare(&a, &b).unwrap();
        assert_eq!(diffs[0], "/etc: a file where the layer has a directory");
    }
}
