//! `img-run`: a container from an image, run in the foreground to its end,
//! as `docker run` does.
//!
//! The image is found in the store (and pulled when it is missing, as
//! Docker does, unless `--pull never`); its layers are unpacked once into
//! snapshots; the container is registered in the store (so that img-commit
//! finds it and garbage collection keeps its layers), and the store's
//! writer lock is let go before the process starts: a container that runs
//! for days never holds up img-prune. The run itself is `container::execute`.
//! With `--rm` the container is removed when it ends (moved into the
//! store's trash at once, emptied by its guard once the run is over);
//! otherwise its record says how it ended and its writable layer is kept.

use std::path::PathBuf;

use img_container::execute::{self, Settings, Start, Stdout};
use img_container::monitor::{self, StartError};
use img_container::network::{reserve, Port};
use img_container::process::{self, Overrides};
use img_container::spec::Network;
use img_container::{log, names, overlay, owner, Container, RunConfig, State};
use img_core::error::{Error, Kind, Result};
use img_core::image::Image;
use img_core::platform::Platform;
use img_core::progress::Progress;
use img_core::reference::Reference;
use img_registry::pull::{self, PullOptions};
use img_store::Store;

/// When to pull the image, as `docker run --pull`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// When it is not in the store.
    Missing,
    /// Before every run.
    Always,
    /// Never: a missing image is an error.
    Never,
}

/// What to run and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The container's name (a Docker-style one is made up when `None`).
    pub name: Option<String>,
    /// Remove the container when it ends.
    pub remove: bool,
    /// Run it in the background (`-d`): a monitor keeps it and its log.
    pub detach: bool,
    /// Publish every port the image EXPOSEs on a free host port (`-P`).
    pub publish_all: bool,
    /// The overrides of the image config.
    pub overrides: Overrides,
    /// The host name (the short ID when `None`).
    pub hostname: Option<String>,
    /// Everything else about the run.
    pub settings: Settings,
    /// The runtime chosen with `--runtime`.
    pub runtime: Option<String>,
    /// For a multi-platform image, the platform (the host's when `None`).
    pub platform: Option<Platform>,
    /// When to pull.
    pub pull: PullPolicy,
    /// How to pull.
    pub pull_options: PullOptions,
}

/// How a run ended.
#[derive(Debug)]
pub struct Ran {
    /// The container (already removed with `--rm`).
    pub container: Container,
    /// Its exit status (see `execute::Outcome`); 0 for a detached run.
    pub code: i32,
    /// Why the command could not be run at all.
    pub refused: Option<String>,
}

