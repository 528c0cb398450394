//! Where registry credentials come from and go to, as Docker and the
//! containers tools keep them:
//!
//! * `--creds USER[:PASSWORD]` on the command line (asked for when missing);
//! * `$REGISTRY_AUTH_FILE` (containers' `auth.json`), when set;
//! * Docker's `config.json` in `$DOCKER_CONFIG`, else `~/.docker`: a
//!   per-registry `credHelpers` entry, else the global `credsStore`, else the
//!   base64 `auths` entry — helpers are `docker-credential-NAME` programs
//!   (`helper.rs`);
//! * containers' `auth.json` in `$XDG_RUNTIME_DIR/containers` or
//!   `~/.config/containers`.
//!
//! Docker Hub's credentials live under the key `https://index.docker.io/v1/`.
//! Secrets are held in [`Secret`], which never prints itself: no message, log
//! line or error of img shows a password or token.
//!
//! Credentials are a password or an identity token ([`SecretKind`]): an
//! OAuth2 refresh token that `docker login` (and `img-login`) keep instead of
//! the password when the registry's token service hands one out. Docker
//! writes it as `identitytoken` beside an `auth` holding only `USER:`, and
//! hands it to credential helpers as the user `<token>`; both are read and
//! written here the same way. An identity token only ever goes to the token
//! service (see `token.rs`).

pub mod helper;

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{json, Value};

use img_core::error::{Error, IoContext, Result};
use img_store::{Durability, Replace};

/// A password or token; prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What a [`Credentials`]' secret is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SecretKind {
    /// A password (or an access token used as one): sent as Basic
    /// authentication, to the registry or its token service.
    #[default]
    Password,
    /// Docker's identity token: an OAuth2 refresh token, sent only to the
    /// registry's token service, in a POST.
    IdentityToken,
}

/// A user name and password (or identity token) for one registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (for an identity token: the account it was issued to,
    /// when known, else empty).
    pub username: String,
    /// The password, or the identity token (see `kind`).
    pub password: Secret,
    /// Which of the two `password` holds.
    pub kind: SecretKind,
}

impl Credentials {
    /// A user name and password.
    pub fn password(username: impl Into<String>, password: Secret) -> Credentials {
        Credentials {
            username: username.into(),
            password,
            kind: SecretKind::Password,
        }
    }

    /// An identity token (refresh token), issued to `username` when known.
    pub fn identity_token(username: impl Into<String>, token: Secret) -> Credentials {
        Credentials {
            username: username.into(),
            password: token,
            kind: SecretKind::IdentityToken,
        }
    }

    /// Whether the secret is an identity token.
    pub(crate) fn is_identity_token(&self) -> bool {
        self.kind == SecretKind::IdentityToken
    }

    /// Who these credentials are, for messages: `user NAME`, or `the
    /// identity token [of user NAME]`.
    pub fn describe(&self) -> String {
        match (self.kind, self.username.is_empty()) {
            (SecretKind::Password, _) => format!("user {}", self.username),
            (SecretKind::IdentityToken, true) => "the identity token".to_string(),
            (SecretKind::IdentityToken, false) => {
                format!("the identity token of user {}", self.username)
            }
        }
    }

    /// Parse `--creds USER[:PASSWORD]`; a missing password is asked for on
    /// the terminal.
    pub fn from_flag(text: &str) -> Result<Credentials> {
        let (user, password) = match text.split_once(':') {
            Some((u, p)) => (u.to_string(), p.to_string()),
            None => (text.to_string(), prompt_password(text)?),
        };
        if user.is_empty() {
            return Err(Error::invalid(
                "--creds needs a user name: --creds USER[:PASSWORD]",
            ));
        }
        Ok(Credentials::password(user, Secret::new(password)))
    }

    /// The `Authorization: Basic …` value; none for an identity token, which
    /// is never sent that way.
    pub fn basic(&self) -> Option<String> {
        if self.is_identity_token() {
            return None;
        }
        let pair = format!("{}:{}", self.username, self.password.expose());
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }
}

fn prompt_password(user: &str) -> Result<String> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(Error::invalid(format!(
            "no password for {user}: give --creds {user}:PASSWORD, or run on a terminal to be asked"
        )));
    }
    prompt("Password: ")
}

/// Ask for a secret on the terminal, without echo.
pub fn prompt(text: &str) -> Result<String> {
    rpassword::prompt_password(text).io_context(|| "reading the password".into())
}

