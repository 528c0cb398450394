//! Docker's own engine as the reference for img's behaviour: one `dockerd`
//! (Debian's `docker.io`, Docker Engine 20.10 with its built-in BuildKit) per
//! test process, with its own data root, exec root and socket, the `vfs`
//! storage driver and no host networking changes, so it touches nothing of
//! the machine's and goes away with the test process.
//!
//! The differential tests run the same input through img and Docker and
//! compare what each made: root filesystems as [`Tree`]s (names, types,
//! modes, owners, contents, link targets) and image configs with the
//! fields that always differ (times, builder bookkeeping) left out.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::{need, Env, Run};

/// Debian's docker client: the engine's own version (20.10), which builds
/// with BuildKit without the buildx plugin. Another `docker` earlier on PATH
/// (a newer client alone) would not.
const CLIENT: &str = "/usr/bin/docker";

/// A running `dockerd` private to this test process.
pub struct Docker {
    dir: PathBuf,
    /// Images already loaded into the engine, by name.
    loaded: Mutex<HashSet<String>>,
}

/// The engine of this test process, started on first use; `None` when
/// `dockerd` is missing and the run allows skipping (see [`need`]).
pub fn docker() -> Option<&'static Docker> {
    static DOCKER: OnceLock<Option<Docker>> = OnceLock::new();
    DOCKER
        .get_or_init(|| need(&["dockerd", CLIENT]).then(Docker::start))
        .as_ref()
}

