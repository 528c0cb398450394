//! The build cache outside the store: `img-build --cache-to` and
//! `--cache-from`, shared through a registry, an OCI layout directory, or
//! the image's own config — so that a fleet of machines makes each step
//! once.
//!
//! * [`spec`] — the flags' values;
//! * [`format`] — BuildKit's cache manifest and config, with img's step
//!   keys and what img needs to go on from a hit; [`inline`] — the same
//!   records in an image's config;
//! * [`import`] — a cache's manifest and config, read before the build
//!   (a cache that cannot be read is a warning, never an error);
//! * [`fetch`] — the layers of hits, downloaded when a step needs them;
//! * [`export`] — the steps of this build, written after it;
//! * [`layout`] — OCI layout directories as caches.
//!
//! How the builder asks all caches, local and imported, is `step_cache.rs`.

pub mod export;
pub mod fetch;
pub mod format;
pub mod import;
pub mod inline;
pub mod layout;
pub mod spec;
pub mod wire;

pub use spec::{Export, Import, Location, Mode};