/// The key a registry's credentials are stored under: Docker Hub's
/// historical URL for docker.io, the host[:port] otherwise.
pub(crate) fn server_key(registry: &str) -> String {
    if is_docker_hub(registry) {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

/// Whether `registry` names Docker Hub.
pub fn is_docker_hub(registry: &str) -> bool {
    matches!(
        registry,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// The host[:port] a config key names (`https://host/v1/` → `host`).
fn key_host(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

fn same_registry(key: &str, registry: &str) -> bool {
    let host = key_host(key);
    host == registry || (is_docker_hub(host) && is_docker_hub(registry))
}

/// Docker's config file: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub(crate) fn docker_config_path() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => home().join(".docker").join("config.json"),
    }
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
}

fn containers_auth_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        files.push(PathBuf::from(dir).join("containers").join("auth.json"));
    }
    files.push(home().join(".config").join("containers").join("auth.json"));
    files
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::invalid(format!(
                "{} is not valid JSON: {e} (fix or remove it)",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// The stored credentials for `registry`, if any.
pub fn lookup(registry: &str) -> Result<Option<Credentials>> {
    if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE").filter(|f| !f.is_empty()) {
        if let Some(found) = from_auth_file(Path::new(&file), registry)? {
            return Ok(Some(found));
        }
    }
    if let Some(config) = read_json(&docker_config_path())? {
        let helper = config
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|helpers| {
                helpers
                    .iter()
                    .find(|(k, _)| same_registry(k, registry))
                    .and_then(|(_, v)| v.as_str())
            })
            .or_else(|| config.get("credsStore").and_then(Value::as_str));
        if let Some(helper) = helper.filter(|h| !h.is_empty()) {
            if let Some(found) = helper::get(helper, &server_key(registry))? {
                return Ok(Some(found));
            }
        }
        if let Some(found) = from_auths(&config, registry, &docker_config_path())? {
            return Ok(Some(found));
        }
    }
    for file in containers_auth_files() {
        if let Some(found) = from_auth_file(&file, registry)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn from_auth_file(path: &Path, registry: &str) -> Result<Option<Credentials>> {
    match read_json(path)? {
        Some(config) => from_auths(&config, registry, path),
        None => Ok(None),
    }
}

/// The entry for `registry` in a config's `auths`: the base64 `auth`
/// (`USER:PASSWORD`; else plain `username`/`password` fields), and an
/// `identitytoken`, which, when present, is the secret (Docker's rule: the
/// password beside it is empty, or ignored).
fn from_auths(config: &Value, registry: &str, path: &Path) -> Result<Option<Credentials>> {
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let Some((_, entry)) = auths.iter().find(|(k, _)| same_registry(k, registry)) else {
        return Ok(None);
    };
    let field = |name: &str| {
        entry
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let (user, password) = match field("auth") {
        Some(encoded) => {
            let bad = || {
                Error::invalid(format!(
                    "the credentials for {registry} in {} are not base64 USER:PASSWORD (log in again)",
                    path.display()
                ))
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (user, password) = text.split_once(':').ok_or_else(bad)?;
            (user.to_string(), password.to_string())
        }
        None => (
            field("username").unwrap_or_default().to_string(),
            field("password").unwrap_or_default().to_string(),
        ),
    };
    if let Some(token) = field("identitytoken") {
        return Ok(Some(Credentials::identity_token(user, Secret::new(token))));
    }
    if password.is_empty() {
        // `USER:` alone proves nothing: docker goes anonymous with it too.
        return Ok(None);
    }
    Ok(Some(Credentials::password(user, Secret::new(password))))
}

/// Where [`store`] put the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    /// Unencrypted (base64) in this config file.
    File(PathBuf),
    /// With this credential helper program.
    Helper(String),
}

fn helper_for_write(config: &Value, registry: &str) -> Option<String> {
    config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|h| {
            h.iter()
                .find(|(k, _)| same_registry(k, registry))
                .and_then(|(_, v)| v.as_str())
        })
        .or_else(|| config.get("credsStore").and_then(Value::as_str))
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

/// Save `credentials` for `registry` as `docker login` does: with the
/// configured helper, else base64 in Docker's config file (mode 0600). An
/// identity token goes to a helper as the user `<token>`, and into the file
/// as `identitytoken` beside an `auth` of `USER:` (no password).
pub fn store(registry: &str, credentials: &Credentials) -> Result<Stored> {
    let path = docker_config_path();
    let mut config = read_json(&path)?.unwrap_or_else(|| json!({}));
    let key = server_key(registry);
    if let Some(helper) = helper_for_write(&config, registry) {
        helper::store(&helper, &key, credentials)?;
        return Ok(Stored::Helper(helper::program(&helper)));
    }
    let entry = auths_entry(credentials);
    let object = config
        .as_object_mut()
        .ok_or_else(|| Error::invalid(format!("{} is not a JSON object", path.display())))?;
    let auths = object.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    if let Some(auths) = auths.as_object_mut() {
        auths.retain(|k, _| !same_registry(k, registry));
        auths.insert(key, entry);
    }
    write_config(&path, &config)?;
    Ok(Stored::File(path))
}

/// The `auths` entry Docker writes for `credentials`: `{"auth": base64
/// USER:PASSWORD}`, or for an identity token `{"auth": base64 USER:,
/// "identitytoken": TOKEN}`.
fn auths_entry(credentials: &Credentials) -> Value {
    let encode = |text: String| base64::engine::general_purpose::STANDARD.encode(text);
    if credentials.is_identity_token() {
        json!({
            "auth": encode(format!("{}:", credentials.username)),
            "identitytoken": credentials.password.expose(),
        })
    } else {
        json!({
            "auth": encode(format!("{}:{}", credentials.username, credentials.password.expose())),
        })
    }
}

/// Forget the credentials for `registry`; whether there were any.
pub fn erase(registry: &str) -> Result<bool> {
    let path = docker_config_path();
    let Some(mut config) = read_json(&path)? else {
        return Ok(false);
    };
    let mut found = false;
    if let Some(helper) = helper_for_write(&config, registry) {
        found |= helper::erase(&helper, &server_key(registry))?;
    }
    if let Some(auths) = config.get_mut("auths").and_then(Value::as_object_mut) {
        let before = auths.len();
        auths.retain(|k, _| !same_registry(k, registry));
        if auths.len() != before {
            found = true;
            write_config(&path, &config)?;
        }
    }
    Ok(found)
}

fn write_config(path: &Path, config: &Value) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .io_context(|| format!("creating {}", dir.display()))?;
    let mut bytes = img_core::json::pretty(config)?;
    bytes.push(b'\n');
    // Secrets: the owner's alone, as docker login writes it.
    let replace = Replace {
        prefix: ".config-",
        durability: Durability::FileSynced,
        mode: Some(0o600),
    };
    replace.write(dir, path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let c = Credentials::password("u", Secret::new("hunter2"));
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.basic().as_deref(), Some("Basic dTpodW50ZXIy"));
        // An identity token is never Basic authentication.
        let t = Credentials::identity_token("u", Secret::new("refresh-xyz"));
        assert_eq!(t.basic(), None);
        assert!(!format!("{t:?}").contains("refresh-xyz"));
        assert_eq!(t.describe(), "the identity token of user u");
    }

    #[test]
    fn keys_match_registries() {
        assert!(same_registry("https://index.docker.io/v1/", "docker.io"));
        assert!(same_registry("localhost:5000", "localhost:5000"));
        assert!(same_registry("https://localhost:5000", "localhost:5000"));
        assert!(!same_registry("localhost:5001", "localhost:5000"));
        assert_eq!(server_key("docker.io"), "https://index.docker.io/v1/");
    }

    #[test]
    fn reads_auths_entries() {
        let config = json!({"auths": {"r.example:5000": {"auth": "dXNlcjpwOmFzcw=="}}});
        let c = from_auths(&config, "r.example:5000", Path::new("x"))
            .unwrap()
            .unwrap();
        assert_eq!(c.username, "user");
        assert_eq!(c.password.expose(), "p:ass");
        assert!(from_auths(&config, "other", Path::new("x"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn reads_identity_tokens() {
        let read = |entry: Value| from_auths(&json!({"auths": {"r": entry}}), "r", Path::new("x"));
        // Only the token: no user name known.
        let c = read(json!({"identitytoken": "rt"})).unwrap().unwrap();
        assert!(c.is_identity_token());
        assert_eq!((c.username.as_str(), c.password.expose()), ("", "rt"));
        // As docker login writes it: `auth` holds `USER:`.
        let c = read(json!({"auth": "dXNlcjo=", "identitytoken": "rt"}))
            .unwrap()
            .unwrap();
        assert!(c.is_identity_token());
        assert_eq!((c.username.as_str(), c.password.expose()), ("user", "rt"));
        // The token wins over a password beside it.
        let c = read(json!({"auth": "dXNlcjpwdw==", "identitytoken": "rt"}))
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.kind, c.password.expose()),
            (SecretKind::IdentityToken, "rt")
        );
        // `USER:` alone is no credentials; plain fields are read too.
        assert!(read(json!({"auth": "dXNlcjo="})).unwrap().is_none());
        let c = read(json!({"username": "u", "password": "p"}))
            .unwrap()
            .unwrap();
        assert_eq!((c.username.as_str(), c.password.expose()), ("u", "p"));
        assert!(!c.is_identity_token());
    }

    #[test]
    fn writes_entries_as_docker_does() {
        let token = Credentials::identity_token("user", Secret::new("rt"));
        let entry = auths_entry(&token);
        assert_eq!(entry, json!({"auth": "dXNlcjo=", "identitytoken": "rt"}));
        let back = from_auths(&json!({"auths": {"r": entry}}), "r", Path::new("x"))
            .unwrap()
            .unwrap();
        assert_eq!(back, token);
        let password = Credentials::password("user", Secret::new("pw"));
        assert_eq!(auths_entry(&password), json!({"auth": "dXNlcjpwdw=="}));
    }
}
