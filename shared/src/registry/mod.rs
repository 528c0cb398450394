//! Registries, over the OCI distribution API: pulling images into the store,
//! pushing them out, logging in, and searching.
//!
//! * [`client`] — one connected registry: TLS, the `/v2/` ping, and the one
//!   request path every call takes (authentication, retries, redirects);
//!   [`retry`] — which answers are asked again, and after how long;
//! * [`auth`] — anonymous, Basic and Bearer-token authentication driven by
//!   the registry's challenge; [`token`] — the token service, asked by GET
//!   with a password or by OAuth2 POST with an identity token;
//!   [`credentials`] — where credentials are kept (Docker's config and
//!   helpers, containers' auth.json); [`helper`] — the `docker-credential-*`
//!   protocol; [`certs`] —
//!   private CAs in Docker's `certs.d` layout;
//! * [`manifest`] — manifests over the wire; [`download`] — one blob,
//!   resumable and in parallel ranges; `stream` — a large blob as one fast
//!   stream, hashed in memory; [`pull`] — a whole image;
//! * [`upload`] — one blob out (existence check, cross-repository mount,
//!   monolithic or chunked upload); [`push`] — a whole image or index;
//! * [`search`] — Docker Hub search, a registry's catalog and tags;
//! * [`options`] — the flags the registry programs share;
//! * [`registries_conf`] — the containers `registries.conf` files;
//!   [`mirrors`] — what they mean for a pull or a push (mirrors, locations,
//!   blocked registries); [`sources`] — a pull's endpoints, connected when
//!   first needed and tried in order; [`present`] — what the store already
//!   holds of a digest a registry names.
//!
//! No async runtime: blocking HTTP (ureq, rustls) with one thread per
//! transfer, bounded by the programs' concurrency flags.

pub mod auth;
pub mod certs;
pub mod client;
pub mod credentials;
pub mod download;
pub mod helper;
pub mod login;
pub mod manifest;
pub mod mirrors;
pub mod options;
pub mod present;
pub mod pull;
pub mod push;
pub mod registries_conf;
pub mod retry;
pub mod search;
pub mod sources;
mod stream;
pub mod token;
pub mod upload;
pub mod url;

pub use client::Client;
pub use options::{ClientOptions, MirrorArgs, RegistryArgs};
pub use registries_conf::RegistriesConf;
