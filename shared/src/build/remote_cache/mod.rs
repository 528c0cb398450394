//! The build cache outside the store: `img-build --cache-to` and
//! `--cache-from`, shared through a registry, an OCI layout directory, or
//! the image's own config.
//!
//! * [`spec`] — the flags' values;
//! * [`format`] — BuildKit's cache manifest and config, with img's step
//!   keys and what img needs to go on from a hit;

pub mod format;
pub mod spec;

pub use spec::{Export, Import, Location, Mode};
