//! # img: container images as small Unix programs
//!
//! This crate holds all of img's logic; the `img-*` programs only parse their
//! command line and call into it.
//!
//! **The store** ([`store`]) is an OCI image layout: `oci-layout`,
//! `index.json` with one entry per name (the full normalized reference in the
//! `org.opencontainers.image.ref.name` annotation), and `blobs/sha256/`, each
//! blob once. Blobs become visible only after their digest is verified;
//! `index.json` is replaced atomically under a lock; garbage collection
//! removes what no entry reaches and waits for running writers.
//!
//! **The pipe protocol** ([`record`]): programs that produce images print one
//! record per image on stdout — an OCI descriptor as one line of JSON — and
//! programs that take images read such records from stdin when given no
//! arguments. stdout carries only records or tar streams; people read stderr.

pub mod announce;
pub mod archive;
pub mod build;
pub mod change;
pub mod cli;
pub mod commit;
pub mod compose;
pub mod confine;
pub mod container;
pub mod digest;
pub mod dockerfile;
pub mod error;
pub mod export;
pub mod format;
pub mod go_data;
pub mod healthcheck;
pub mod history;
pub mod image;
pub mod import;
pub mod inspect;
pub mod inspect_config;
pub mod json;
pub mod layer;
pub mod listing;
pub mod output;
pub mod parallel;
pub mod platform;
pub mod progress;
pub mod prune;
pub mod record;
pub mod reference;
pub mod registry;
pub mod remove;
pub mod run;
pub mod store;
pub mod tag;
pub mod template;
#[cfg(test)]
mod testing;
pub mod timestamp;
pub mod usage;

pub use error::{Error, Kind, Result};
