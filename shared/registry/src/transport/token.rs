//! The conversation with a registry's token service (the realm of a
//! `Bearer` challenge), in the two forms docker's client speaks:
//!
//! * with a password, or anonymously — distribution's token spec: `GET
//!   realm?service=…&scope=…&account=USER` with Basic authentication. At
//!   login, `offline_token=true&client_id=img` asks the service for a
//!   refresh token as well (docker login does the same with its own client
//!   ID);
//! * with an identity token (an OAuth2 refresh token, from `docker login`,
//!   `img-login` or a credential helper) — distribution's OAuth2 spec: `POST
//!   realm` with the form `grant_type=refresh_token`, `refresh_token`,
//!   `service`, `scope` (the scopes space-separated in one field) and
//!   `client_id=img`.
//!
//! Invariants: a refresh token travels only in the body of that POST — never
//! as Basic authentication, never in a URL — so a service that refuses the
//! POST (404: it does not speak OAuth2) is an error, not a fallback to GET.
//! That is docker's rule too: its client sends an identity token by POST
//! only, and password credentials by GET only. No secret appears in an
//! error: what a service says about a refusal is reduced to its OAuth2 error
//! code (`invalid_grant`).

use std::time::Duration;

use serde::Deserialize;

use crate::credentials::{Credentials, Secret};
use img_core::error::{Error, Kind, Result};

/// The `client_id` img names itself with to token services.
pub const CLIENT_ID: &str = "img";

/// Token lifetime when the service does not say (the spec's default).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;

/// The most bytes of a token service's answer that are read.
const MAX_ANSWER: u64 = 1 << 20;

/// Where to ask: a `Bearer` challenge's `realm` and `service`.
#[derive(Debug, Clone, Copy)]
pub struct Service<'a> {
    /// The token service's URL.
    pub realm: &'a str,
    /// The `service` parameter, when the challenge named one.
    pub service: Option<&'a str>,
}

/// What proves who is asking.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    /// Nobody: an anonymous token (public repositories).
    Anonymous,
    /// A user name and password, sent as Basic authentication on a GET.
    Password(&'a Credentials),
    /// An OAuth2 refresh token, sent in the body of a POST.
    RefreshToken(&'a Secret),
}

/// What a token service issued.
pub struct Issued {
    /// The access token for the registry (`Authorization: Bearer …`).
    pub token: Secret,
    /// Its lifetime, counted from the moment the request was sent.
    pub lifetime: Duration,
    /// A refresh token, when the service handed one out (asked for with
    /// `offline_token=true`, or a new one replacing the one used).
    pub refresh_token: Option<Secret>,
}

#[derive(Deserialize)]
struct Answer {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
}

#[derive(Deserialize)]
struct Refusal {
    error: Option<String>,
}

/// Ask `service` for a token with `scopes` (`repository:NAME:pull`…),
/// proving who asks with `grant`. `offline` asks for a refresh token too
/// (login); it only applies to password grants, as a refresh grant already
/// holds one.
pub fn fetch(
    agent: &ureq::Agent,
    service: Service<'_>,
    scopes: &[String],
    grant: Grant<'_>,
    offline: bool,
) -> Result<Issued> {
    let realm = service.realm;
    let response = match grant {
        Grant::RefreshToken(refresh) => {
            let scope = scopes.join(" ");
            let form = [
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.expose()),
                ("service", service.service.unwrap_or("")),
                ("scope", scope.as_str()),
                ("client_id", CLIENT_ID),
            ];
            agent.post(realm).send_form(form)
        }
        Grant::Anonymous | Grant::Password(_) => {
            let credentials = match grant {
                Grant::Password(c) => Some(c),
                _ => None,
            };
            let url = get_url(service, scopes, credentials, offline);
            let mut request = agent.get(&url);
            if let Some(basic) = credentials.and_then(Credentials::basic) {
                request = request.header("Authorization", basic);
            }
            request.call()
        }
    };
    let mut response = response.map_err(|e| {
        super::errors::transport_error(e).context(format!("getting a token from {realm}"))
    })?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_vec()
        .map_err(|e| {
            super::errors::transport_error(e).context(format!("reading a token from {realm}"))
        })?;
    if !(200..300).contains(&status) {
        return Err(refused(realm, &grant, status, &body));
    }
    let answer: Answer = serde_json::from_slice(&body).map_err(|e| {
        Error::new(
            Kind::Remote,
            format!("the token service {realm} sent something that is not a token: {e}"),
        )
    })?;
    // `access_token` and `token` mean the same (the spec allows either).
    let token = answer
        .access_token
        .filter(|t| !t.is_empty())
        .or(answer.token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::new(
                Kind::Remote,
                format!("the token service {realm} sent no token"),
            )
        })?;
    Ok(Issued {
        token: Secret::new(token),
        lifetime: Duration::from_secs(answer.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME).max(1)),
        refresh_token: answer
            .refresh_token
            .filter(|t| !t.is_empty())
            .map(Secret::new),
    })
}

