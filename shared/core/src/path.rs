//! Tar entry paths made safe: every path img takes from a tar (a layer, an
//! archive) is cleaned lexically into a relative path under the root, and a
//! path that climbs out of it (`..` above the root) is refused. Leading `/`
//! and `./` are dropped, as Docker and GNU tar do. Paths are bytes: tar names
//! need not be UTF-8, and a file name must survive unchanged.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Clean `raw` into components under the root: `None` for the root itself
/// (`.`, `/`, `./`), an error for a path that leaves the root.
pub fn clean(raw: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err(escapes(raw));
                }
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    if raw.contains(&0) {
        return Err(Error::invalid(format!(
            "tar entry {:?} has a NUL byte in its name",
            String::from_utf8_lossy(raw)
        )));
    }
    Ok(Some(parts.join(&b'/')))
}

/// The error for an entry that would be written outside the destination.
pub fn escapes(raw: &[u8]) -> Error {
    Error::invalid(format!(
        "tar entry {:?} points outside the root (a `..` path); refusing it",
        String::from_utf8_lossy(raw)
    ))
}

/// The parent of a cleaned path (`None` for a top-level name).
pub fn parent(path: &[u8]) -> Option<&[u8]> {
    path.iter().rposition(|b| *b == b'/').map(|i| &path[..i])
}

/// The last component of a cleaned path.
pub fn base_name(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|b| *b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Every proper ancestor of a cleaned path, outermost first
/// (`a/b/c` → `a`, `a/b`).
pub fn ancestors(path: &[u8]) -> impl Iterator<Item = &[u8]> {
    path.iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .map(move |(i, _)| &path[..i])
}

/// `child` joined under `dir` (a cleaned path, or `None` for the root).
pub fn join(dir: Option<&[u8]>, child: &[u8]) -> Vec<u8> {
    match dir {
        Some(d) => [d, b"/", child].concat(),
        None => child.to_vec(),
    }
}

/// A cleaned path as a relative filesystem path.
pub fn to_path(path: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    Path::new(std::ffi::OsStr::from_bytes(path)).to_path_buf()
}

/// The target of a hard link in a layer, cleaned like an entry path: hard
/// links name another entry of the tree, relative to its root.
pub fn clean_link(raw: &[u8]) -> Result<Vec<u8>> {
    clean(raw)?.ok_or_else(|| {
        Error::invalid(format!(
            "hard link target {:?} is the root directory",
            String::from_utf8_lossy(raw)
        ))
    })
}

/// `path` (relative to a root) cleaned, refused when it leaves the root.
pub fn inside(path: &str) -> Result<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(Error::invalid(format!(
                        "{path}: a mount source may not leave its root"
                    )));
                }
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_and_refuses_escapes() {
        for (raw, want) in [
            (&b"a/b"[..], Some(&b"a/b"[..])),
            (b"./a/b/", Some(b"a/b")),
            (b"/etc/passwd", Some(b"etc/passwd")),
            (b"a/../b", Some(b"b")),
            (b"a//./b", Some(b"a/b")),
            (b"./", None),
            (b"/", None),
        ] {
            assert_eq!(clean(raw).unwrap().as_deref(), want, "{raw:?}");
        }
        for bad in [&b"../x"[..], b"a/../../x", b"/../etc", b".."] {
            assert!(clean(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn path_parts() {
        assert_eq!(parent(b"a/b/c"), Some(&b"a/b"[..]));
        assert_eq!(parent(b"a"), None);
        assert_eq!(base_name(b"a/b/c"), b"c");
        let all: Vec<&[u8]> = ancestors(b"a/b/c").collect();
        assert_eq!(all, vec![&b"a"[..], b"a/b"]);
        assert_eq!(join(Some(b"a"), b"b"), b"a/b");
    }

    #[test]
    fn sources_stay_inside() {
        assert_eq!(inside("a/./b/../c").unwrap(), "a/c");
        assert_eq!(inside("/").unwrap(), "");
        assert!(inside("../etc").is_err());
        assert!(inside("a/../../etc").is_err());
    }
}
