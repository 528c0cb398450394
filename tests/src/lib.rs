//! The integration-test harness: runs the built `img-*` programs (and the
//! real peer tools) in shell pipelines on a temporary store, and makes
//! fixture images locally from Debian's busybox-static.
//!
//! Tests that need a peer tool call [`need`]: when the tool is missing the
//! test fails, unless the developer asked to skip with
//! `IMG_TEST_SKIP_MISSING=1`. Every pipeline has a deadline
//! ([`pipeline`]).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

pub mod archive;
pub mod disk;
pub mod docker;
pub mod docs;
pub mod faults;
pub mod hostile;
pub mod http_proxy;
pub mod peers;
pub mod pipeline;
pub mod proxy;
pub mod registry;

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
        // `cargo test` builds this test binary but not the programs it
        // runs: tests of stale programs would pass or fail for nothing.
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let stale: Vec<String> = std::fs::read_dir(workspace.join("bins"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter_map(|crate_dir| {
                let name = crate_dir.file_name().to_string_lossy().into_owned();
                let built = std::fs::metadata(dir.join(&name)).ok()?.modified().ok()?;
                let sources = libraries_of(workspace, &crate_dir.path())
                    .iter()
                    .map(|library| newest(library))
                    .fold(newest(&crate_dir.path()), Option::max)?;
                (built < sources).then_some(name)
            })
            .collect();
        assert!(
            stale.is_empty(),
            "{} are older than the sources: run `cargo build --workspace` (or `just test`) first",
            stale.join(", ")
        );
        dir
    })
    .clone()
}

/// The library crates (`shared/NAME`) that the crate in `dir` depends on,
/// directly or through each other: a program is stale when any of their
/// sources is newer, and only then (cargo rebuilds nothing else).
fn libraries_of(workspace: &Path, dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        let dependencies = manifest
            .split("\n[")
            .find(|section| section.starts_with("dependencies]"))
            .unwrap_or_default();
        for line in dependencies.lines() {
            let Some(name) = line.strip_prefix("img-") else {
                continue;
            };
            let name: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let library = workspace.join("shared").join(&name);
            if library.is_dir() && !found.contains(&library) {
                found.push(library.clone());
                pending.push(library);
            }
        }
    }
    found
}

/// The newest modification time of the `.rs` files below `dir`.
fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    let mut latest = None;
    for entry in std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok()) {
        let path = entry.path();
        let time = if path.is_dir() {
            newest(&path)
        } else if path.extension().is_some_and(|x| x == "rs") {
            entry.metadata().ok()?.modified().ok()
        } else {
            None
        };
        latest = latest.max(time);
    }
    latest
}

/// Whether the peer tools a test needs are on PATH. A missing tool fails
/// the test — a test that passes without running proves nothing — unless
/// the developer asked to skip such tests with `IMG_TEST_SKIP_MISSING=1`
/// (never under `CI=true`): then it says SKIPPED and returns false.
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
    if skip_missing() {
        eprintln!("SKIPPED (IMG_TEST_SKIP_MISSING=1): peer tools missing: {missing:?}");
        return false;
    }
    panic!(
        "peer tools missing: {missing:?}: install them (bash scripts/setup.sh), \
         or set IMG_TEST_SKIP_MISSING=1 to skip the tests that need them"
    );
}

