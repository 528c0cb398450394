//! Paths inside a root directory, as if that root were `/`: the build
//! context (or a stage's root filesystem) for sources, the root filesystem
//! being built for destinations.
//!
//! Paths are cleaned lexically first: a source's `..` that would leave the
//! root is refused, a destination's stops at the root as `/..` does. Then
//! each element is looked up through the root's directory handles
//! ([`img_core::confine`]) and symbolic links are followed *inside* the root:
//! an absolute target starts again at the root, and a `..` never climbs
//! above it. Whatever a link says, the real path found is under the root,
//! so nothing outside it is read or written.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};

use img_core::confine::Root;
use img_core::error::{Error, Result};
use img_core::path::{elements, Above};

/// The elements of `path` cleaned lexically, relative to the root: empty
/// and `.` elements dropped, a leading `/` ignored. A `..` above the root
/// is refused when `confined`, dropped otherwise.
pub fn clean(path: &str, confined: bool) -> Result<Vec<String>> {
    let above = if confined { Above::Refuse } else { Above::Drop };
    let parts = elements(path, above).ok_or_else(|| {
        Error::invalid(format!(
            "forbidden path outside the build context: {path} \
             (sources are relative to the context; move the file into it)"
        ))
    })?;
    Ok(parts.into_iter().map(str::to_string).collect())
}

/// Where a path led inside a root.
#[derive(Debug)]
pub struct Resolved {
    /// The real elements that exist, below the root (links resolved).
    pub found: Vec<OsString>,
    /// Elements after those that do not exist (or that `hidden` hides).
    pub missing: Vec<OsString>,
    /// An element that exists but is not a directory stood where more
    /// elements had to follow.
    pub blocked: bool,
    /// The last element's metadata (not followed), when all exist.
    pub meta: Option<fs::Metadata>,
}

impl Resolved {
    /// Whether the whole path exists.
    pub fn exists(&self) -> bool {
        self.missing.is_empty() && !self.blocked
    }

    /// The real path of what exists (the root itself when nothing does).
    pub fn existing(&self, root: &Path) -> PathBuf {
        join(root, &self.found)
    }

    /// The real path the whole path stands for, existing or not.
    #[cfg(test)]
    pub fn path(&self, root: &Path) -> PathBuf {
        join(join(root, &self.found).as_path(), &self.missing)
    }

    /// What exists, relative to the root and `/`-separated (`""` for the
    /// root): how `.dockerignore` names it.
    pub fn relative(&self) -> String {
        relative(&self.found)
    }
}

/// `/`-separated form of path elements below a root.
pub fn relative(parts: &[OsString]) -> String {
    img_core::confine::relative(parts)
}

fn join(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut path = root.to_path_buf();
    for part in parts {
        path.push(part);
    }
    path
}

/// Look up the cleaned `parts` under `root`, following symbolic links
/// inside it (the last element's too when `follow_last`), through the
/// root's handles (see [`img_core::confine::Root::lookup`]). `hidden` says of
/// a root-relative path (and whether it is a directory) that it is to be
/// taken as missing: a `.dockerignore`d file.
pub fn resolve(
    root: &Path,
    parts: &[impl AsRef<OsStr>],
    follow_last: bool,
    hidden: &dyn Fn(&str, bool) -> bool,
) -> Result<Resolved> {
    let found = Root::open(root)?.lookup(parts, follow_last, hidden)?;
    let meta = if found.exists() {
        // Every element found is a real directory but perhaps the last,
        // which is not followed: the path names what the lookup found.
        let path = join(root, &found.found);
        let stat = if found.found.is_empty() {
            fs::metadata(&path)
        } else {
            fs::symlink_metadata(&path)
        };
        Some(stat.map_err(|e| Error::io(format!("reading {}", path.display()), e))?)
    } else {
        None
    };
    Ok(Resolved {
        found: found.found,
        missing: found.missing,
        blocked: found.blocked,
        meta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn nothing_hidden(_: &str, _: bool) -> bool {
        false
    }

    #[test]
    fn cleaning_refuses_escapes_only_when_confined() {
        assert_eq!(clean("./a//b/../c/", true).unwrap(), vec!["a", "c"]);
        assert_eq!(clean("/a", true).unwrap(), vec!["a"]);
        let err = clean("../x", true).unwrap_err();
        assert!(err.to_string().contains("outside the build context: ../x"));
        assert_eq!(clean("/../../etc", false).unwrap(), vec!["etc"]);
    }

    #[test]
    fn links_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("etc")).unwrap();
        fs::write(root.join("etc/passwd"), "inside").unwrap();
        symlink("/etc", root.join("abs")).unwrap();
        symlink("../../../etc", root.join("climb")).unwrap();
        for link in ["abs", "climb"] {
            let r = resolve(root, &[link, "passwd"], true, &nothing_hidden).unwrap();
            assert!(r.exists());
            assert_eq!(r.path(root), root.join("etc/passwd"));
            assert_eq!(r.relative(), "etc/passwd");
        }
    }

    #[test]
    fn missing_tails_and_files_in_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::write(root.join("file"), "x").unwrap();
        let r = resolve(root, &["a", "b"], true, &nothing_hidden).unwrap();
        assert!(!r.exists() && !r.blocked);
        assert_eq!(r.path(root), root.join("a/b"));
        let r = resolve(root, &["file", "b"], true, &nothing_hidden).unwrap();
        assert!(r.blocked);
    }

    #[test]
    fn a_link_loop_ends() {
        let dir = tempfile::tempdir().unwrap();
        symlink("b", dir.path().join("a")).unwrap();
        symlink("a", dir.path().join("b")).unwrap();
        let err = resolve(dir.path(), &["a"], true, &nothing_hidden).unwrap_err();
        assert!(err.to_string().contains("too many symbolic links"));
    }
}
