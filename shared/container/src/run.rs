//! `img-run`: a container from an image, run in the foreground to its end,
//! as `docker run` does.
//!
//! The image is found in the store (and pulled when it is missing, as
//! Docker does, unless `--pull never`); its layers are unpacked once into
//! snapshots; the container is registered in the store (so that img-commit
//! finds it and garbage collection keeps its layers), and the store's
//! writer lock is let go before the process starts: a container that runs
//! for days never holds up img-prune. The run itself is `container::execute`.
//! With `--rm` the container is removed when it ends; otherwise its record
//! says how it ended and its writable layer is kept.

use std::path::PathBuf;

use crate::execute::{self, Settings};
use crate::overlay;
use crate::process::{self, Overrides};
use img_core::error::{Error, Kind, Result};
use img_core::image::Image;
use img_core::platform::Platform;
use img_core::progress::Progress;
use img_core::reference::Reference;
use img_registry::pull::{self, PullOptions};
use img_store::containers::{names, Container, Containers, Dir, State};
use img_store::Snapshots;
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
    /// The overrides of the image config.
    pub overrides: Overrides,
    /// The host name (the short ID when `None`).
    pub hostname: Option<String>,
    /// Everything else about the run (the runtime candidates included).
    pub settings: Settings,
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
    /// Its exit status (see `execute::Outcome`).
    pub code: i32,
    /// Why the command could not be run at all.
    pub refused: Option<String>,
}

/// Run `image` (a name, ID or digest) in a new container of `root`'s store.
pub fn run(
    root: &std::path::Path,
    image: &str,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Ran> {
    // The namespace belongs to this thread: enter it before anything else.
    overlay::enter_private_namespace()?;
    // The runtime resolves the bundle's relative paths from the bundle.
    let root = &absolute(root)?;
    let prepared = {
        let store = Store::open(root)?;
        let found = find_image(
            &store,
            image,
            options.platform.as_ref(),
            options.pull,
            &options.pull_options,
            progress,
        )?;
        prepare(&store, &found, image, options)?
        // The store, and with it the writer lock, goes here.
    };
    let Prepared {
        container,
        dir,
        lowers,
        config,
    } = prepared;
    let _lock = dir.lock()?;
    let hostname = options
        .hostname
        .clone()
        .unwrap_or_else(|| container.short_id().to_string());
    let mut settings = options.settings.clone();
    settings.isolation.hostname = hostname.clone();
    let ran =
        process::resolve(&config, &options.overrides, &hostname, settings.tty).and_then(|p| {
            let mut record = container.clone();
            execute::execute(
                &container.id,
                &dir,
                &lowers,
                &p,
                &settings,
                &mut |runtime, pid| {
                    record.runtime = runtime.name.clone();
                    record.state = State::Running { pid };
                    dir.save(&record)
                },
            )
        });
    let mut record = dir.load().unwrap_or(container);
    let outcome = match ran {
        Ok(outcome) => outcome,
        Err(e) => {
            if options.remove {
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
    if options.remove {
        img_store::remove_tree(dir.path())?;
    } else {
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

/// A registered container, ready to run.
struct Prepared {
    container: Container,
    dir: Dir,
    /// Its image's snapshots, top first.
    lowers: Vec<PathBuf>,
    /// Its image config's `config` object.
    config: serde_json::Value,
}

/// Unpack the image's layers and register the container.
fn prepare(store: &Store, image: &Image, image_name: &str, options: &Options) -> Result<Prepared> {
    let diff_ids = img_store::compose::diff_ids(&image.config_json)?;
    let lowers = img_layers::unpack::snapshots_of(
        &Snapshots::of(store),
        image.manifest.layers(),
        &diff_ids,
    )?;
    // Empty: the store makes one up when it takes the name.
    let name = match &options.name {
        Some(n) => names::check(n)?.to_string(),
        None => String::new(),
    };
    let config = image
        .config_json
        .get("config")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({}));
    let command = process::resolve(&config, &options.overrides, "", false)
        .map(|p| p.args)
        .unwrap_or_default();
    let mut container = Container {
        id: img_store::containers::new_id()?,
        name,
        image: image.id().clone(),
        image_name: image_name.to_string(),
        layers: diff_ids,
        command,
        created: img_store::compose::timestamp(chrono::Utc::now()),
        runtime: String::new(),
        state: State::Created,
    };
    let dir = Containers::of(store).create(&mut container)?;
    Ok(Prepared {
        container,
        dir,
        lowers,
        config,
    })
}