impl Docker {
    fn start() -> Docker {
        // A short path: the socket's path must fit in sun_path (108 bytes).
        let dir = tempfile::Builder::new()
            .prefix("img-dockerd-")
            .tempdir_in("/tmp")
            .unwrap()
            .keep();
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::os::unix::fs::symlink(CLIENT, dir.join("bin/docker")).unwrap();
        // The watchdog stops the engine and removes its files when this
        // test process is gone: tests have no teardown, and a killed test
        // run must not leave an engine behind.
        let script = format!(
            r#"d={dir}
dockerd --data-root $d/data --exec-root $d/exec --pidfile $d/dockerd.pid \
  -H unix://$d/sock --storage-driver vfs --iptables=false --ip-masq=false \
  --bridge=none --userland-proxy=false >$d/dockerd.log 2>&1 &
engine=$!
while kill -0 {test} 2>/dev/null && kill -0 $engine 2>/dev/null; do sleep 1; done
kill $engine 2>/dev/null; wait $engine
rm -rf $d"#,
            dir = dir.display(),
            test = std::process::id(),
        );
        // `setsid --fork` returns at once, leaving the watchdog on its own.
        let forked = Command::new("setsid")
            .args(["--fork", "bash", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(forked.success(), "could not start the dockerd watchdog");
        let docker = Docker {
            dir,
            loaded: Mutex::new(HashSet::new()),
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let up = Command::new(CLIENT)
                .args(["-H", &docker.host(), "version"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if up {
                return docker;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not start within 90 s:\n{}",
                std::fs::read_to_string(docker.dir.join("dockerd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The engine's address, for `docker -H` and `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.join("sock").display())
    }

    /// Run `script` as [`Env::sh`] does, with `docker` being this engine's
    /// client (`DOCKER_HOST` set, Debian's client first on PATH).
    pub fn sh(&self, env: &Env, script: &str) -> Run {
        env.sh(&format!(
            "export DOCKER_HOST={host} PATH={bin}:$PATH\n{script}",
            host = self.host(),
            bin = self.dir.join("bin").display(),
        ))
    }

    /// Make the fixture image `fixture` (see [`crate::fixtures`]) known as
    /// `name` both in `env`'s store and in the engine, with the same image ID
    /// on both sides: img saves it and Docker loads that archive.
    pub fn share(&self, env: &Env, fixture: &str, name: &str) {
        env.seed(fixture, name);
        let key = format!("{fixture} {name}");
        let mut loaded = self.loaded.lock().unwrap();
        if loaded.contains(&key) {
            return;
        }
        self.sh(env, &format!("img-save {name} | docker load -q"))
            .ok();
        let img_id = env.id(name);
        let docker_id = self
            .sh(
                env,
                &format!("docker image inspect -f '{{{{.Id}}}}' {name}"),
            )
            .ok()
            .stdout
            .trim()
            .to_string();
        assert_eq!(img_id, docker_id, "{name}: Docker loaded another image ID");
        loaded.insert(key);
    }

    /// The root filesystem of Docker's image `image`, as `docker export` of
    /// a container made from it shows it, without the files Docker's init
    /// layer adds to every container.
    pub fn rootfs(&self, env: &Env, image: &str) -> Tree {
        let tar = env.path(&format!("docker-export-{}.tar", unique()));
        self.sh(
            env,
            &format!(
                "id=$(docker create {image} /nothing) && docker export $id -o {tar} && docker rm $id >/dev/null",
                tar = tar.display()
            ),
        )
        .ok();
        let tree = Tree::of_tar(&std::fs::read(&tar).unwrap()).without_init_layer();
        std::fs::remove_file(&tar).unwrap();
        tree
    }

    /// The config JSON of Docker's image `image`, as `docker save` writes it.
    pub fn config(&self, env: &Env, image: &str) -> serde_json::Value {
        let tar = env.path(&format!("docker-save-{}.tar", unique()));
        self.sh(
            env,
            &format!("docker save {image} -o {tar}", tar = tar.display()),
        )
        .ok();
        let config = config_of_archive(&tar);
        std::fs::remove_file(&tar).unwrap();
        config
    }
}

/// The root filesystem of img's image `image` (`img-export`).
pub fn img_rootfs(env: &Env, image: &str) -> Tree {
    let tar = env.path(&format!("img-export-{}.tar", unique()));
    env.sh(&format!("img-export {image} -o {}", tar.display()))
        .ok();
    let tree = Tree::of_tar(&std::fs::read(&tar).unwrap());
    std::fs::remove_file(&tar).unwrap();
    tree
}

/// The config JSON of img's image `image`, as `img-save` writes it.
pub fn img_config(env: &Env, image: &str) -> serde_json::Value {
    let tar = env.path(&format!("img-save-{}.tar", unique()));
    env.sh(&format!("img-save {image} -o {}", tar.display()))
        .ok();
    let config = config_of_archive(&tar);
    std::fs::remove_file(&tar).unwrap();
    config
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The config of the single image in a docker-archive (`manifest.json`).
fn config_of_archive(path: &Path) -> serde_json::Value {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut archive = tar::Archive::new(std::fs::File::open(path).unwrap());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".json") || name.starts_with("blobs/") {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            files.insert(name, bytes);
        }
    }
    let manifest: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let config = manifest[0]["Config"].as_str().unwrap();
    serde_json::from_slice(&files[config]).unwrap()
}

/// The parts of an image config that say what the image is, for comparing
/// two builders' results. Left out: times (two builds never share them),
/// builder bookkeeping (`container`, `container_config`, `docker_version`,
/// `builder`, BuildKit's build info), layer digests (gzip output differs
/// between compressors; what the layers hold is compared as root
/// filesystems), and the history's `comment` (img writes BuildKit's,
/// Docker's loaded base images have none). Kept: every other field, and
/// per history entry `created_by` (what `docker history` shows) and
/// whether it made a layer. `"OnBuild": null` counts as absent: Docker
/// 20.10 writes it, current BuildKit leaves the empty field out.
pub fn essential_config(config: &serde_json::Value) -> serde_json::Value {
    let mut config = config.clone();
    let object = config.as_object_mut().unwrap();
    for key in [
        "created",
        "container",
        "container_config",
        "docker_version",
        "builder",
        "rootfs",
        "moby.buildkit.buildinfo.v1",
    ] {
        object.remove(key);
    }
    if let Some(runtime) = object.get_mut("config").and_then(|c| c.as_object_mut()) {
        if runtime.get("OnBuild") == Some(&serde_json::Value::Null) {
            runtime.remove("OnBuild");
        }
    }
    if let Some(history) = object.get_mut("history").and_then(|h| h.as_array_mut()) {
        for step in history.iter_mut() {
            let step = step.as_object_mut().unwrap();
            step.remove("created");
            step.remove("comment");
            if step.get("empty_layer") == Some(&serde_json::Value::Bool(false)) {
                step.remove("empty_layer");
            }
        }
    }
    config
}

/// What the classic builder (`DOCKER_BUILDKIT=0`) and img both decide of
/// a config: the `config` fields a container starts from, with empty
/// values as absent. img writes what BuildKit writes, so left out are
/// what the classic builder writes otherwise: every field of Docker's
/// container config (`"Hostname": ""`, `"AttachStdin": false`, the
/// parent's ID in `Image`, …), its history texts (`/bin/sh -c #(nop)
/// …`), `author` (it drops the base image's; MAINTAINER is compared
/// against BuildKit), and a `WorkingDir` of `/` (BuildKit's for `FROM
/// scratch`; no working directory means `/` to every runtime).
pub fn runtime_config(config: &serde_json::Value) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if let Some(runtime) = config.get("config").and_then(|c| c.as_object()) {
        for key in [
            "User",
            "ExposedPorts",
            "Env",
            "Cmd",
            "Healthcheck",
            "Volumes",
            "WorkingDir",
            "Entrypoint",
            "OnBuild",
            "Labels",
            "StopSignal",
            "Shell",
        ] {
            let value = runtime.get(key).cloned().unwrap_or_default();
            let empty = match &value {
                serde_json::Value::Null => true,
                serde_json::Value::String(s) => s.is_empty() || (key == "WorkingDir" && s == "/"),
                serde_json::Value::Array(a) => a.is_empty(),
                serde_json::Value::Object(o) => o.is_empty(),
                _ => false,
            };
            if !empty {
                out.insert(key.to_string(), value);
            }
        }
    }
    for key in ["architecture", "os"] {
        if let Some(value) = config.get(key) {
            out.insert(key.to_string(), value.clone());
        }
    }
    serde_json::Value::Object(out)
}

/// A root filesystem: every path (relative, no leading `./`) with what a
/// user can see of it — type, mode, owner, size and content digest, link
/// target. Times are left out: two builds never share them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tree(pub BTreeMap<String, String>);

/// Paths that Docker's init layer adds to every container (moby's
/// `daemon/initlayer` and the container's mount points), not part of an
/// image's own root filesystem unless it made them itself.
const INIT_LAYER: &[&str] = &[
    ".dockerenv",
    "dev",
    "dev/console",
    "dev/pts",
    "dev/shm",
    "etc/hostname",
    "etc/hosts",
    "etc/mtab",
    "etc/resolv.conf",
    "proc",
    "sys",
];

impl Tree {
    /// The tree a (flat) tar stream holds; later entries replace earlier ones.
    pub fn of_tar(bytes: &[u8]) -> Tree {
        let mut out = BTreeMap::new();
        let mut archive = tar::Archive::new(bytes);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let raw = entry.path().unwrap().to_string_lossy().into_owned();
            let path = raw
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            if path.is_empty() || path == "." {
                continue;
            }
            let header = entry.header().clone();
            let mode = header.mode().unwrap() & 0o7777;
            let owner = format!("{}:{}", header.uid().unwrap(), header.gid().unwrap());
            let kind = header.entry_type();
            let what = match kind {
                tar::EntryType::Directory => "dir".to_string(),
                tar::EntryType::Symlink => format!(
                    "link -> {}",
                    entry.link_name().unwrap().unwrap().to_string_lossy()
                ),
                tar::EntryType::Link => format!(
                    "hardlink -> {}",
                    entry
                        .link_name()
                        .unwrap()
                        .unwrap()
                        .to_string_lossy()
                        .trim_start_matches("./")
                        .trim_start_matches('/')
                ),
                tar::EntryType::Char | tar::EntryType::Block => format!(
                    "{kind:?} {}:{}",
                    header.device_major().unwrap().unwrap_or(0),
                    header.device_minor().unwrap().unwrap_or(0)
                ),
                tar::EntryType::Fifo => "fifo".to_string(),
                _ => {
                    let mut content = Vec::new();
                    entry.read_to_end(&mut content).unwrap();
                    format!(
                        "file {} bytes {}",
                        content.len(),
                        img_core::digest::of_bytes(&content)
                    )
                }
            };
            let shown_mode = if kind == tar::EntryType::Symlink {
                String::new()
            } else {
                format!(" {mode:04o}")
            };
            out.insert(path, format!("{what}{shown_mode} {owner}"));
        }
        Tree(out)
    }

    /// This tree without what Docker's init layer adds to containers.
    fn without_init_layer(mut self) -> Tree {
        self.0
            .retain(|path, _| !INIT_LAYER.contains(&path.as_str()));
        self.without_empty_etc()
    }

    /// This tree without `etc` when nothing is in it: the init layer makes
    /// `/etc` for its files in an image that has none (`FROM scratch`),
    /// and an empty `/etc` of the image's own cannot be told from that
    /// one, so neither side keeps it.
    pub fn without_empty_etc(mut self) -> Tree {
        if !self.0.keys().any(|p| p.starts_with("etc/")) {
            self.0.remove("etc");
        }
        self
    }

    /// Lines saying how `other` differs from this tree (`-` only here,
    /// `+` only there, `~` different), empty when they are the same.
    pub fn diff(&self, other: &Tree) -> Vec<String> {
        let mut out = Vec::new();
        for (path, what) in &self.0 {
            match other.0.get(path) {
                None => out.push(format!("- {path}: {what}")),
                Some(theirs) if theirs != what => out.push(format!("~ {path}: {what} | {theirs}")),
                Some(_) => {}
            }
        }
        for (path, what) in &other.0 {
            if !self.0.contains_key(path) {
                out.push(format!("+ {path}: {what}"));
            }
        }
        out
    }
}

/// Assert that img and Docker made the same root filesystem and the same
/// essential config for `image` (each under the same name on its side).
#[track_caller]
pub fn assert_same_image(docker: &Docker, env: &Env, image: &str) {
    assert_same_image_as(docker, env, image, &|_, _| {});
}

/// [`assert_same_image`], after `current` changed what Docker 20.10 made
/// into what current Docker makes, where the two differ (the caller says
/// how and why).
#[track_caller]
pub fn assert_same_image_as(
    docker: &Docker,
    env: &Env,
    image: &str,
    current: &dyn Fn(&mut Tree, &mut serde_json::Value),
) {
    let mut theirs = docker.rootfs(env, image);
    let mut their_config = essential_config(&docker.config(env, image));
    current(&mut theirs, &mut their_config);
    let ours = img_rootfs(env, image).without_empty_etc();
    let diff = theirs.diff(&ours);
    assert!(
        diff.is_empty(),
        "{image}: img's root filesystem differs from Docker's (- Docker only, + img only):\n{}",
        diff.join("\n")
    );
    let ours = essential_config(&img_config(env, image));
    assert_eq!(
        serde_json::to_string_pretty(&ours).unwrap(),
        serde_json::to_string_pretty(&their_config).unwrap(),
        "{image}: img's config (left) differs from Docker's (right)"
    );
}

/// Assert that img's `image` is what the classic builder made as
/// `classic`: the same root filesystem, the same [`runtime_config`].
#[track_caller]
pub fn assert_same_image_classic(docker: &Docker, env: &Env, classic: &str, image: &str) {
    let theirs = docker.rootfs(env, classic);
    let ours = img_rootfs(env, image).without_empty_etc();
    let diff = theirs.diff(&ours);
    assert!(
        diff.is_empty(),
        "{image}: img's root filesystem differs from the classic builder's (- Docker only, + img only):\n{}",
        diff.join("\n")
    );
    assert_eq!(
        serde_json::to_string_pretty(&runtime_config(&img_config(env, image))).unwrap(),
        serde_json::to_string_pretty(&runtime_config(&docker.config(env, classic))).unwrap(),
        "{image}: img's config (left) differs from the classic builder's (right)"
    );
}

/// `value` without the members current Docker leaves out of an image
/// config (`omitempty`): nulls, empty strings, `false`, empty lists and
/// objects, at every depth. Docker 20.10 wrote and printed every field of
/// its `container.Config` (`"Hostname": ""`, `"Labels": null`, …); Docker
/// since API 1.50 prints the OCI config's fields only when set.
pub fn without_empty(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(k, v)| (k.clone(), without_empty(v)))
                .filter(|(_, v)| !is_empty_value(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_empty).collect()),
        other => other.clone(),
    }
}

fn is_empty_value(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// The fields of Docker 20.10's `container.Config` that describe the
/// container an image was committed from, not the image: current Docker
/// (API 1.50+, the OCI config) has none of them.
pub const CONTAINER_FIELDS: &[&str] = &[
    "Hostname",
    "Domainname",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Image",
];

/// [`essential_config`] as current Docker shows it: without empty fields
/// and without the container's own fields in `config`.
pub fn current_config(config: &serde_json::Value) -> serde_json::Value {
    let mut config = without_empty(&essential_config(config));
    if let Some(runtime) = config.get_mut("config").and_then(|c| c.as_object_mut()) {
        for field in CONTAINER_FIELDS {
            runtime.remove(*field);
        }
    }
    config
}
