//! `img-login` and `img-login --logout`: check credentials against a
//! registry and keep them where Docker keeps them (see `credentials.rs`).

use super::client::Client;
use super::credentials::{self, Credentials, Stored};
use super::options::ClientOptions;
use crate::error::{Result, ResultExt};

/// The registry `img-login` talks to when none is named.
pub const DEFAULT_SERVER: &str = "docker.io";

/// The registry host a `SERVER` argument names (`https://host/…` → `host`).
pub fn server_host(server: &str) -> String {
    let rest = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let host = rest.split('/').next().unwrap_or(rest);
    if credentials::is_docker_hub(host) {
        DEFAULT_SERVER.to_string()
    } else {
        host.to_string()
    }
}

/// Verify `creds` against `registry`, then store them.
pub fn login(registry: &str, creds: &Credentials, options: &ClientOptions) -> Result<Stored> {
    let doing = || format!("logging in to {registry}");
    let client =
        Client::connect_with(registry, options, Some(creds.clone())).with_context(doing)?;
    client.verify_login().with_context(doing)?;
    credentials::store(registry, creds)
        .with_context(|| format!("saving the credentials for {registry}"))
}

/// Forget the stored credentials for `registry`; whether there were any.
pub fn logout(registry: &str) -> Result<bool> {
    credentials::erase(registry).with_context(|| format!("removing the credentials for {registry}"))
}
