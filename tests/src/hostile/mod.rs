//! The hostile-input suite's table: layers built to reach outside the
//! place they are unpacked into, in the spirit of containerd's archive
//! breakout tests and moby's pkg/archive tests: path traversal, absolute
//! paths, symbolic and hard link escapes (direct, chained, through a
//! parent, swapped between entries), whiteouts of `.` and `..` and through
//! links, opaque markers in odd places, device nodes, set-user-ID files,
//! huge and negative sizes, PAX and GNU long-name tricks, duplicate
//! entries.
//!
//! Every case aims at [`Victims`]: a file and a directory outside every
//! destination, named by absolute paths and by `..` climbs deep enough to
//! reach `/` from anywhere. After each case at each entry point the
//! victims must be as they were (not written, not deleted, nothing added),
//! and their content (a marker) must show up nowhere: not in any output,
//! blob, snapshot or container.

pub mod image;
pub mod tar;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub use self::tar::{Entry, Long};

/// Enough `../` to reach `/` from any destination the suite uses.
const CLIMB: usize = 24;

/// A file and a directory that hostile layers aim at.
pub struct Victims {
    /// The directory holding both.
    pub root: PathBuf,
    /// The victim file (`ROOT/secret.txt`).
    pub file: PathBuf,
    /// The victim directory (`ROOT/dir`, holding `keep`).
    pub dir: PathBuf,
    /// The victims' content: it must never be read into anything.
    pub marker: String,
    before: BTreeMap<String, String>,
}

impl Victims {
    /// Victims under `at`.
    pub fn new(at: &Path) -> Victims {
        let root = at.join("victims");
        let (file, dir) = (root.join("secret.txt"), root.join("dir"));
        std::fs::create_dir_all(&dir).unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let marker = format!("victim-content-{}-{nanos}", std::process::id());
        std::fs::write(&file, &marker).unwrap();
        std::fs::write(dir.join("keep"), &marker).unwrap();
        let before = listing(&root);
        Victims {
            root,
            file,
            dir,
            marker,
            before,
        }
    }

    /// The victim file's path without its leading `/`.
    pub fn file_rel(&self) -> String {
        self.file
            .display()
            .to_string()
            .trim_start_matches('/')
            .to_string()
    }

    /// The victim directory's path without its leading `/`.
    pub fn dir_rel(&self) -> String {
        self.dir
            .display()
            .to_string()
            .trim_start_matches('/')
            .to_string()
    }

    /// Panic unless the victims are exactly as they were made.
    #[track_caller]
    pub fn assert_intact(&self, what: &str) {
        assert_eq!(
            listing(&self.root),
            self.before,
            "{what}: the victims changed"
        );
    }

    /// Panic if `text` holds the victims' content.
    #[track_caller]
    pub fn assert_unseen(&self, text: &str, what: &str) {
        assert!(
            !text.contains(&self.marker),
            "{what}: the victims' content was read:\n{text}"
        );
    }

    /// Panic if any regular file under `dir` (a store, a destination)
    /// holds the victims' content, gzip blobs read uncompressed.
    #[track_caller]
    pub fn assert_not_in(&self, dir: &Path, what: &str) {
        for path in files(dir) {
            let mut bytes = std::fs::read(&path).unwrap_or_default();
            if bytes.starts_with(&[0x1f, 0x8b]) {
                let mut plain = Vec::new();
                let mut gz = flate2::read::MultiGzDecoder::new(&bytes[..]);
                if gz.read_to_end(&mut plain).is_ok() {
                    bytes = plain;
                }
            }
            let found = bytes
                .windows(self.marker.len())
                .any(|w| w == self.marker.as_bytes());
            assert!(
                !found,
                "{what}: {} holds the victims' content",
                path.display()
            );
        }
    }
}

/// Every regular file below `dir` (links and special files left alone: a
/// FIFO would block a reader).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            out.extend(files(&path));
        } else if meta.is_file() {
            out.push(path);
        }
    }
    out
}

