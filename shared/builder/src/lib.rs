//! # img-builder: making images
//!
//! From a Dockerfile (`img-build`, this module), from a container's changes
//! or an image and a layer tar ([`commit`], `img-commit`), and from a root
//! filesystem tar ([`import`], `img-import`).
//!
//! `img-build`: an image from a Dockerfile, as `docker build` makes it.
//!
//! The Dockerfile is read by [`img_dockerfile`]; the stages the target
//! needs (the last one, or `--target`, and those it starts from, copies
//! from or mounts) are built — at the same time where they do not depend on
//! each other, printed in the file's order (`stages/parallel.rs`) — each
//! instruction turning the stage's [`State`] into the next one:
//!
//! * FROM starts from an image (from the store, pulled when missing, as
//!   Docker does), an earlier stage, or `scratch`; the base's ONBUILD
//!   triggers run first.
//! * RUN runs in a container on the stage's image (`steps.rs`), with what
//!   `--mount` asks for (`mounts.rs`: bind, cache, tmpfs, secret); COPY and
//!   ADD copy into it mounted the same way (`copy.rs` decides what goes
//!   where); the change becomes a layer, kept uncompressed and made
//!   lasting in the background while the next steps run (`new_layers.rs`).
//! * Every other instruction changes the config only, exactly as
//!   `--change` does for img-commit (`img_dockerfile::change`); WORKDIR also makes
//!   its directory in a layer (`workdir.rs`, owners as `owner.rs` takes
//!   them), MAINTAINER sets the author.
//! * Every RUN, COPY, ADD and WORKDIR adds a layer, an empty one when it
//!   changed nothing, and a history entry in BuildKit's words
//!   (`history.rs`); times are the build's, or clamped to a source date
//!   epoch for reproducible images (`clock.rs`).
//!
//! Each step is first looked up in the build cache (`cache.rs`): a step
//! made before from the same state, with the same instruction, arguments
//! and files, is not made again. Caches outside the store — a registry, an
//! OCI layout directory, an image's inline cache — are read before the
//! build (`--cache-from`) and written after it (`--cache-to`); see
//! `remote_cache` and `step_cache.rs`. The image is stored with OCI media types
//! and named by each `-t`; until then nothing is named, so a failed build
//! changes no name. Progress goes to stderr in the classic builder's words
//! (`Step 2/5 : RUN …`, ` ---> Running in …`, ` ---> Using cache`,
//! `Successfully built …`, `Successfully tagged …`), with RUN's output;
//! stdout gets the image's record.
//!
//! The build runs in a mount namespace of its own (entered first, on the
//! calling thread): no mount of it is ever seen by the host or left behind.

#![warn(missing_docs)]

pub mod args;
pub mod cache;
pub mod clock;
pub mod commit;
pub mod copy;
pub mod import;
pub mod input;
pub mod mounts;
pub mod new_layers;
pub mod owner;
pub mod remote_cache;
pub mod run_script;
pub mod state;
pub mod step_cache;
pub mod steps;
pub mod workdir;

mod history;
mod stages;

use std::path::PathBuf;

use oci_spec::image::Descriptor;

use img_container::execute::Settings;
use img_core::error::Result;
use img_core::image::Target;
use img_core::platform::Platform;
use img_core::progress::Progress;
use img_core::reference::Reference;
use img_registry::pull::PullOptions;
use img_runner::run::PullPolicy;

pub use state::State;

/// What to build and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Dockerfile's text.
    pub dockerfile: String,
    /// Its name, for messages (`Dockerfile`, or the `-f` path).
    pub dockerfile_name: String,
    /// The build context directory (`None`: a Dockerfile from stdin and no
    /// context, where COPY and ADD of local files fail).
    pub context: Option<PathBuf>,
    /// The `.dockerignore` text (the Dockerfile's own
    /// `NAME.dockerignore`, else the context's).
    pub ignore: Option<String>,
    /// Names for the image (`-t`).
    pub tags: Vec<Reference>,
    /// `--build-arg` values.
    pub build_args: Vec<String>,
    /// The stage to build (`--target`), else the last.
    pub target: Option<String>,
    /// Make every step anew (`--no-cache`).
    pub no_cache: bool,
    /// When to pull FROM images (`--pull`: always).
    pub pull: PullPolicy,
    /// How to pull.
    pub pull_options: PullOptions,
    /// Labels added to the image (`--label`).
    pub labels: Vec<(String, String)>,
    /// How RUN's containers run (network, runtimes, where output goes).
    pub settings: Settings,
    /// Print no progress (`-q`).
    pub quiet: bool,
    /// Secrets for `RUN --mount=type=secret` (`--secret`).
    pub secrets: Vec<mounts::Secret>,
    /// Caches to look steps up in after the store's own (`--cache-from`).
    pub cache_from: Vec<remote_cache::Import>,
    /// Where to write the cache of this build (`--cache-to`).
    pub cache_to: Vec<remote_cache::Export>,
    /// The source date epoch (`--source-date-epoch`, `SOURCE_DATE_EPOCH`):
    /// times later than it are written as it, for reproducible images.
    pub source_date_epoch: Option<i64>,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The image.
    pub target: Target,
    /// Its record (named by the first tag).
    pub record: Descriptor,
}

/// Build the image `options` describe in the store at `root`.
pub fn build(root: &std::path::Path, options: &Options, progress: &dyn Progress) -> Result<Built> {
    img_container::overlay::enter_private_namespace()?;
    let store = img_container::open_store(img_runner::run::absolute(root)?)?;
    // From here to the naming, the layers made are referenced by nothing
    // but this build: garbage collection waits for it.
    store.hold_writer_lock()?;
    let platform = Platform::host();
    let mut options = options.clone();
    options.settings.runtime_dir = img_container::owner::runtime_dir(&store.state_dir());
    // New layers are made lasting by threads of this scope while the next
    // steps run (`new_layers.rs`).
    std::thread::scope(|scope| {
        stages::Builder::new(&store, &options, progress, platform, scope)?.build()
    })
}
