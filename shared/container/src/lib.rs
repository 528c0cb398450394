//! # img-container: containers, kept and run
//!
//! A container is an image's snapshots mounted as an overlay with a
//! writable layer on top, run by an OCI runtime (`runc` or `crun`) — what
//! `docker run`, `docker start` and `docker exec` do — and kept after it
//! exits (unless `--rm`) so that `img-commit` can make an image of what it
//! changed.
//!
//! This crate moves no image bytes: it needs the store, never a registry,
//! a compression codec or a Dockerfile, so that every program can list
//! containers and end those whose owner died (every program does, when it
//! opens the store: [`open_store`]). Making a container from an image —
//! pulling it, unpacking its layers — is `img_runner`'s.
//!
//! * [`containers`] — a container's record, directory and unique name
//!   ([`names`]); [`Containers`], the store's containers;
//! * [`owner`] — who owns a running container, and its end when the owner
//!   dies; [`monitor`] — the owner of a detached one;
//! * [`execute`] — one run of a container, from mount to exit status, with
//!   [`overlay`] (the mount), [`spec`] (the runtime config, filtered by
//!   [`seccomp`]), [`user`],
//!   [`process`], [`network`] (pasta, published ports), [`console`] (the
//!   terminal of `-t`), [`signals`] and [`log`] (the json-file log);
//!   [`trash`], where a `--rm` container's directory goes to be removed
//!   off the critical path;
//! * [`runtime`] — choosing and driving `runc`/`crun`; `children` — each
//!   child waited for by its own waiter, and those nobody waits for reaped;
//! * [`control`] — start, stop, kill, remove, logs; [`exec`] — a process
//!   in a running container; [`watch`] — waits that wake on inotify events.
//!
//! The overlay is mounted in a mount namespace of the owner's own, which
//! the kernel takes down with the last process in it: no mount outlives
//! the run, whatever way it ends.

#![warn(missing_docs)]

pub(crate) mod children;
pub mod console;
pub mod containers;
pub mod control;
pub mod exec;
pub mod execute;
pub(crate) mod helpers;
pub mod log;
pub mod monitor;
pub mod names;
pub mod network;
pub mod overlay;
pub mod owner;
pub(crate) mod pidfile;
pub mod process;
pub mod runtime;
pub mod seccomp;
pub mod signals;
pub mod spec;
pub(crate) mod stdio;
pub mod trash;
pub(crate) mod underway;
pub mod user;
pub mod watch;

pub use containers::{new_id, Container, Containers, Dir, RunConfig, State};

use img_core::error::Result;
use img_store::Store;

/// Open the store at `root` as every program opens it: containers whose
/// owner was killed end here, whatever program comes next (see
/// [`owner`]), and the trash no guard empties goes ([`trash`]); a failure
/// to end one does not stop the program.
pub fn open_store(root: impl Into<std::path::PathBuf>) -> Result<Store> {
    let store = Store::open(root)?;
    let _ = Containers::of(&store).reap();
    let _ = trash::sweep(&store.state_dir());
    Ok(store)
}