/// Make a container of `image` (a name, ID or digest) in `root`'s store
/// without starting it (`img-create`): the image pulled and unpacked when
/// needed, the record written with everything a start needs.
pub fn create(
    root: &std::path::Path,
    image: &str,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Container> {
    let store = img_container::open_store(absolute(root)?)?;
    create_in(&store, image, options, progress)
}

fn create_in(
    store: &Store,
    image: &str,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Container> {
    let found = find_image(
        store,
        image,
        options.platform.as_ref(),
        options.pull,
        &options.pull_options,
        progress,
    )?;
    prepare(store, &found, image, options)
}

/// Run `image` in a new container of `root`'s store: in the foreground to
/// its end, or, with `detach`, started under a monitor (see `monitor.rs`).
pub fn run(
    root: &std::path::Path,
    image: &str,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Ran> {
    let root = &absolute(root)?;
    if options.detach {
        let container = create(root, image, options, progress)?;
        return match monitor::start(root, &container) {
            Ok(()) => Ok(Ran {
                container,
                code: 0,
                refused: None,
            }),
            Err(StartError::Command { code, message }) => Ok(Ran {
                container,
                code,
                refused: Some(message),
            }),
            Err(StartError::Img(e)) => Err(e),
        };
    }
    // The namespace belongs to this thread: enter it before anything else.
    overlay::enter_private_namespace()?;
    let (container, dir, lowers, runtime_dir) = {
        let store = img_container::open_store(root)?;
        let container = create_in(&store, image, options, progress)?;
        let lowers = img_container::containers::lowers(&store, &container)?;
        let dir = img_container::Containers::of(&store).dir_of(&container.id);
        (
            container,
            dir,
            lowers,
            owner::runtime_dir(&store.state_dir()),
        )
        // The store, and with it the writer lock, goes here.
    };
    let _lock = dir.lock()?;
    let config = container
        .config
        .clone()
        .ok_or_else(|| Error::invalid("the new container has no run configuration"))?;
    let mut settings = options.settings.clone();
    settings.isolation = config.isolation.clone();
    settings.runtime_dir = runtime_dir;
    settings.volatile = options.remove;
    settings.remove = options.remove;
    if settings.stdout == Stdout::Inherit {
        // Kept as Docker keeps a foreground container's output, for
        // img-logs once it ended.
        settings.stdout = Stdout::Attached(log::path(dir.path(), &container.id));
    }
    let mut record = container.clone();
    let ran = execute::execute(
        &container.id,
        &dir,
        &lowers,
        &config.process,
        &settings,
        &mut |runtime, start| {
            // Recorded as running once the process is about to start (its
            // ID comes a moment later): a client the container serves
            // already must find it running.
            let pid = match start {
                Start::Imminent => 0,
                Start::Running(pid) => pid,
            };
            record.runtime = runtime.name.clone();
            record.state = State::Running {
                pid,
                started: Some(img_store::compose::timestamp(chrono::Utc::now())),
            };
            dir.save_unsynced(&record)
        },
    );
    let mut record = dir.load().unwrap_or(container);
    let outcome = match ran {
        Ok(outcome) => outcome,
        Err(e) => {
            if options.remove {
                // Thrown away by `execute` unless it failed before that.
                let _ = img_store::remove_tree(dir.path());
            } else {
                record.state = exited(125);
                let _ = dir.save(&record);
            }
            return Err(e);
        }
    };
    record.runtime = outcome.runtime.name.clone();
    record.state = exited(outcome.code);
    // With --rm, `execute` threw the directory away (see `trash.rs`).
    if !options.remove {
        dir.save(&record)?;
    }
    Ok(Ran {
        container: record,
        code: outcome.code,
        refused: outcome.refused,
    })
}

/// `path` made absolute against the working directory.
pub fn absolute(path: &std::path::Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io(format!("resolving {}", path.display()), e))
}

fn exited(code: i32) -> State {
    State::Exited {
        code,
        finished: img_store::compose::timestamp(chrono::Utc::now()),
    }
}

/// The image `query` names, for `platform` (the host's when `None`): from
/// the store, pulled first when `policy` says so (img-run's IMAGE and
/// img-build's FROM).
pub fn find_image(
    store: &Store,
    query: &str,
    platform: Option<&Platform>,
    policy: PullPolicy,
    pull_options: &PullOptions,
    progress: &dyn Progress,
) -> Result<Image> {
    let pull_now = |progress: &dyn Progress| -> Result<()> {
        let reference = Reference::parse(query)?;
        let mut pull_options = pull_options.clone();
        pull_options.platform = platform.cloned();
        pull::pull(store, &reference, &pull_options, progress)?;
        Ok(())
    };
    if policy == PullPolicy::Always {
        pull_now(progress)?;
    }
    let resolved = match store.resolve(query) {
        Err(e) if e.kind() == Kind::NotFound && policy == PullPolicy::Missing => {
            progress.message(&format!("Unable to find image '{query}' locally"));
            pull_now(progress)?;
            store.resolve(query)?
        }
        other => other?,
    };
    store.require_complete(&resolved.target)?;
    Ok(resolved.target.image_for(platform)?.clone())
}

/// Unpack the image's layers and register the container with its run
/// configuration; a bad flag or a port in use fails before anything is
/// made.
fn prepare(store: &Store, image: &Image, image_name: &str, options: &Options) -> Result<Container> {
    let config = image
        .config_json
        .get("config")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    let id = img_container::new_id()?;
    let hostname = options
        .hostname
        .clone()
        .unwrap_or_else(|| id[..12].to_string());
    let process = process::resolve(&config, &options.overrides, &hostname, options.settings.tty)?;
    let mut isolation = options.settings.isolation.clone();
    isolation.hostname = hostname;
    if options.publish_all {
        let exposed = config
            .get("ExposedPorts")
            .and_then(serde_json::Value::as_object)
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        for key in exposed {
            isolation.ports.push(Port::exposed(&key)?);
        }
    }
    if !isolation.ports.is_empty() && isolation.network != Network::Bridge {
        return Err(Error::invalid(
            "published ports need the container's own network: drop --network host|none",
        ));
    }
    reserve(&mut isolation.ports)?;
    // Empty: the store makes one up when it takes the name.
    let name = match &options.name {
        Some(n) => names::check(n)?.to_string(),
        None => String::new(),
    };
    let diff_ids = img_store::compose::diff_ids(&image.config_json)?;
    img_layers::unpack::snapshots_of(
        &img_store::Snapshots::of(store),
        image.manifest.layers(),
        &diff_ids,
    )?;
    let mut container = Container {
        id,
        name,
        image: image.id().clone(),
        image_name: image_name.to_string(),
        layers: diff_ids,
        command: process.args.clone(),
        created: img_store::compose::timestamp(chrono::Utc::now()),
        runtime: options.runtime.clone().unwrap_or_default(),
        state: State::Created,
        auto_remove: options.remove,
        config: Some(RunConfig {
            process,
            isolation,
            tty: options.settings.tty,
            interactive: options.settings.interactive,
            runtime: options.runtime.clone(),
            stop_signal: config
                .get("StopSignal")
                .and_then(serde_json::Value::as_str)
                .map(String::from),
        }),
    };
    img_container::Containers::of(store).create(&mut container)?;
    Ok(container)
}