/// The GET form's URL: `realm?service=…&scope=…[&offline_token=true&client_id=img][&account=USER]`.
fn get_url(
    service: Service<'_>,
    scopes: &[String],
    credentials: Option<&Credentials>,
    offline: bool,
) -> String {
    let encode = super::url::encode;
    let mut query = Vec::new();
    if let Some(s) = service.service {
        query.push(format!("service={}", encode(s)));
    }
    for s in scopes {
        query.push(format!("scope={}", encode(s)));
    }
    if offline {
        query.push("offline_token=true".to_string());
        query.push(format!("client_id={CLIENT_ID}"));
    }
    if let Some(c) = credentials {
        query.push(format!("account={}", encode(&c.username)));
    }
    let realm = service.realm;
    if query.is_empty() {
        realm.to_string()
    } else {
        let sep = if realm.contains('?') { '&' } else { '?' };
        format!("{realm}{sep}{}", query.join("&"))
    }
}

/// The error for a service's refusal (any answer but 2xx).
fn refused(realm: &str, grant: &Grant<'_>, status: u16, body: &[u8]) -> Error {
    match grant {
        Grant::RefreshToken(_) => {
            let text = match status {
                // Not an OAuth2 service: docker fails here too, as the
                // refresh token must not go out by GET.
                404 | 405 => format!(
                    "the token service {realm} does not take identity tokens (its OAuth2 POST answered HTTP {status}): log in again with img-login and a password, or give --creds USER:PASSWORD"
                ),
                _ => format!(
                    "the token service {realm} refused the identity token{} (HTTP {status}): it is unknown to the service, expired or revoked: log in again with img-login",
                    oauth_error(body).map_or(String::new(), |code| format!(": {code}"))
                ),
            };
            Error::new(Kind::Remote, text)
        }
        Grant::Password(c) if status == 401 || status == 403 => Error::new(
            Kind::Remote,
            format!(
                "the token service {realm} refused user {}: unauthorized: incorrect username or password",
                c.username
            ),
        ),
        Grant::Anonymous if status == 401 || status == 403 => Error::new(
            Kind::Remote,
            format!(
                "the token service {realm} refused anonymous access: unauthorized: incorrect username or password"
            ),
        ),
        _ => Error::new(
            Kind::Remote,
            format!("the token service {realm} answered HTTP {status}"),
        ),
    }
}

/// The OAuth2 error code of a refusal (`{"error":"invalid_grant"}`), when it
/// is one: a short word of `[a-z_]`, so that no text a service chose — which
/// might quote what it was sent — reaches a message.
fn oauth_error(body: &[u8]) -> Option<String> {
    let refusal: Refusal = serde_json::from_slice(body).ok()?;
    refusal.error.filter(|e| {
        !e.is_empty() && e.len() <= 40 && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Service<'static> {
        Service {
            realm: "https://auth.example/token",
            service: Some("registry.example"),
        }
    }

    #[test]
    fn get_urls_ask_for_offline_tokens_only_at_login() {
        let c = Credentials::password("u", Secret::new("pw"));
        let scopes = vec!["repository:a/b:pull,push".to_string()];
        assert_eq!(
            get_url(service(), &scopes, Some(&c), false),
            "https://auth.example/token?service=registry.example&scope=repository%3Aa%2Fb%3Apull%2Cpush&account=u"
        );
        assert_eq!(
            get_url(service(), &[], Some(&c), true),
            "https://auth.example/token?service=registry.example&offline_token=true&client_id=img&account=u"
        );
        let bare = Service {
            realm: "https://auth.example/token?x=1",
            service: None,
        };
        assert_eq!(
            get_url(bare, &[], None, false),
            "https://auth.example/token?x=1"
        );
        assert!(!get_url(service(), &[], Some(&c), true).contains("pw"));
    }

    #[test]
    fn refusals_of_refresh_tokens_show_no_secret() {
        let refresh = Secret::new("rt-0123456789");
        let grant = Grant::RefreshToken(&refresh);
        let body = br#"{"error":"invalid_grant","error_description":"rt-0123456789 is revoked"}"#;
        let e = refused("http://t/token", &grant, 401, body).to_string();
        assert!(
            e.contains("invalid_grant") && e.contains("img-login"),
            "{e}"
        );
        assert!(!e.contains("rt-0123456789"), "{e}");
        let e = refused("http://t/token", &grant, 404, b"").to_string();
        assert!(
            e.contains("does not take identity tokens") && e.contains("HTTP 404"),
            "{e}"
        );
        // A service's own words are not repeated, only an OAuth2 code.
        assert_eq!(oauth_error(br#"{"error":"rt-0123456789"}"#), None);
        assert_eq!(oauth_error(b"<html>"), None);
        assert_eq!(
            oauth_error(br#"{"error":"unauthorized_client"}"#).as_deref(),
            Some("unauthorized_client")
        );
    }
}
