//! `img-login` and `img-login --logout`: check credentials against a
//! registry and keep them where Docker keeps them (see `credentials.rs`).
//!
//! As `docker login` does, a registry with a token service is asked for an
//! offline token: when the service hands out a refresh token, that identity
//! token is stored instead of the password (`identitytoken`, with `auth`
//! holding only `USER:`; a credential helper gets the user `<token>`).
//! Otherwise — Basic registries, services without refresh tokens — the
//! user name and password are stored.

use crate::credentials::{self, Credentials, Stored};
use crate::transport::auth::Challenge;
use crate::transport::client::Client;
use crate::transport::options::ClientOptions;
use img_core::error::{Result, ResultExt};

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

/// What [`login`] kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    /// Where.
    pub stored: Stored,
    /// Whether it is an identity token (the service's refresh token) rather
    /// than the password.
    pub identity_token: bool,
}

/// Verify `creds` against `registry`, then store them — or the identity
/// token the registry's token service issued for them.
pub fn login(registry: &str, creds: &Credentials, options: &ClientOptions) -> Result<LoggedIn> {
    let doing = || format!("logging in to {registry}");
    let client =
        Client::connect_with(registry, options, Some(creds.clone())).with_context(doing)?;
    let refresh = match client.auth().challenge() {
        Challenge::Bearer { .. } => client
            .auth()
            .login_token(client.agent())
            .with_context(doing)?,
        _ => {
            client.verify_login().with_context(doing)?;
            None
        }
    };
    let keep = match refresh {
        Some(token) => Credentials::identity_token(creds.username.clone(), token),
        None => creds.clone(),
    };
    let stored = credentials::store(registry, &keep)
        .with_context(|| format!("saving the credentials for {registry}"))?;
    Ok(LoggedIn {
        stored,
        identity_token: keep.is_identity_token(),
    })
}

/// Forget the stored credentials for `registry`; whether there were any.
pub fn logout(registry: &str) -> Result<bool> {
    credentials::erase(registry).with_context(|| format!("removing the credentials for {registry}"))
}
