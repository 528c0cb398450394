//! Docker's credential helper protocol: a `docker-credential-NAME` program
//! on the PATH, run with one action and spoken to over stdin/stdout — `get`
//! (the server URL in; `{"Username":…,"Secret":…}` out, or "credentials not
//! found"), `store` (`{"ServerURL":…,"Username":…,"Secret":…}` in), `erase`
//! (the server URL in).
//!
//! An identity token travels as the user `<token>` with the token as its
//! secret, both ways, as Docker's own helpers keep it. A helper's secret is
//! never put in a message.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::{Credentials, Secret};
use img_core::error::{Error, IoContext, Kind, Result};

/// The user name helpers hold for an identity token (Docker's convention:
/// the secret is then the token).
pub const TOKEN_USERNAME: &str = "<token>";

/// The program a helper name stands for: `docker-credential-NAME`.
pub fn program(helper: &str) -> String {
    format!("docker-credential-{helper}")
}

/// Run `helper` with `action`, `input` on its stdin: whether it succeeded,
/// and its stdout (its stderr when it failed and printed nothing else).
fn run(helper: &str, action: &str, input: &[u8]) -> Result<(bool, Vec<u8>)> {
    let program = program(helper);
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::io(
                format!("running credential helper {program} (is it installed and on PATH?)"),
                e,
            )
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input)
            .io_context(|| format!("talking to credential helper {program}"))?;
    }
    let out = child
        .wait_with_output()
        .io_context(|| format!("running credential helper {program}"))?;
    let mut text = out.stdout;
    if !out.status.success() && text.is_empty() {
        text = out.stderr;
    }
    Ok((out.status.success(), text))
}

/// The credentials `helper` holds for `server_url`, if any.
pub fn get(helper: &str, server_url: &str) -> Result<Option<Credentials>> {
    let (ok, out) = run(helper, "get", server_url.as_bytes())?;
    if !ok {
        let text = String::from_utf8_lossy(&out);
        if text.contains("credentials not found") {
            return Ok(None);
        }
        return Err(Error::new(
            Kind::Remote,
            format!(
                "credential helper {} failed for {server_url}: {}",
                program(helper),
                text.trim()
            ),
        ));
    }
    let value: Value = serde_json::from_slice(&out).map_err(|e| {
        Error::invalid(format!(
            "credential helper {} answered with something that is not JSON: {e}",
            program(helper)
        ))
    })?;
    Ok(from_answer(&value))
}

/// Credentials from a `get` answer: `<token>` marks an identity token.
fn from_answer(value: &Value) -> Option<Credentials> {
    let user = value.get("Username").and_then(Value::as_str).unwrap_or("");
    let secret = value.get("Secret").and_then(Value::as_str).unwrap_or("");
    if secret.is_empty() {
        return None;
    }
    if user == TOKEN_USERNAME {
        return Some(Credentials::identity_token("", Secret::new(secret)));
    }
    Some(Credentials::password(user, Secret::new(secret)))
}

/// The `store` request for `credentials`.
fn store_request(server_url: &str, credentials: &Credentials) -> Value {
    let username = if credentials.is_identity_token() {
        TOKEN_USERNAME
    } else {
        credentials.username.as_str()
    };
    json!({
        "ServerURL": server_url,
        "Username": username,
        "Secret": credentials.password.expose(),
    })
}

/// Have `helper` keep `credentials` for `server_url`.
pub fn store(helper: &str, server_url: &str, credentials: &Credentials) -> Result<()> {
    let input = store_request(server_url, credentials);
    let (ok, out) = run(helper, "store", input.to_string().as_bytes())?;
    if !ok {
        return Err(Error::new(
            Kind::Remote,
            format!(
                "credential helper {} could not store the credentials: {}",
                program(helper),
                String::from_utf8_lossy(&out).trim()
            ),
        ));
    }
    Ok(())
}

/// Have `helper` forget `server_url`; whether it said it did.
pub fn erase(helper: &str, server_url: &str) -> Result<bool> {
    Ok(run(helper, "erase", server_url.as_bytes())?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_users_are_identity_tokens_both_ways() {
        let c = from_answer(&json!({"Username": "<token>", "Secret": "rt"})).unwrap();
        assert!(c.is_identity_token());
        assert_eq!((c.username.as_str(), c.password.expose()), ("", "rt"));
        assert_eq!(
            store_request("r", &c),
            json!({"ServerURL": "r", "Username": "<token>", "Secret": "rt"})
        );
        let c = from_answer(&json!({"Username": "u", "Secret": "pw"})).unwrap();
        assert!(!c.is_identity_token());
        assert_eq!(
            store_request("r", &c),
            json!({"ServerURL": "r", "Username": "u", "Secret": "pw"})
        );
        assert!(from_answer(&json!({"Username": "u", "Secret": ""})).is_none());
    }
}