/// Every path under `root` with its type, content, mode, owner and time.
fn listing(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let what = if meta.is_dir() {
                todo.push(path.clone());
                "dir".to_string()
            } else if meta.is_file() {
                std::fs::read_to_string(&path).unwrap_or_default()
            } else {
                format!("other {:o}", meta.mode())
            };
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            out.insert(
                rel,
                format!(
                    "{what} mode {:o} owner {}:{} mtime {}.{}",
                    meta.mode(),
                    meta.uid(),
                    meta.gid(),
                    meta.mtime(),
                    meta.mtime_nsec()
                ),
            );
        }
    }
    out
}

/// One hostile layer and what every img entry point must do with it.
pub struct Case {
    /// Its name, for messages.
    pub name: &'static str,
    /// The layer's entries.
    pub entries: Vec<Entry>,
    /// Whether programs that store layers (import, commit, load, pull)
    /// accept it; when not, they exit 2 and store nothing.
    pub stored: bool,
    /// Whether unpacking it succeeds (img-layer apply, snapshots, ADD);
    /// when not, it exits 2.
    pub applied: bool,
    /// A path (relative to the root it is unpacked into) the layer's
    /// content must land on, inside: proof that the write happened there.
    pub lands: Option<String>,
}

impl Case {
    /// The layer's bytes (an uncompressed tar).
    pub fn layer(&self) -> Vec<u8> {
        tar::build(&self.entries)
    }
}

fn case(name: &'static str, stored: bool, applied: bool, entries: Vec<Entry>) -> Case {
    Case {
        name,
        entries,
        stored,
        applied,
        lands: None,
    }
}

fn landing(mut case: Case, path: String) -> Case {
    case.lands = Some(path);
    case
}

/// Refused wherever it comes in.
fn refused(name: &'static str, entries: Vec<Entry>) -> Case {
    case(name, false, false, entries)
}

/// Accepted, and unpacked inside its root.
fn contained(name: &'static str, entries: Vec<Entry>) -> Case {
    case(name, true, true, entries)
}

