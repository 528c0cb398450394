//! Containers' records: what a container is (its image, command, state and
//! how it runs), its directory in the store, its unique name, and its end
//! when its owner died — what `docker ps -a` lists, `docker container
//! prune` removes, and every program reaps when it opens the store.
//!
//! ```text
//! ROOT/.img/containers/ID/container.json   the record (below), replaced atomically
//! ROOT/.img/containers/ID/lock             flock held while img-run runs it
//! ROOT/.img/containers/ID/upper/           the writable layer (overlay upper)
//! ROOT/.img/containers/ID/init/            mount points under it (Docker's init layer)
//! ROOT/.img/containers/ID/work/            overlayfs's work directory
//! ROOT/.img/containers/ID/rootfs/          the mount point of the overlay
//! ROOT/.img/containers/ID/config.json      the OCI runtime bundle's config
//! ROOT/.img/containers/ID/hosts, hostname, resolv.conf   bound into /etc
//! ```
//!
//! The read-only layers are the store's snapshots (`img_store::Snapshots`),
//! named in the record by diff_id, so that garbage collection keeps them
//! while a container uses them. The overlay is mounted in a mount namespace
//! of img-run's own, which the kernel takes down with the last process in
//! it: no mount outlives the run, whatever way it ends.
//!

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{names, owner, process, spec};
use img_core::digest::Digest;
use img_core::error::{Error, IoContext, Kind, Result};
use img_core::timestamp::parse_rfc3339;
use img_store::compose::timestamp;
use img_store::{remove_tree, write_atomic, Snapshots, Store};

const CONTAINERS: &str = "containers";
const RECORD: &str = "container.json";

/// What a container is doing, as `docker ps` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum State {
    /// Made, not started yet.
    Created,
    /// Its process runs (while img-run holds the lock).
    Running {
        /// The container's first process, as the host sees it.
        pid: i32,
        /// When it started (RFC 3339).
        #[serde(default)]
        started: Option<String>,
    },
    /// Its process ended.
    Exited {
        /// The exit status (128 + signal number when killed).
        code: i32,
        /// When it ended (RFC 3339).
        finished: String,
    },
}

/// A container's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Container {
    /// 64 hexadecimal digits; Docker shows the first 12.
    pub id: String,
    /// Its unique name.
    pub name: String,
    /// The image ID it was made from.
    pub image: Digest,
    /// The image as the user named it.
    pub image_name: String,
    /// The diff_ids of the image's layers, bottom first.
    pub layers: Vec<Digest>,
    /// The command it runs (entrypoint and arguments).
    pub command: Vec<String>,
    /// When it was made (RFC 3339).
    pub created: String,
    /// The runtime that runs it (`runc`, `crun`, or a path).
    pub runtime: String,
    /// What it is doing.
    pub state: State,
    /// Removed when it ends (`--rm`).
    #[serde(default)]
    pub auto_remove: bool,
    /// How it runs, for each start (none in records of older img).
    #[serde(default)]
    pub config: Option<RunConfig>,
}

/// How a container runs: what `img-create` decided once, for every
/// `img-start`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    /// Its process (the user not resolved yet).
    pub process: process::Process,
    /// What it sees of the host and may do.
    pub isolation: spec::Isolation,
    /// Whether it gets a terminal.
    pub tty: bool,
    /// Whether stdin is passed on (attached runs only).
    pub interactive: bool,
    /// The runtime chosen with `--runtime` (else the first that works).
    pub runtime: Option<String>,
    /// The signal img-stop sends first (the image's `StopSignal`).
    pub stop_signal: Option<String>,
}

impl Container {
    /// The short ID Docker prints.
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
}

/// A container's directory in the store.
pub struct Dir {
    path: PathBuf,
}

impl Dir {
    /// A container directory at `path` (img-build's step containers live
    /// outside the store's list of containers).
    pub fn at(path: PathBuf) -> Dir {
        Dir { path }
    }

