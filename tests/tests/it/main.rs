//! img's integration tests: one test binary, one module per program.

#![allow(clippy::unwrap_used)]

mod build;
mod cli;
mod commit;
mod credentials;
mod differential;
mod docs;
mod export;
mod harness;
mod history;
mod import;
mod inspect;
mod layer;
mod load;
mod login;
mod ls;
mod nested_index;
mod new_store;
mod private;
mod prune;
mod pull;
mod push;
mod registry_faults;
mod rm;
mod run;
mod save;
mod search;
mod store;
mod tag;
mod tls;