/// Every hostile case, aimed at `v`.
pub fn cases(v: &Victims) -> Vec<Case> {
    let climb = "../".repeat(CLIMB);
    let (file, dir) = (v.file.display().to_string(), v.dir.display().to_string());
    let (file_rel, dir_rel) = (v.file_rel(), v.dir_rel());
    let parent_rel = v
        .root
        .display()
        .to_string()
        .trim_start_matches('/')
        .to_string();
    let x = b"x".as_slice();
    let payload = b"written by a hostile layer".as_slice();
    let neg = {
        // base-256: the top bit set, then a negative number's bytes.
        let mut f = [0xffu8; 12];
        f[11] = 0x00;
        f
    };
    vec![
        // Path traversal and absolute paths.
        refused(
            "dotdot-to-the-victim",
            vec![Entry::file(format!("{climb}{file_rel}"), payload)],
        ),
        refused("dotdot-inside-a-path", vec![Entry::file("a/../../x", x)]),
        refused(
            "dotdot-directory",
            vec![Entry::dir("../escape"), Entry::file("../escape/x", x)],
        ),
        refused(
            "absolute-dotdot",
            vec![Entry::file(format!("/../../{file_rel}"), payload)],
        ),
        landing(
            contained(
                "absolute-path-lands-inside",
                vec![Entry::file(&file, payload)],
            ),
            file_rel.clone(),
        ),
        // Symbolic link escapes.
        landing(
            contained(
                "symlink-absolute-then-write-through",
                vec![
                    Entry::symlink("esc", &dir),
                    Entry::file("esc/pwned", payload),
                ],
            ),
            format!("{dir_rel}/pwned"),
        ),
        landing(
            contained(
                "symlink-relative-then-write-through",
                vec![
                    Entry::symlink("esc", format!("{climb}{dir_rel}")),
                    Entry::file("esc/pwned", payload),
                ],
            ),
            format!("{dir_rel}/pwned"),
        ),
        landing(
            contained(
                "symlink-to-the-file-then-the-file",
                vec![Entry::symlink("f", &file), Entry::file("f", payload)],
            ),
            "f".into(),
        ),
        landing(
            contained(
                "symlink-chain",
                vec![
                    Entry::symlink("a", "b"),
                    Entry::symlink("b", "c/../d"),
                    Entry::dir("c"),
                    Entry::symlink("d", &dir),
                    Entry::file("a/pwned", payload),
                ],
            ),
            format!("{dir_rel}/pwned"),
        ),
        landing(
            contained(
                "symlink-in-a-parent-directory",
                vec![
                    Entry::dir("d"),
                    Entry::symlink("d/up", climb.clone()),
                    Entry::file(format!("d/up/{dir_rel}/pwned"), payload),
                ],
            ),
            format!("{dir_rel}/pwned"),
        ),
        landing(
            contained(
                "directory-swapped-for-a-symlink",
                vec![
                    Entry::dir("x"),
                    Entry::file("x/ok", x),
                    Entry::symlink("x", &dir),
                    Entry::file("x/pwned", payload),
                ],
            ),
            format!("{dir_rel}/pwned"),
        ),
        case(
            "symlink-loop",
            true,
            false,
            vec![
                Entry::symlink("l1", "l2"),
                Entry::symlink("l2", "l1"),
                Entry::file("l1/x", x),
            ],
        ),
        landing(
            contained(
                "symlink-through-proc-self-root",
                vec![
                    Entry::symlink("p", "/proc/self/root"),
                    Entry::file(format!("p/{dir_rel}/pwned"), payload),
                ],
            ),
            format!("proc/self/root/{dir_rel}/pwned"),
        ),
        landing(
            contained(
                "symlink-target-as-gnu-long-link",
                vec![
                    Entry::symlink("esc", format!("{climb}{dir_rel}")).long(Long::Gnu),
                    Entry::file("esc/pwned", payload),
                ],
            ),
            format!("{dir_rel}/pwned"),
        ),
        // Hard link escapes.
        case(
            "hard-link-to-an-absolute-path",
            true,
            false,
            vec![Entry::hard("h", &file)],
        ),
        refused(
            "hard-link-dotdot",
            vec![Entry::hard("h", format!("{climb}{file_rel}"))],
        ),
        case(
            "hard-link-through-a-symlink",
            true,
            false,
            vec![Entry::symlink("esc", &dir), Entry::hard("h", "esc/keep")],
        ),
        landing(
            contained(
                "hard-link-to-a-symlink-then-written",
                vec![
                    Entry::symlink("s", &file),
                    Entry::hard("h", "s"),
                    Entry::file("h", payload),
                ],
            ),
            "h".into(),
        ),
        landing(
            contained(
                "hard-link-target-swapped-for-a-symlink",
                vec![
                    Entry::file("t", x),
                    Entry::hard("h", "t"),
                    Entry::symlink("t", &file),
                    Entry::hard("h2", "t"),
                    Entry::file("h2", payload),
                ],
            ),
            "h2".into(),
        ),
        refused(
            "hard-link-pax-linkpath-dotdot",
            vec![Entry::hard("h", format!("{climb}{file_rel}")).long(Long::Pax)],
        ),
        refused("hard-link-to-the-root", vec![Entry::hard("h", "/")]),
        // Whiteouts.
        refused(
            "whiteout-of-dotdot",
            vec![Entry::file("keep", x), Entry::file(".wh...", b"")],
        ),
        refused("whiteout-of-dot", vec![Entry::file(".wh..", b"")]),
        refused(
            "whiteout-of-dotdot-in-a-directory",
            vec![Entry::dir("dir"), Entry::file("dir/.wh...", b"")],
        ),
        refused(
            "whiteout-of-dotdot-through-a-symlink",
            vec![Entry::symlink("r", "/"), Entry::file("r/.wh...", b"")],
        ),
        refused("whiteout-of-nothing", vec![Entry::file(".wh.", b"")]),
        refused(
            "whiteout-named-by-pax",
            vec![Entry::file(".wh...", b"").long(Long::Pax)],
        ),
        refused(
            "whiteout-named-by-gnu-long-name",
            vec![Entry::file(format!("{}/.wh...", "d".repeat(120)), b"").long(Long::Gnu)],
        ),
        contained(
            "whiteout-through-an-absolute-symlink",
            vec![
                Entry::symlink("r", v.root.display().to_string()),
                Entry::file("r/.wh.secret.txt", b""),
                Entry::file("r/.wh.dir", b""),
            ],
        ),
        contained(
            "whiteout-through-a-relative-symlink",
            vec![
                Entry::symlink("r", format!("{climb}{dir_rel}")),
                Entry::file("r/.wh.keep", b""),
            ],
        ),
        contained(
            "whiteout-by-absolute-path",
            vec![
                Entry::file(format!("/{dir_rel}/.wh.keep"), b""),
                Entry::file(format!("/{parent_rel}/.wh.secret.txt"), b""),
            ],
        ),
        refused("entry-below-a-whiteout", vec![Entry::file(".wh.x/y", x)]),
        // Opaque markers in odd places.
        contained(
            "opaque-through-a-symlink",
            vec![
                Entry::symlink("r", &dir),
                Entry::file("r/.wh..wh..opq", b""),
            ],
        ),
        landing(
            contained(
                "opaque-in-its-own-new-directory",
                vec![
                    Entry::dir("o"),
                    Entry::file("o/.wh..wh..opq", b""),
                    Entry::file("o/new", payload),
                ],
            ),
            "o/new".into(),
        ),
        refused(
            "opaque-marker-as-a-directory",
            vec![
                Entry::dir("d"),
                Entry::dir("d/.wh..wh..opq"),
                Entry::file("d/.wh..wh..opq/x", x),
            ],
        ),
        contained(
            "opaque-marker-of-a-file",
            vec![Entry::file("f", x), Entry::file("f/.wh..wh..opq", b"")],
        ),
        // Special files.
        landing(
            contained(
                "device-nodes",
                vec![
                    Entry::dir("dev"),
                    Entry::node("dev/mem", b'3', (1, 1)),
                    Entry::node("dev/sda", b'4', (8, 0)),
                    Entry::node("dev/fifo", b'6', (0, 0)),
                ],
            ),
            "dev/fifo".into(),
        ),
        landing(
            contained(
                "set-user-id-file",
                vec![Entry::file("suid", payload).mode(0o4755)],
            ),
            "suid".into(),
        ),
        refused("volume-header", vec![Entry::file("vol", b"").typed(b'V')]),
        refused(
            "multi-volume-continuation",
            vec![Entry::file("cont", x).typed(b'M')],
        ),
        // Sizes.
        refused("huge-size", vec![Entry::file("big", x).declared(1 << 40)]),
        refused("negative-size", vec![Entry::file("neg", x).raw_size(neg)]),
        // Names from PAX and GNU records.
        refused(
            "pax-path-dotdot",
            vec![Entry::file(format!("{climb}{file_rel}"), payload).long(Long::Pax)],
        ),
        refused(
            "gnu-long-name-dotdot",
            vec![Entry::file(format!("{climb}{file_rel}"), payload).long(Long::Gnu)],
        ),
        refused(
            "pax-path-with-a-nul",
            vec![Entry::file(b"ok\0/../../x".as_slice(), x).long(Long::Pax)],
        ),
        // Duplicate entries.
        landing(
            contained(
                "duplicate-file-symlink-file",
                vec![
                    Entry::file("x", b"first"),
                    Entry::symlink("x", &file),
                    Entry::file("x", payload),
                ],
            ),
            "x".into(),
        ),
        landing(
            contained(
                "duplicate-directory-symlink-directory",
                vec![
                    Entry::dir("d"),
                    Entry::symlink("d", &dir),
                    Entry::dir("d"),
                    Entry::file("d/pwned", payload),
                ],
            ),
            "d/pwned".into(),
        ),
        landing(
            contained(
                "whiteout-of-its-own-entry",
                vec![Entry::file("a", payload), Entry::file(".wh.a", b"")],
            ),
            "a".into(),
        ),
    ]
}
