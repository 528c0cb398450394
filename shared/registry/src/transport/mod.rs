//! How a request reaches a registry: the connection and the one request
//! path every call takes ([`client`]), what a failure says ([`errors`]), authentication driven by the
//! registry's challenge ([`auth`], [`token`]), private CAs ([`certs`]),
//! retries ([`retry`]), the URL operations the API needs ([`url`]), and the
//! connection settings ([`options`]). What a request is authorized with
//! comes from `crate::credentials`.

pub mod auth;
pub mod certs;
pub mod client;
pub mod errors;
pub mod options;
pub mod retry;
pub mod token;
pub mod url;
