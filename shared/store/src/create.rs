//! Making a store where there is none, so that a crash at any moment leaves
//! a directory the next program takes up, and keeping img's working area
//! private to the store's owner.
//!
//! A new store is made in this order, under the index lock:
//!
//! ```text
//! ROOT/.img/ (0700), ROOT/.img/lock/index    the lock two creators share
//! ROOT/blobs/sha256/
//! ROOT/index.json                             written in .img/, renamed into ROOT
//! ROOT/oci-layout                             likewise, last: only now is it a store
//! ```
//!
//! Temporary files live in `.img/`, never in `ROOT`, so a creation killed at
//! any step leaves `ROOT` holding only names a layout has; the next program
//! finishes the job. Older versions wrote the temporary files in `ROOT`
//! itself (`.tmp-XXXXXX`): one of those is taken for a leftover, and
//! removed, only when its bytes are a beginning of what creation writes, so
//! a foreign directory is still never written into.
//!
//! `.img/` holds unpacked layers (with an image's setuid files), containers,
//! build directories and cache mounts: it is 0700, as Docker keeps its data
//! root, so no other user of the host can reach any of it. The OCI layout
//! beside it (`oci-layout`, `index.json`, `blobs/`) stays readable for the
//! other OCI tools. A store made before this rule has its mode fixed when
//! it is next opened by its owner.

use std::fs::{self, DirBuilder};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::{open_lock_file, Replace, LAYOUT_FILE, LAYOUT_VERSION, STATE_DIR};
use img_core::error::{Error, IoContext, Kind, Result};

/// The index of a new store.
pub(super) const EMPTY_INDEX: &[u8] =
    br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;

/// The mode of `.img/`: its owner's alone.
const PRIVATE_MODE: u32 = 0o700;

/// The prefix of creation's temporary files in `.img/`.
const CREATING: &str = "creating-";

