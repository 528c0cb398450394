//! # img-core: the types every part of img speaks in
//!
//! The bottom tier of img's library. Nothing here touches the store, the
//! network or a terminal: these are the values that flow between the other
//! crates, and the small mechanisms that must have exactly one home.
//!
//! * [`digest`], [`reference`], [`platform`] — a blob's name, an image's
//!   name, a machine's name, each parsed once;
//! * [`image`] — images as the OCI and Docker specs shape them: manifest,
//!   config, multi-platform index;
//! * [`record`] — the NDJSON descriptors that flow between programs;
//! * [`error`] — the error every crate returns, with the kind that decides a
//!   program's exit code;
//! * [`json`] — the canonical JSON img writes;
//! * [`timestamp`] — points in time and durations as Docker's CLI takes them;
//! * [`format`] — sizes, ages and tables as Docker prints them;
//!   [`template`] — Docker's `--format` Go templates;
//! * [`parallel`] — work spread over a few threads; [`cancel`] — the flag
//!   that stops long copies early (a build's SIGINT or SIGTERM);
//! * [`path`] — the one lexical path cleaner; [`confine`] — a root that
//!   nothing driven by a layer's or an archive's content can leave
//!   (directory handles, `openat2` with `RESOLVE_IN_ROOT`);
//! * [`pattern`] — the one engine for Go's `filepath.Match` globs
//!   (`.dockerignore`, COPY sources, `--filter reference=`);
//! * [`output`] — where a program's tar stream goes (a file or stdout);
//! * [`progress`] — what long operations report, for the CLI to show;
//! * [`testing`] — for the crates' unit tests: when a test that cannot run
//!   here fails and when it may be skipped.

#![warn(missing_docs)]

pub mod cancel;
pub mod confine;
pub mod digest;
pub mod error;
pub mod format;
pub mod image;
pub mod json;
pub mod output;
pub mod parallel;
pub mod path;
pub mod pattern;
pub mod platform;
pub mod progress;
pub mod record;
pub mod reference;
pub mod template;
pub mod testing;
pub mod timestamp;

pub use error::{Error, Kind, Result};
