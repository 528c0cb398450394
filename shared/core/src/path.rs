//! The one lexical path cleaner: empty and `.` elements dropped, each `..`
//! taking back the element before it — and a `..` that would climb above
//! the start refused, dropped, or kept, as the caller's rules say
//! ([`Above`]). Every place img cleans a path goes through [`elements`]:
//! tar entries ([`clean`]: every path img takes from a layer or an archive
//! is cleaned into a relative path under the root, escapes refused; a
//! leading `/` and `./` dropped, as Docker and GNU tar do), mount sources
//! ([`inside`]), COPY sources (`img_builder::copy::scoped`), and Go's
//! `path.Clean` for `.dockerignore` patterns and WORKDIR ([`normalize`]).
//! Tar paths are bytes: names need not be UTF-8, and a file name must
//! survive unchanged.
//!
//! Lexical cleaning knows nothing of symbolic links: what a path names on
//! disk is resolved inside its root by the code that opens it.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What a `..` that would climb above the start of a path does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Above {
    /// The path is refused ([`elements`] returns `None`).
    Refuse,
    /// The `..` is dropped: the start is a root (`/..` is `/`).
    Drop,
    /// The `..` is kept: a relative path may begin with `..` elements, as
    /// Go's `path.Clean` keeps them.
    Keep,
}

/// The elements of `path` cleaned lexically: empty and `.` elements
/// dropped, `..` resolved against the element before it, and a `..` above
/// the start handled as `above` says (`None` when it refuses). A leading
/// `/` is not an element; callers that care look at it themselves.
pub fn elements(path: &str, above: Above) -> Option<Vec<&str>> {
    climb(path.split('/'), above)
}

/// [`elements`] of a path of bytes (tar names need not be UTF-8).
pub fn byte_elements(path: &[u8], above: Above) -> Option<Vec<&[u8]>> {
    climb(path.split(|b| *b == b'/'), above)
}

fn climb<T: AsRef<[u8]>>(parts: impl Iterator<Item = T>, above: Above) -> Option<Vec<T>> {
    let mut kept: Vec<T> = Vec::new();
    for part in parts {
        match part.as_ref() {
            b"" | b"." => {}
            b".." => match kept.last() {
                Some(last) if last.as_ref() != b".." => {
                    kept.pop();
                }
                _ => match above {
                    Above::Refuse => return None,
                    Above::Drop => {}
                    Above::Keep => kept.push(part),
                },
            },
            _ => kept.push(part),
        }
    }
    Some(kept)
}

/// A path cleaned as Go's `path.Clean` cleans it (Docker applies it to
/// `.dockerignore` patterns and WORKDIR): a rooted path stays rooted, a
/// relative one keeps its leading `..`, nothing left is `.`.
pub fn normalize(path: &str) -> String {
    let rooted = path.starts_with('/');
    let above = if rooted { Above::Drop } else { Above::Keep };
    // Keep never refuses.
    let joined = elements(path, above).unwrap_or_default().join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Clean `raw` into components under the root: `None` for the root itself
/// (`.`, `/`, `./`), an error for a path that leaves the root.
pub fn clean(raw: &[u8]) -> Result<Option<Vec<u8>>> {
    let parts = byte_elements(raw, Above::Refuse).ok_or_else(|| escapes(raw))?;
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
    elements(path, Above::Refuse)
        .map(|parts| parts.join("/"))
        .ok_or_else(|| Error::invalid(format!("{path}: a mount source may not leave its root")))
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

    #[test]
    fn go_path_clean() {
        for (path, want) in [
            ("", "."),
            (".", "."),
            ("/", "/"),
            ("a/b/", "a/b"),
            ("./a//b/./c/", "a/b/c"),
            ("a/../b", "b"),
            ("a/../..", ".."),
            ("../../a", "../../a"),
            ("/../a", "/a"),
            ("/a/b/../../..", "/"),
            ("a/b/../../c/..", "."),
            ("//srv//app/", "/srv/app"),
        ] {
            assert_eq!(normalize(path), want, "{path:?}");
        }
    }
}