    /// The directory itself (the runtime bundle).
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The writable layer.
    pub fn upper(&self) -> PathBuf {
        self.path.join("upper")
    }
    /// overlayfs's work directory.
    pub fn work(&self) -> PathBuf {
        self.path.join("work")
    }
    /// The root filesystem's mount point.
    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }
    /// A file of the bundle.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Read the record.
    pub fn load(&self) -> Result<Container> {
        let path = self.path.join(RECORD);
        let bytes = fs::read(&path).io_context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))
    }

    /// Replace the record, atomically.
    pub fn save(&self, container: &Container) -> Result<()> {
        write_atomic(
            &self.path,
            &self.path.join(RECORD),
            &img_core::json::pretty(container)?,
        )
    }

    /// Replace the record as [`Dir::save`] does, seen by every reader at
    /// once but not synced to disk: for what a crash makes moot — that
    /// the container runs (a crash ends its process; the record saved
    /// before is what it leaves), or the whole record of a container
    /// removed when it ends (`--rm`; a crash leaves a directory without a
    /// record, which img-fsck reports and img-prune removes).
    pub fn save_unsynced(&self, container: &Container) -> Result<()> {
        img_store::replace_visible(
            &self.path,
            &self.path.join(RECORD),
            &img_core::json::pretty(container)?,
        )
    }

    /// Move the directory into the store's trash in one step, for its
    /// guard to remove once the run is over (`--rm`; see `trash.rs`).
    pub fn throw_away(&self) -> Result<()> {
        super::trash::throw_away(&self.path)
    }

    /// Hold the container's lock (img-run does, while the container runs);
    /// released when the file is dropped.
    pub fn lock(&self) -> Result<File> {
        let file = lock_file(&self.path)?;
        file.try_lock().map_err(|_| {
            Error::new(
                Kind::Conflict,
                format!(
                    "container {} is being run by another img-run",
                    self.path.display()
                ),
            )
        })?;
        Ok(file)
    }

    /// Whether an img-run holds the lock now. The file is opened for
    /// reading only: closing it must not look like a holder letting go to
    /// those who watch (`watch.rs`).
    pub fn is_held(&self) -> bool {
        match File::open(self.path.join("lock")) {
            Ok(file) => file.try_lock_shared().is_err(),
            Err(_) => false,
        }
    }
}

fn lock_file(dir: &Path) -> Result<File> {
    img_store::open_lock_file(&dir.join("lock"))
}

/// The containers of a store.
pub struct Containers<'a> {
    store: &'a Store,
}

impl<'a> Containers<'a> {
    /// The containers of `store`.
    pub fn of(store: &'a Store) -> Containers<'a> {
        Containers { store }
    }

    fn dir(&self) -> PathBuf {
        self.store.state_dir().join(CONTAINERS)
    }

    /// The directory the container `id` of the store whose state directory
    /// is `state_dir` has (or had).
    pub(crate) fn path_in(state_dir: &Path, id: &str) -> PathBuf {
        state_dir.join(CONTAINERS).join(id)
    }

    /// The directory of the container `id`.
    pub fn dir_of(&self, id: &str) -> Dir {
        Dir {
            path: self.dir().join(id),
        }
    }

    /// Every container's record (unreadable ones are left out), oldest
    /// first.
    pub fn list(&self) -> Result<Vec<Container>> {
        let dir = self.dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.io_context(|| format!("listing {}", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Ok(container) = self.dir_of(&name).load() {
                found.push(container);
            }
        }
        found.sort_by_key(|c| (parse_rfc3339(&c.created), c.id.clone()));
        Ok(found)
    }

    /// Find a container by name, full ID or unambiguous ID prefix, as
    /// Docker does.
    pub fn find(&self, query: &str) -> Result<Container> {
        let all = self.list()?;
        let wanted = query.strip_prefix('/').unwrap_or(query);
        if let Some(c) = all.iter().find(|c| c.name == wanted || c.id == wanted) {
            return Ok(c.clone());
        }
        let is_hex = !wanted.is_empty() && wanted.bytes().all(|b| b.is_ascii_hexdigit());
        let matching: Vec<&Container> = if is_hex {
            all.iter().filter(|c| c.id.starts_with(wanted)).collect()
        } else {
            Vec::new()
        };
        match matching.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::not_found(format!("No such container: {query}"))),
            _ => Err(Error::new(
                Kind::Conflict,
                format!("container ID prefix {query} is ambiguous: give more digits or the name"),
            )),
        }
    }

