//! # img-registry: registries, over the OCI distribution API
//!
//! Pulling images into the store, pushing them out, logging in, and
//! searching — one module per program ([`pull`], [`push`], [`login`],
//! [`search`]) — over two layers of their own: [`transport`] (how a request
//! reaches a registry) and [`credentials`] (what a request is authorized
//! with).
//!
//! * [`transport::client`] — one connected registry: TLS, the `/v2/` ping, and the one
//!   request path every call takes (authentication, retries, redirects);
//!   [`transport::retry`] — which answers are asked again, and after how long;
//! * [`transport::auth`] — anonymous, Basic and Bearer-token authentication driven by
//!   the registry's challenge; [`transport::token`] — the token service, asked by GET
//!   with a password or by OAuth2 POST with an identity token;
//!   [`credentials`] — where credentials are kept (Docker's config and
//!   helpers, containers' auth.json); [`credentials::helper`] — the `docker-credential-*`
//!   protocol; [`transport::certs`] —
//!   private CAs in Docker's `certs.d` layout;
//! * [`manifest`] — manifests over the wire; [`download`] — one blob,
//!   resumable and in parallel ranges; `stream` — a blob of a MiB or more as one fast
//!   stream, hashed in memory; [`source`] — what both share; [`pull`] — a whole image,
//!   by the rules of [`choice`];
//! * [`upload`] — one blob out (existence check, cross-repository mount,
//!   monolithic or chunked upload); [`push`] — a whole image or index;
//! * [`search`] — Docker Hub search, a registry's catalog and tags;
//! * [`transport::options`] — the flags the registry programs share;
//! * [`registries_conf`] — the containers `registries.conf` files;
//!   [`mirrors`] — what they mean for a pull or a push (mirrors, locations,
//!   blocked registries); [`sources`] — a pull's endpoints, connected when
//!   first needed and tried in order; [`present`] — what the store already
//!   holds of a digest a registry names.
//!
//! No async runtime: blocking HTTP (ureq, rustls) with one thread per
//! transfer, bounded by the programs' concurrency flags.

#![warn(missing_docs)]

pub mod choice;
pub mod credentials;
pub mod download;
pub mod login;
pub mod manifest;
pub mod mirrors;
pub mod present;
pub mod pull;
pub mod push;
pub mod registries_conf;
pub mod search;
pub mod source;
pub mod sources;
mod stream;
pub mod transport;
pub mod upload;

pub use registries_conf::RegistriesConf;
pub use transport::client::Client;
pub use transport::options::{ClientOptions, MirrorArgs, RegistryArgs};
