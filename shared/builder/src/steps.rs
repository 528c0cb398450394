//! The steps that change files: RUN runs a command in a container on the
//! stage's image; COPY and ADD copy files into the image mounted the same
//! way. Either way the overlay's upper directory is the step's change: it
//! becomes an uncompressed layer (made lasting in the background, see
//! `new_layers.rs`) and is kept as that layer's snapshot (it already is
//! one, in overlay form), so the next step mounts it without unpacking
//! anything.

use std::fs;
use std::path::{Path, PathBuf};

use super::clock::Clock;
use super::new_layers::NewLayers;
use super::state::State;
use img_container::execute::{self, Settings};
use img_container::overlay;
use img_container::process::{self, Process};
use img_container::Dir;
use img_core::digest::Digest;
use img_core::error::{Error, IoContext, Kind, Result};
use img_store::Snapshots;
use img_store::Store;

/// A scratch directory for one step: a container bundle (`upper`, `work`,
/// `rootfs`) under the build's own directory in the store, on the same
/// file system as the snapshots, so the upper directory can be renamed
/// into them.
pub struct StepDir {
    /// The 64-hex ID (the step container's).
    pub id: String,
    /// Its directory.
    pub dir: Dir,
}

impl StepDir {
    /// A new step directory inside `parent`.
    pub fn new(parent: &Path) -> Result<StepDir> {
        let id = img_container::new_id()?;
        let path = parent.join(&id);
        let dir = Dir::at(path);
        for sub in [dir.upper(), dir.work(), dir.rootfs()] {
            fs::create_dir_all(&sub).io_context(|| format!("creating {}", sub.display()))?;
        }
        Ok(StepDir { id, dir })
    }

    /// Mount `state`'s layers with this step's writable layer on top at
    /// its `rootfs`.
    pub fn mount(&self, store: &Store, state: &State) -> Result<PathBuf> {
        let mut lowers = state.snapshots(store)?;
        if lowers.is_empty() {
            let empty = self.dir.file("empty");
            fs::create_dir_all(&empty).io_context(|| format!("creating {}", empty.display()))?;
            lowers.push(empty);
        }
        let rootfs = self.dir.rootfs();
        overlay::mount(&lowers, &self.dir.upper(), &self.dir.work(), &rootfs)?;
        Ok(rootfs)
    }

    /// Mount the directory `lower` with this step's writable layer on top,
    /// for a `RUN --mount=…,rw` whose writes are thrown away.
    pub(crate) fn mount_dir(&self, lower: &Path) -> Result<PathBuf> {
        let rootfs = self.dir.rootfs();
        overlay::mount(
            &[lower.to_path_buf()],
            &self.dir.upper(),
            &self.dir.work(),
            &rootfs,
        )?;
        Ok(rootfs)
    }

    /// Undo [`StepDir::mount`].
    pub fn unmount(&self) {
        let _ = rustix::mount::unmount(self.dir.rootfs(), rustix::mount::UnmountFlags::DETACH);
    }

    /// Store what the step changed as a layer of `state` (an empty layer
    /// when nothing changed, as Docker's builders add one), with its
    /// history entry, its times as `clock` writes them; keep the upper
    /// directory as the layer's snapshot. `layers` makes the layer's blob
    /// lasting in the background: the store may not show it until the
    /// build settles (see `new_layers.rs`).
    pub fn commit(
        self,
        layers: &mut NewLayers<'_, '_>,
        state: &mut State,
        created_by: &str,
        clock: &Clock,
    ) -> Result<()> {
        let store = layers.store();
        let layer = layers.store_layer(&self.dir.upper(), clock.layer_options())?;
        let diff_id = layer.digest().clone();
        adopt(store, &self.dir.upper(), &diff_id);
        if !Snapshots::of(store).path(&diff_id).is_dir() {
            // Without its snapshot, the next step would unpack the layer
            // from its blob: it must be there.
            layers.wait_for(&diff_id)?;
        }
        state.add_layer_step(layer, &diff_id, created_by, clock.now())
    }
}

impl Drop for StepDir {
    fn drop(&mut self) {
        self.unmount();
        let _ = fs::remove_dir_all(self.dir.path());
    }
}

/// Keep a step's upper directory as the snapshot of the layer it became
/// (unless one exists). A failure only costs an unpack later.
fn adopt(store: &Store, upper: &Path, diff_id: &Digest) {
    let snapshots = Snapshots::of(store);
    let _ = fs::create_dir_all(snapshots.dir());
    let _ = snapshots.adopt_dir(upper, diff_id);
}

/// What a RUN runs.
pub struct Run<'a> {
    /// The arguments (the shell and its script, or the exec form's words).
    pub args: Vec<String>,
    /// The build arguments in scope (`NAME=value`), added to the
    /// environment under the image's ENV.
    pub build_env: Vec<String>,
    /// How the container runs (network, runtimes, where output goes).
    pub settings: &'a Settings,
}

/// Run `run` on `state` in a new step container; `running` is told the
/// step container's ID before it starts (`---> Running in …`), `started`
/// when its process is about to start and once it runs (an error from it
/// kills the process: a build cancelled). Fails with the builder's message
/// when the command exits with another status than 0.
pub fn run(
    store: &Store,
    build_dir: &Path,
    state: &State,
    run: &Run<'_>,
    running: &dyn Fn(&str),
    started: &mut dyn FnMut(execute::Start) -> Result<()>,
) -> Result<StepDir> {
    let step = StepDir::new(build_dir)?;
    let config = state.runtime_value();
    let mut env = vec![format!("PATH={}", process::DEFAULT_PATH)];
    for e in process::strings(&config, "Env") {
        process::set(&mut env, &e);
    }
    for e in &run.build_env {
        let key = e.split_once('=').map_or(e.as_str(), |(k, _)| k);
        // The image's ENV wins over a build argument of the same name.
        if !process::strings(&config, "Env")
            .iter()
            .any(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) == key)
        {
            process::set(&mut env, e);
        }
    }
    let cwd = config
        .get("WorkingDir")
        .and_then(|w| w.as_str())
        .filter(|w| !w.is_empty())
        .unwrap_or("/")
        .to_string();
    let user = config
        .get("User")
        .and_then(|u| u.as_str())
        .unwrap_or_default()
        .to_string();
    let process = Process {
        args: run.args.clone(),
        env,
        cwd,
        user,
    };
    let mut settings = run.settings.clone();
    settings.isolation.hostname = step.id[..12].to_string();
    running(&step.id[..12]);
    let lowers = state.snapshots(store)?;
    let outcome = execute::execute(
        &step.id,
        &step.dir,
        &lowers,
        &process,
        &settings,
        &mut |_, start| started(start),
    )?;
    let shown = run.args.join(" ");
    if let Some(refused) = outcome.refused {
        return Err(Error::new(
            Kind::FailedPrecondition,
            format!("the command '{shown}' could not run: {refused}"),
        ));
    }
    if outcome.code != 0 {
        return Err(Error::new(
            Kind::FailedPrecondition,
            format!(
                "the command '{shown}' returned a non-zero code: {}",
                outcome.code
            ),
        ));
    }
    Ok(step)
}
