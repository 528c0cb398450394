//! img's integration tests: one test binary, one module per program.

#![allow(clippy::unwrap_used)]

mod cli;
mod docs;
mod history;
mod inspect;
mod ls;
mod rm;
mod store;
mod tag;