/// Whether the developer asked to skip tests whose tools are missing
/// (`IMG_TEST_SKIP_MISSING=1`); never under `CI=true`.
pub fn skip_missing() -> bool {
    std::env::var("IMG_TEST_SKIP_MISSING").as_deref() == Ok("1")
        && std::env::var("CI").as_deref() != Ok("true")
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

    /// What img-fsck reported of one class (`damaged`, `leftover`, …): its
    /// stderr lines that start with `img-fsck: CLASS: `, without that.
    pub fn fsck_lines(&self, class: &str) -> Vec<&str> {
        let prefix = format!("img-fsck: {class}: ");
        self.stderr
            .lines()
            .filter_map(|l| l.strip_prefix(prefix.as_str()))
            .collect()
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

/// A test that fails half-way (a panic unwinds through its `Env`) must
/// not leave its containers running: a web server of a failed tutorial
/// test would hold its port and its store's mounts after the run, and the
/// RUN container of a build the test killed would outlive the store its
/// guard needs to end it. Opening the store ends the containers whose
/// owner died (img-ps does), and every container record is removed as
/// `img-rm --container -f` removes it; a test that passed has none left,
/// so nothing runs then.
impl Drop for Env {
    fn drop(&mut self) {
        let state = self.store().join(".img");
        let any = ["containers", "runtime/owned"]
            .iter()
            .any(|d| std::fs::read_dir(state.join(d)).is_ok_and(|mut d| d.next().is_some()));
        if any {
            let _ =
                self.sh("img-ps -aq --no-trunc | xargs -r img-rm --container -f >/dev/null 2>&1");
        }
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

    /// Run `script` with bash (`set -o pipefail`, and `wait_for` from
    /// [`pipeline::PRELUDE`]), the img binaries first on PATH, `IMG_ROOT`
    /// set to the store, in the scratch directory.
    pub fn sh(&self, script: &str) -> Run {
        self.sh_with_stdin(script, None)
    }

    /// Like [`Env::sh`], feeding `stdin`. The pipeline has a deadline (see
    /// [`pipeline::deadline`]): one that hangs fails the test.
    pub fn sh_with_stdin(&self, script: &str, stdin: Option<&[u8]>) -> Run {
        let path = format!(
            "{}:{}",
            bin_dir().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new("bash");
        command
            .args(["-c", &format!("{}{script}", pipeline::PRELUDE)])
            .current_dir(self.dir.path())
            .env("PATH", path)
            .env("IMG_ROOT", self.store())
            .env("IMG_NOW", NOW)
            .env("TZ", "UTC")
            .env("STORE", self.store())
            .env("FIXTURES", fixtures());
        pipeline::run(command, script, stdin)
    }

    /// Write `content` to `path` in the scratch directory, making its parents.
    pub fn write(&self, path: &str, content: &str) {
        let full = self.path(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
    }

    /// The sha256 digest of `file` (relative to the scratch directory), as
    /// sha256sum computes it.
    pub fn sha256_of(&self, file: &str) -> String {
        let run = self.sh(&format!("sha256sum {file}")).ok();
        format!("sha256:{}", &run.stdout[..64])
    }

    /// How many blobs the store holds.
    pub fn blob_count(&self) -> usize {
        std::fs::read_dir(self.store().join("blobs/sha256"))
            .unwrap()
            .count()
    }

    /// The image `name` names in the store, for this machine's platform.
    pub fn image(&self, name: &str) -> img_core::image::Image {
        let store = img_store::Store::open(self.store()).unwrap();
        let found = store.resolve(name).unwrap();
        found.target.host_image().unwrap().clone()
    }

    /// The layer digests of `image`'s manifest in the store, bottom first.
    pub fn layers(&self, image: &str) -> Vec<String> {
        self.image(image)
            .manifest
            .layers()
            .iter()
            .map(|l| l.digest().to_string())
            .collect()
    }

    /// The diff_ids of `image`'s config in the store (its layers'
    /// uncompressed digests), bottom first.
    pub fn diff_ids(&self, image: &str) -> Vec<String> {
        self.image(image).config.rootfs().diff_ids().to_vec()
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

    /// Copy a fixture with all its platforms (`skopeo copy --all`).
    pub fn seed_all(&self, fixture: &str, name: &str) {
        std::fs::create_dir_all(self.store()).unwrap();
        self.sh(&format!(
            "skopeo copy -q --all oci:$FIXTURES:{fixture} oci:$STORE:{name}"
        ))
        .ok();
    }

    /// The full image ID of `image` in the store.
    pub fn id(&self, image: &str) -> String {
        self.sh(&format!("img-inspect -f '{{{{.Id}}}}' {image}"))
            .ok()
            .stdout
            .trim()
            .to_string()
    }

    /// The bytes of `index.json` (to check that a failed command changed nothing).
    pub fn index_bytes(&self) -> Vec<u8> {
        std::fs::read(self.store().join("index.json")).unwrap()
    }

    /// The store's index.json, parsed.
    pub fn index(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.store().join("index.json")).unwrap()).unwrap()
    }

    /// Check the store with `img-fsck` (see [`check_layout`]).
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

/// Compare `actual` with the golden file `tests/golden/NAME`, after replacing
/// each `(text, placeholder)` pair (image IDs, digests) so that the files do
/// not depend on the busybox build. `IMG_GOLDEN=rewrite` writes the files.
#[track_caller]
pub fn assert_golden(name: &str, actual: &str, substitutions: &[(&str, &str)]) {
    let mut text = actual.to_string();
    for (value, placeholder) in substitutions {
        if !value.is_empty() {
            text = text.replace(value, placeholder);
        }
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name);
    if std::env::var("IMG_GOLDEN").as_deref() == Ok("rewrite") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "golden file {} is missing; run with IMG_GOLDEN=rewrite",
            path.display()
        )
    });
    assert_eq!(
        text,
        want,
        "output differs from {} (IMG_GOLDEN=rewrite to update)",
        path.display()
    );
}

/// Verify a store with `img-fsck` (the one checker, the program users
/// run): every blob hashes to its name, every named image is whole, every
/// snapshot matches its layer, no leftover of a finished program.
#[track_caller]
pub fn check_layout(root: &Path) {
    let out = Command::new(bin_dir().join("img-fsck"))
        .arg("--root")
        .arg(root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "img-fsck finds store {} inconsistent (exit {:?}):\n{}",
        root.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The OCI layout holding the fixture images, made once and kept beside the
/// binaries (they are deterministic: fixed times everywhere):
/// `base` (busybox-static, `CMD ["sh"]`, created 2026-11-01), `derived`
/// (base plus one layer, labels app=demo tier=test, created 2026-11-08),
/// `other` (one small layer, created 2026-10-01), `other-arm64` (the same
/// layer, config for linux/arm64), `multi` (an OCI index of `base` for
/// linux/amd64 and `other-arm64` for linux/arm64).
pub fn fixtures() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(make_fixtures).clone()
}

const FIXTURE_SCRIPT: &str = r#"
set -euo pipefail
L=layout
T=2026-11-01T10:00:00Z
stamp() { find "$1" -exec touch -h -d "$2" {} +; }
umoci init --layout $L
umoci new --image $L:base
umoci unpack --image $L:base b
mkdir -p b/rootfs/bin b/rootfs/etc b/rootfs/tmp
cp /bin/busybox b/rootfs/bin/busybox
ln -s busybox b/rootfs/bin/sh
echo 'root:x:0:0:root:/root:/bin/sh' > b/rootfs/etc/passwd
stamp b/rootfs $T
umoci repack --image $L:base --history.created $T --history.created_by 'COPY busybox-static /bin/busybox' b
umoci config --image $L:base --config.cmd sh --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --created $T --author 'img tests' --history.created_by 'CMD ["sh"]' --history.created $T
umoci tag --image $L:base derived
umoci unpack --image $L:derived d
echo hello > d/rootfs/hello.txt
touch -h -d 2026-11-08T10:00:00Z d/rootfs/hello.txt d/rootfs
umoci repack --image $L:derived --history.created 2026-11-08T10:00:00Z --history.created_by 'COPY hello.txt /hello.txt' d
umoci config --image $L:derived --config.label app=demo --config.label tier=test --created 2026-11-08T10:00:00Z --history.created 2026-11-08T10:00:00Z --history.created_by 'LABEL app=demo tier=test'
umoci new --image $L:other
umoci unpack --image $L:other o
echo other > o/rootfs/other.txt
stamp o/rootfs 2026-10-01T10:00:00Z
umoci repack --image $L:other --history.created 2026-10-01T10:00:00Z --history.created_by 'COPY other.txt /other.txt' o
umoci config --image $L:other --created 2026-10-01T10:00:00Z --history.created 2026-10-01T10:00:00Z --history.created_by 'other image'
umoci tag --image $L:other other-arm64
umoci config --image $L:other-arm64 --architecture arm64 --created 2026-10-02T10:00:00Z --history.created 2026-10-02T10:00:00Z --history.created_by 'other image for arm64'
umoci gc --layout $L
# multi: an OCI index of base (linux/amd64) and other-arm64 (linux/arm64)
desc() { jq -c --arg n "$1" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $n) | del(.annotations)' $L/index.json; }
jq -cjn --argjson a "$(desc base)" --argjson b "$(desc other-arm64)" \
  '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [($a + {platform: {architecture: "amd64", os: "linux"}}), ($b + {platform: {architecture: "arm64", os: "linux"}})]}' > idx.json
d=$(sha256sum idx.json | cut -d' ' -f1); s=$(stat -c%s idx.json)
mv idx.json $L/blobs/sha256/$d
jq -c --arg d "sha256:$d" --argjson s "$s" '.manifests += [{mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": "multi"}}]' $L/index.json > i2
mv i2 $L/index.json
rm -rf b d o
"#;

fn make_fixtures() -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    FIXTURE_SCRIPT.hash(&mut hasher);
    let dir = bin_dir().join(format!("img-fixtures-{:016x}", hasher.finish()));
    let layout = dir.join("layout");
    if layout.join("index.json").exists() {
        return layout;
    }
    // Build beside, then rename: another test process may be building too.
    let scratch = tempfile::Builder::new()
        .prefix(".img-fixtures-")
        .tempdir_in(bin_dir())
        .unwrap();
    let out = Command::new("bash")
        .args(["-c", FIXTURE_SCRIPT])
        .current_dir(scratch.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "making fixtures failed (needs umoci and busybox-static):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::create_dir_all(&dir).unwrap();
    if std::fs::rename(scratch.path().join("layout"), &layout).is_err() {
        assert!(
            layout.join("index.json").exists(),
            "could not place fixtures in {}",
            dir.display()
        );
    }
    layout
}

/// Whether the tests run as root (some compare with `umoci --rootless`
/// otherwise, or check owners only root can set).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// A script that runs `command` on a pseudo-terminal and types `input`
/// once `prompt` showed; prints what the terminal showed and exits with the
/// command's status.
pub fn on_terminal(prompt: &str, input: &str, command: &str) -> String {
    format!(
        r#"python3 - <<'EOF'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp("bash", ["bash", "-c", {command:?}])
shown, typed = b"", False
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    shown += chunk
    if not typed and {prompt:?}.encode() in shown:
        os.write(fd, {input:?}.encode() + b"\n")
        typed = True
sys.stdout.write(shown.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
EOF"#
    )
}

/// A script that runs `command` on a pseudo-terminal of 80 columns and 24
/// rows (stdin, stdout and stderr), types nothing, and prints what the
/// terminal was sent, exiting with the command's status.
pub fn on_terminal_output(command: &str) -> String {
    format!(
        r#"python3 - <<'EOF'
import fcntl, os, pty, struct, sys, termios
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    os.execvp("bash", ["bash", "-c", {command:?}])
shown = b""
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    shown += chunk
sys.stdout.write(shown.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
EOF"#
    )
}