/// The `oci-layout` file of a new store.
fn layout_bytes() -> Vec<u8> {
    format!(r#"{{"imageLayoutVersion":"{LAYOUT_VERSION}"}}"#).into_bytes()
}

/// Make a store at `root` unless there is one: a missing or empty
/// directory, or one an interrupted creation left, becomes an empty OCI
/// layout; anything else is refused and left untouched.
pub(super) fn create_if_missing(root: &Path) -> Result<()> {
    let layout = root.join(LAYOUT_FILE);
    if layout.exists() {
        return Ok(());
    }
    if !is_empty_or_ours(root)? {
        return Err(Error::new(
            Kind::FailedPrecondition,
            format!(
                "{} is not empty and is not an OCI image layout (no oci-layout file); \
                 choose another --root or an empty directory",
                root.display()
            ),
        ));
    }
    fs::create_dir_all(root).io_context(|| format!("creating store {}", root.display()))?;
    let state = root.join(STATE_DIR);
    private_dir(&state)?;
    let locks = state.join("lock");
    fs::create_dir_all(&locks).io_context(|| format!("creating store {}", root.display()))?;
    // Two programs may create the same new store at once: the index lock
    // makes one of them do it, and the other finds it done.
    let lock = open_lock_file(&locks.join("index"))?;
    lock.lock()
        .io_context(|| "waiting for the store's index lock".into())?;
    if layout.exists() {
        return Ok(());
    }
    // Under the lock, nobody else is creating: what a creation left is a
    // dead program's.
    remove_leftovers(root)?;
    fs::create_dir_all(root.join("blobs").join("sha256"))
        .io_context(|| format!("creating store {}", root.display()))?;
    if !root.join("index.json").exists() {
        place(root, "index.json", EMPTY_INDEX)?;
    }
    // oci-layout last: a store is only recognised once the rest exists.
    place(root, LAYOUT_FILE, &layout_bytes())
}

/// Whether `root` is missing, empty, or holds only the parts of a layout
/// that an interrupted creation leaves (never a foreign directory).
fn is_empty_or_ours(root: &Path) -> Result<bool> {
    let entries = match fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(Error::io(format!("opening store {}", root.display()), e)),
    };
    for entry in entries {
        let entry = entry.io_context(|| format!("listing {}", root.display()))?;
        let name = entry.file_name();
        let ours = match name.to_str() {
            Some(STATE_DIR | "blobs" | "index.json") => true,
            Some(other) => is_old_leftover(root, other)?,
            None => false,
        };
        if !ours {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether `name` in `root` is a temporary file an older img left when it
/// was killed creating a store: `.tmp-` and six letters or digits (as the
/// `tempfile` crate names them), a regular file whose bytes begin the new
/// store's `index.json` or `oci-layout` (it is empty when the kill came
/// before the write).
fn is_old_leftover(root: &Path, name: &str) -> Result<bool> {
    let Some(suffix) = name.strip_prefix(".tmp-") else {
        return Ok(false);
    };
    if suffix.len() != 6 || !suffix.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(false);
    }
    let path = root.join(name);
    let meta = fs::symlink_metadata(&path).io_context(|| format!("reading {}", path.display()))?;
    if !meta.is_file() || meta.len() > EMPTY_INDEX.len() as u64 {
        return Ok(false);
    }
    let bytes = fs::read(&path).io_context(|| format!("reading {}", path.display()))?;
    Ok(EMPTY_INDEX.starts_with(&bytes) || layout_bytes().starts_with(&bytes))
}

/// Remove the temporary files of creations that were killed: this
/// version's in `.img/`, older versions' in `root`.
fn remove_leftovers(root: &Path) -> Result<()> {
    let state = root.join(STATE_DIR);
    let mut leftovers = Vec::new();
    for name in names_in(&state)? {
        if name.starts_with(CREATING) {
            leftovers.push(state.join(name));
        }
    }
    for name in names_in(root)? {
        if is_old_leftover(root, &name)? {
            leftovers.push(root.join(name));
        }
    }
    for path in leftovers {
        fs::remove_file(&path).io_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

/// The names in `dir` that are text.
fn names_in(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).io_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.io_context(|| format!("listing {}", dir.display()))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// Put `bytes` at `root/name` whole or not at all: a temporary file in
/// `.img/` (named so that the next creator knows it for a leftover),
/// synced, renamed into place, the directory synced.
fn place(root: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let replace = Replace {
        prefix: CREATING,
        ..Replace::DURABLE
    };
    replace.write(&root.join(STATE_DIR), &root.join(name), bytes)
}

/// Make `dir` (the store's `.img/`) unless it exists, private to its
/// owner; an existing one open to others is closed when this process may
/// change its mode (it owns it, or is root). When it may not, the store is
/// another user's, open to this one for reading at most: left as it is.
pub(super) fn private_dir(dir: &Path) -> Result<()> {
    match DirBuilder::new().mode(PRIVATE_MODE).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        // Another user's layout (one skopeo made, say), open to this user
        // for reading: there is no working area to make.
        Err(e) if e.kind() == ErrorKind::PermissionDenied => return Ok(()),
        Err(e) => return Err(Error::io(format!("creating {}", dir.display()), e)),
    }
    let meta = fs::metadata(dir).io_context(|| format!("reading {}", dir.display()))?;
    let euid = rustix::process::geteuid();
    if meta.mode() & 0o077 == 0 || (meta.uid() != euid.as_raw() && !euid.is_root()) {
        return Ok(());
    }
    match fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_MODE)) {
        Ok(()) => Ok(()),
        // A store on a read-only filesystem cannot be written either.
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::ROFS.raw_os_error()) => Ok(()),
        Err(e) => Err(Error::io(
            format!("making {} private to its owner", dir.display()),
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    /// The entries of `root` and of its `.img/`, sorted.
    fn listing(root: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        if let Ok(state) = fs::read_dir(root.join(STATE_DIR)) {
            names.extend(
                state.map(|e| format!(".img/{}", e.unwrap().file_name().to_string_lossy())),
            );
        }
        names.sort();
        names
    }

    /// Paths and contents to plant in a directory.
    type Entries<'a> = &'a [(&'a str, &'a [u8])];

    /// Make `entries` under `root`: a path ending in `/` is a directory,
    /// any other a file with the given bytes.
    fn plant(root: &Path, entries: Entries<'_>) {
        for (path, bytes) in entries {
            let path = root.join(path);
            if path.to_string_lossy().ends_with('/') {
                fs::create_dir_all(&path).unwrap();
            } else {
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(&path, bytes).unwrap();
            }
        }
    }

    /// What a creation killed after each of its steps leaves — this
    /// version's, and an older one's, which wrote its temporary files in
    /// the root — is taken up by the next program: an empty store, no
    /// temporary file left, `.img/` private.
    #[test]
    fn every_interrupted_creation_is_finished_by_the_next_open() {
        let layout = layout_bytes();
        // Every step after the lock leaves the lock and blob directories.
        let locked: Entries<'_> = &[(".img/lock/index", b""), ("blobs/sha256/", b"")];
        let steps: &[(&str, Entries<'_>)] = &[
            ("nothing but the root", &[]),
            ("the lock directory", &[(".img/lock/", b"")]),
            ("the lock file and blob directory", &[]),
            ("an empty temporary index", &[(".img/creating-a1B2c3", b"")]),
            (
                "a partial temporary index",
                &[(".img/creating-a1B2c3", &EMPTY_INDEX[..20])],
            ),
            ("the index in place", &[("index.json", EMPTY_INDEX)]),
            (
                "a partial temporary oci-layout",
                &[
                    ("index.json", EMPTY_INDEX),
                    (".img/creating-x9Y8z7", &layout[..7]),
                ],
            ),
            (
                "an older version's empty temporary file",
                &[(".tmp-Qw3rty", b"")],
            ),
            (
                "an older version's partial index",
                &[(".tmp-Qw3rty", &EMPTY_INDEX[..33])],
            ),
            (
                "an older version's partial oci-layout",
                &[("index.json", EMPTY_INDEX), (".tmp-0aZ9bY", &layout[..12])],
            ),
        ];
        for (i, (step, entries)) in steps.iter().enumerate() {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().join("store");
            fs::create_dir(&root).unwrap();
            if i >= 2 {
                plant(&root, locked);
            }
            plant(&root, entries);
            let store = Store::open(&root).unwrap_or_else(|e| panic!("after {step}: {e}"));
            assert!(store.index().unwrap().entries().is_empty(), "{step}");
            assert_eq!(
                fs::read(root.join("index.json")).unwrap(),
                EMPTY_INDEX,
                "{step}"
            );
            assert_eq!(fs::read(root.join(LAYOUT_FILE)).unwrap(), layout, "{step}");
            assert_eq!(
                listing(&root),
                [
                    ".img",
                    ".img/ingest",
                    ".img/lock",
                    "blobs",
                    "index.json",
                    "oci-layout"
                ],
                "{step}: a temporary file was left"
            );
            let mode = fs::metadata(root.join(STATE_DIR)).unwrap().mode() & 0o777;
            assert_eq!(mode, PRIVATE_MODE, "{step}: .img is {mode:o}");
        }
    }

    /// A file that only looks like an older version's leftover keeps the
    /// directory foreign: another name, other bytes, a directory.
    #[test]
    fn foreign_files_are_never_taken_for_leftovers() {
        let cases: &[(&str, Entries<'_>)] = &[
            ("other bytes", &[(".tmp-Qw3rty", b"my notes")]),
            ("a longer name", &[(".tmp-Qw3rty1", b"")]),
            ("a directory", &[(".tmp-Qw3rty/", b"")]),
            (
                "beside our parts",
                &[("index.json", EMPTY_INDEX), ("notes.txt", b"")],
            ),
        ];
        for (case, entries) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().join("home");
            fs::create_dir(&root).unwrap();
            plant(&root, entries);
            let before = listing(&root);
            let err = Store::open(&root)
                .err()
                .unwrap_or_else(|| panic!("{case}: opened"));
            assert_eq!(err.kind(), Kind::FailedPrecondition, "{case}");
            assert_eq!(listing(&root), before, "{case}: written into");
        }
    }

    /// `.img/` is made 0700 whatever the umask, and an existing store's is
    /// closed when its owner opens it.
    #[test]
    fn the_working_area_is_private() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("store");
        Store::open(&root).unwrap();
        let state = root.join(STATE_DIR);
        let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(
            mode(&root.join("blobs")) & 0o005,
            0o005,
            "the layout stays readable"
        );
        fs::set_permissions(&state, fs::Permissions::from_mode(0o755)).unwrap();
        Store::open(&root).unwrap();
        assert_eq!(mode(&state), 0o700);
        // A layout another tool made gets a private .img/ too.
        let other = tmp.path().join("skopeo");
        plant(
            &other,
            &[
                ("oci-layout", &layout_bytes()),
                ("index.json", EMPTY_INDEX),
                ("blobs/sha256/", b""),
            ],
        );
        Store::open(&other).unwrap();
        assert_eq!(mode(&other.join(STATE_DIR)), 0o700);
    }
}
