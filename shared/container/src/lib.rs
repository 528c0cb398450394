//! # img-container: running containers
//!
//! An image's layers mounted as an overlay with a writable layer on top, run
//! by an OCI runtime (`runc` or `crun`) — what `docker run` does. A
//! container's record, directory and name are the store's
//! (`img_store::containers`), so that listing and removing containers needs
//! none of this crate.
//!
//! The read-only layers are the store's snapshots, unpacked by
//! `img_layers::unpack`. The overlay is mounted in a mount namespace of
//! img-run's own, which the kernel takes down with the last process in it:
//! no mount outlives the run, whatever way it ends.
//!
//! * [`run`] — `img-run`: find (or pull) the image, make the container, run
//!   it, keep or remove it;
//! * [`overlay`] — the overlay mount;
//! * [`spec`] — the runtime config made from the image config and flags;
//! * [`user`] — `USER` resolved against the image's `/etc/passwd`;
//! * [`process`] — the command, environment and working directory;
//! * [`execute`] — one run of a container, from mount to exit status;
//! * [`runtime`] — choosing and driving `runc`/`crun`;
//! * [`console`] — the terminal of `-t`;
//! * [`signals`] — signals passed on to the running container.

pub mod console;
pub mod execute;
pub mod overlay;
pub mod process;
pub mod run;
pub mod runtime;
pub mod signals;
pub mod spec;
pub mod user;
