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
//! * [`options`] — the flags the registry programs share.
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
pub mod options;
pub mod pull;
pub mod push;
pub mod retry;
pub mod search;
mod stream;
pub mod token;
pub mod upload;
pub mod url;

pub use client::Client;
pub use options::{ClientOptions, RegistryArgs};