    /// Make a new container's directory and record. The name is refused
    /// when another container has it; an empty one is made up.
    pub fn create(&self, container: &mut Container) -> Result<Dir> {
        self.store.hold_writer_lock()?;
        let parent = self.dir();
        fs::create_dir_all(&parent).io_context(|| format!("creating {}", parent.display()))?;
        // Names are checked and taken under one lock, so two runs cannot
        // both take a name.
        let names_lock = lock_file(&parent)?;
        names_lock
            .lock()
            .io_context(|| "waiting for the containers' lock".into())?;
        let others = self.list()?;
        if container.name.is_empty() {
            let taken: Vec<String> = others.iter().map(|c| c.name.clone()).collect();
            container.name = names::generate(&taken)?;
        }
        if let Some(other) = others.into_iter().find(|c| c.name == container.name) {
            return Err(Error::new(
                Kind::Conflict,
                format!(
                    "the container name \"/{}\" is already in use by container \"{}\"; \
                     remove that container (img-prune --containers) or choose another --name",
                    container.name, other.id
                ),
            ));
        }
        let dir = self.dir_of(&container.id);
        for sub in [dir.upper(), dir.work(), dir.rootfs()] {
            fs::create_dir_all(&sub).io_context(|| format!("creating {}", sub.display()))?;
        }
        if container.auto_remove {
            dir.save_unsynced(container)?;
        } else {
            dir.save(container)?;
        }
        Ok(dir)
    }

    /// Remove a container's directory (its writable layer with it). A
    /// container an img-run holds is refused.
    pub fn remove(&self, container: &Container) -> Result<()> {
        let dir = self.dir_of(&container.id);
        if dir.is_held() {
            return Err(Error::new(
                Kind::Conflict,
                format!(
                    "container {} ({}) is running; stop it first",
                    container.name,
                    container.short_id()
                ),
            ));
        }
        remove_tree(dir.path())
    }

    /// End every container whose owner died — a killed img-run, img-build
    /// or monitor — with its processes, runtime state and mounts, and mark
    /// its record exited (or remove it, for `--rm`): see `owner.rs`. Every
    /// program does this when it opens the store; `img-fsck --repair` and
    /// `img-prune` call it too. The IDs of the containers ended.
    pub fn reap(&self) -> Result<Vec<String>> {
        let runtime = owner::runtime_dir(&self.store.state_dir());
        let reaped = owner::reap(&runtime, &mut |id| self.mark_reaped(id))?;
        Ok(reaped.ids)
    }

    fn mark_reaped(&self, id: &str) {
        let dir = self.dir_of(id);
        let Ok(mut record) = dir.load() else {
            return;
        };
        if record.auto_remove {
            // Out of the list in one step, not removed in place: see
            // `trash.rs` (that left records saying the container runs).
            let _ = dir.throw_away();
            return;
        }
        // A runtime writes the pid file once the process runs (`run`; a
        // `create` once it is made): its owner may have died before it
        // could record that.
        let ran = match record.state {
            State::Running { .. } => true,
            State::Created => dir.file("pid").exists(),
            _ => false,
        };
        if ran {
            // As a SIGKILL would have ended it.
            record.state = State::Exited {
                code: 137,
                finished: timestamp(chrono::Utc::now()),
            };
            let _ = dir.save(&record);
        }
    }

    /// The diff_ids every container's layers name (kept by the sweep).
    pub fn layers(&self) -> Result<HashSet<Digest>> {
        Ok(self.list()?.into_iter().flat_map(|c| c.layers).collect())
    }
}

/// The snapshots of a container's layers, top first; an error when one
/// was made before the machine went down and may have lost files (see
/// `img_store::snapshots`) until img-fsck has compared it with its layer.
pub fn lowers(store: &Store, container: &Container) -> Result<Vec<PathBuf>> {
    let snapshots = Snapshots::of(store);
    if let Some(suspect) = container.layers.iter().find(|d| snapshots.is_suspect(d)) {
        return Err(Error::invalid(format!(
            "container {}: the snapshot of its layer {} was not yet synced to the disk when the \
             machine last went down and may have lost files; run img-fsck, which compares it with \
             its layer (img-fsck --repair removes it if it differs)",
            container.short_id(),
            img_core::digest::short(suspect),
        )));
    }
    Ok(container
        .layers
        .iter()
        .rev()
        .map(|d| snapshots.path(d))
        .collect())
}

/// A new random container ID: 64 hexadecimal digits, as Docker's.
pub fn new_id() -> Result<String> {
    let mut bytes = [0u8; 32];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| Error::io("reading random bytes for a container ID", e.into()))?;
    Ok(hex::encode(bytes))
}
