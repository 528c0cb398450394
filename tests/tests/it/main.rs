//! img's integration tests: one test binary, one module per program.

#![allow(clippy::unwrap_used)]

mod build;
mod build_cache;
mod build_reproducible;
mod cli;
mod commit;
mod containers;
mod crash;
mod credentials;
mod differential;
mod differential_cli;
mod differential_config;
mod differential_files;
mod differential_stages;
mod docs;
mod export;
mod fsck;
mod full_disk;
mod head_first;
mod history;
mod hostile;
mod import;
mod inspect;
mod layer;
mod load;
mod login;
mod ls;
mod mirrors;
mod prune;
mod prune_queue;
mod pull;
mod push;
mod registry_faults;
mod rm;
mod run;
mod save;
mod search;
mod store;
mod tag;
mod terminal;
mod thin;
mod tls;
mod tutorial_containers;
