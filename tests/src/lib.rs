//! The integration-test harness: runs the built `img-*` programs (and the
//! real peer tools) in shell pipelines on a temporary store, and makes
//! fixture images locally from Debian's busybox-static.
//!
//! Tests that need a peer tool call [`need`]: when the tool is missing the
//! test is skipped with a message, except under `CI=true`, where it fails.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub mod archive;
pub mod docs;

/// The directory holding the built `img-*` binaries (target/debug).
pub fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // The test binary is target/debug/deps/it-HASH.
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        assert!(
            dir.join("img-tag").exists(),
            "the img binaries are not built in {}: run `cargo build --workspace` first",
            dir.display()
        );
        dir
    })
    .clone()
}

/// Whether a peer tool is on PATH. Missing under `CI=true` is a failure;
/// otherwise the caller skips.
pub fn need(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success()
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("peer tools missing under CI=true: {missing:?} (install them as .ci/run does)");
    }
    eprintln!("SKIPPED: peer tools missing: {missing:?}");
    false
}

/// A fixed clock for golden output (`IMG_NOW`).
pub const NOW: &str = "2026-11-22T12:00:00Z";

/// A temporary store and a place to run pipelines against it.
pub struct Env {
    pub dir: tempfile::TempDir,
}

/// What a pipeline did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panic with the whole output unless the pipeline succeeded.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "failed: stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Panic unless the pipeline exited with `code`.
    #[track_caller]
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "wrong exit code: stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// stdout parsed as NDJSON records.
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a record: {l}: {e}")))
            .collect()
    }
}

impl Env {
    /// A new empty environment; the store is `$IMG_ROOT` = `<dir>/store`.
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The store's root.
    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// A path inside the environment's scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Run `script` with bash (`set -o pipefail`), the img binaries first on
    /// PATH, `IMG_ROOT` set to the store, in the scratch directory.
    pub fn sh(&self, script: &str) -> Run {
        self.sh_with_stdin(script, None)
    }

    /// Like [`Env::sh`], feeding `stdin`.
    pub fn sh_with_stdin(&self, script: &str, stdin: Option<&[u8]>) -> Run {
        use std::io::Write;
        let path = format!(
            "{}:{}",
            bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new("bash")
            .args(["-c", &format!("set -o pipefail\n{script}")])
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("IMG_ROOT", self.store())
            .env("IMG_NOW", NOW)
            .env("STORE", self.store())
            .env("FIXTURES", fixtures())
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(bytes) = stdin {
            child.stdin.take().unwrap().write_all(bytes).unwrap();
        }
        Run::from(child.wait_with_output().unwrap())
    }

    /// Copy a fixture image into the store under `name` with skopeo, as a
    /// user of other OCI tools would.
    pub fn seed(&self, fixture: &str, name: &str) {
        std::fs::create_dir_all(self.store()).unwrap();
        self.sh(&format!(
            "skopeo copy -q oci:$FIXTURES:{fixture} oci:$STORE:{name}"
        ))
        .ok();
    }

    /// The store's index.json, parsed.
    pub fn index(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.store().join("index.json")).unwrap()).unwrap()
    }

    /// Check the store is a consistent OCI layout: index.json parses, and
    /// every blob an entry reaches exists and matches its digest.
    #[track_caller]
    pub fn check_store(&self) {
        check_layout(&self.store());
    }
}

impl Default for Env {
    fn default() -> Self {
        Env::new()
    }
}

/// Verify an OCI layout: every reachable blob exists and hashes right.
#[track_caller]
pub fn check_layout(root: &Path) {
    let store = img::store::Store::open(root).unwrap();
    let reachable = store.reachable().unwrap();
    for digest in &reachable {
        if store.has_blob(digest) {
            store
                .read_blob_by_digest(digest)
                .map(|_| ())
                .or_else(|e| {
                    // Layers may be large; read_blob_by_digest caps at 16 MiB.
                    if e.kind() == img::Kind::InvalidInput {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .unwrap();
        }
    }
    for entry in store.index().unwrap().entries() {
        store.load_target(&entry.descriptor).unwrap();
    }
}

/// The OCI layout holding the fixture images, made once per test run:
/// `base` (busybox-static, `CMD ["sh"]`), `derived` (base plus one layer,
/// sharing base's layer), `other` (a different one-layer image).
pub fn fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(make_fixtures).clone()
}

fn make_fixtures() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("img-fixtures-{}", std::process::id()));
    let layout = dir.join("layout");
    if layout.join("index.json").exists() {
        return layout;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = r#"
set -euo pipefail
L=layout
umoci init --layout $L
umoci new --image $L:base
umoci unpack --image $L:base b
mkdir -p b/rootfs/bin b/rootfs/etc b/rootfs/tmp
cp /bin/busybox b/rootfs/bin/busybox
ln -s busybox b/rootfs/bin/sh
echo 'root:x:0:0:root:/root:/bin/sh' > b/rootfs/etc/passwd
umoci repack --image $L:base b
umoci config --image $L:base --config.cmd sh --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --created 2026-11-01T10:00:00Z --author 'img tests' --history.created_by 'busybox-static' --history.created 2026-11-01T10:00:00Z
umoci unpack --image $L:base d
echo hello > d/rootfs/hello.txt
umoci repack --image $L:base --refresh-bundle d
umoci tag --image $L:base derived
umoci config --image $L:derived --config.label app=demo --config.label tier=test --created 2026-11-08T10:00:00Z
umoci new --image $L:other
umoci unpack --image $L:other o
echo other > o/rootfs/other.txt
umoci repack --image $L:other o
umoci config --image $L:other --created 2026-10-01T10:00:00Z
umoci gc --layout $L
rm -rf b d o
"#;
    let out = Command::new("bash")
        .args(["-c", script])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "making fixtures failed (needs umoci and busybox-static):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    layout
}
