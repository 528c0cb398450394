//! # img-ops: the programs that work on the store alone
//!
//! One module per program, named as the program: [`tag`] (`img-tag`),
//! [`ls`] (`img-ls`), [`rm`] (`img-rm`), [`inspect`] (`img-inspect`),
//! [`history`] (`img-history`), [`prune`] (`img-prune`), and [`ps`] (the
//! containers `img-ls --containers` lists). What they print for people is
//! rendered here too, through `img_core::template` (Docker's `--format` Go
//! templates); img-inspect's typed template data is [`go_data`] and
//! [`inspect_config`].
//!
//! These programs read and name images and never move a layer's bytes, so
//! this crate depends on `img-core` and `img-store` alone: no compression,
//! no HTTP or TLS, no Dockerfile front end is linked into them. The other
//! programs' operations live at the top of the subsystem they drive
//! (`img_registry::pull`, `img_archive::save`, `img_builder::commit`, …;
//! ARCHITECTURE.md has the table).

pub mod go_data;
pub mod history;
pub mod inspect;
pub mod inspect_config;
pub mod ls;
pub mod prune;
pub mod ps;
pub mod rm;
pub mod tag;
