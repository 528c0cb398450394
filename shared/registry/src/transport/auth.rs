//! Authentication to a registry, driven by its `WWW-Authenticate` challenge
//! (the distribution spec's token flow):
//!
//! * no challenge: anonymous;
//! * `Basic realm=…`: every request carries the user's credentials;
//! * `Bearer realm=…,service=…[,scope=…]`: a token is fetched from the realm
//!   for the scopes a request needs (`repository:NAME:pull,push`), with the
//!   credentials when there are any (anonymous tokens otherwise), and reused
//!   for its lifetime (`expires_in`, 60 s when not given). A 401 on a request
//!   drops the token and fetches a new one, once. How the token service is
//!   asked — GET with a password, POST with an identity token — is
//!   `token.rs`'s job.
//!
//! An identity token (an OAuth2 refresh token) goes only to the token
//! service: a registry that wants Basic authentication gets an error, not
//! the token. When a token service hands back a new refresh token, it
//! replaces the old one for this `Auth`'s later requests (services may
//! rotate them); the stored one is left as it is, as docker does. Token
//! fetches are one at a time, so threads that miss the cache together share
//! one token, and a rotated refresh token is never sent twice.
//!
//! Tokens and passwords never appear in messages.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::token::{self, Grant, Service};
use crate::credentials::{Credentials, Secret};
use img_core::error::{Error, Kind, Result};

/// The access a request needs: distribution scopes such as
/// `repository:library/busybox:pull`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Scope(Vec<String>);

impl Scope {
    /// Pull access to `repository`.
    pub fn pull(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull")])
    }
    /// Pull and push access to `repository`.
    pub fn push(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull,push")])
    }
    /// Access to the registry's catalog.
    pub fn catalog() -> Scope {
        Scope(vec!["registry:catalog:*".to_string()])
    }
    /// No particular access (the `/v2/` ping, login).
    pub fn none() -> Scope {
        Scope(Vec::new())
    }
    /// This scope plus pull access to `repository` (for cross-repository mounts).
    pub fn and_pull(mut self, repository: &str) -> Scope {
        let extra = format!("repository:{repository}:pull");
        if !self.0.contains(&extra) {
            self.0.push(extra);
        }
        self
    }
    fn key(&self) -> String {
        self.0.join(" ")
    }
}

/// What the registry asked for in its `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Nothing: the registry is open.
    None,
    /// HTTP Basic authentication.
    Basic,
    /// The token flow.
    Bearer {
        /// The token service's URL.
        realm: String,
        /// The `service` parameter to send.
        service: Option<String>,
        /// The scope the registry said it needs, when it said.
        scope: Option<String>,
    },
}

/// Parse a `WWW-Authenticate` header value.
pub fn parse_challenge(header: &str) -> Challenge {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Challenge::Basic
    } else if scheme.eq_ignore_ascii_case("bearer") {
        match get("realm") {
            Some(realm) => Challenge::Bearer {
                realm,
                service: get("service"),
                scope: get("scope"),
            },
            None => Challenge::Basic,
        }
    } else {
        Challenge::None
    }
}

/// `key="value", key2=value2` pairs; commas inside quotes belong to values.
fn parse_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek().copied() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.push((key.trim().to_string(), value.trim().to_string()));
    }
    params
}

struct Token {
    value: Secret,
    good_until: Instant,
}

/// A registry's authentication state: its challenge, the credentials, and
/// the tokens fetched so far (by scope).
pub struct Auth {
    credentials: Option<Credentials>,
    /// The refresh token in use, for identity-token credentials.
    refresh: Mutex<Option<Secret>>,
    challenge: Mutex<Challenge>,
    tokens: Mutex<HashMap<String, Token>>,
    /// Held while a token is fetched.
    fetching: Mutex<()>,
    fetched: Mutex<u64>,
}

impl Auth {
    /// Authentication with `credentials` (or anonymous), before any challenge.
    pub fn new(credentials: Option<Credentials>) -> Auth {
        let refresh = credentials
            .as_ref()
            .filter(|c| c.is_identity_token())
            .map(|c| c.password.clone());
        Auth {
            credentials,
            refresh: Mutex::new(refresh),
            challenge: Mutex::new(Challenge::None),
            tokens: Mutex::new(HashMap::new()),
            fetching: Mutex::new(()),
            fetched: Mutex::new(0),
        }
    }

    /// The credentials in use, if any.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Record the registry's challenge (from the `/v2/` ping or a 401).
    pub fn set_challenge(&self, challenge: Challenge) {
        if let Ok(mut c) = self.challenge.lock() {
            *c = challenge;
        }
    }

    /// The challenge last seen.
    pub fn challenge(&self) -> Challenge {
        self.challenge
            .lock()
            .map(|c| c.clone())
            .unwrap_or(Challenge::None)
    }

    /// How many tokens were fetched (for tests of token reuse).
    pub fn tokens_fetched(&self) -> u64 {
        self.fetched.lock().map(|n| *n).unwrap_or(0)
    }

    /// The `Authorization` value for a request needing `scope`, fetching a
    /// token when the registry uses tokens and none is cached.
    pub fn header(&self, agent: &ureq::Agent, scope: &Scope) -> Result<Option<String>> {
        match self.challenge() {
            Challenge::None => Ok(None),
            Challenge::Basic => match &self.credentials {
                None => Ok(None),
                Some(c) => match c.basic() {
                    Some(basic) => Ok(Some(basic)),
                    None => Err(Error::new(
                        Kind::Remote,
                        format!(
                            "the registry asks for a user name and password (Basic authentication), and the credentials found are {}, which only a token service takes: log in again with img-login, or give --creds USER:PASSWORD",
                            c.describe()
                        ),
                    )),
                },
            },
            Challenge::Bearer { realm, service, .. } => {
                let key = scope.key();
                if let Some(header) = self.cached(&key) {
                    return Ok(Some(header));
                }
                // One fetch at a time: threads that missed together take the
                // token the first one fetched (and a refresh token a service
                // rotates is never sent twice).
                let _fetching = self.fetching.lock();
                if let Some(header) = self.cached(&key) {
                    return Ok(Some(header));
                }
                let service = Service {
                    realm: &realm,
                    service: service.as_deref(),
                };
                let token = self.fetch_token(agent, service, scope, false)?.0;
                let header = format!("Bearer {}", token.value.expose());
                if let Ok(mut tokens) = self.tokens.lock() {
                    tokens.insert(key, token);
                }
                Ok(Some(header))
            }
        }
    }

    /// The `Authorization` value of the live token cached under `key`.
    fn cached(&self, key: &str) -> Option<String> {
        let tokens = self.tokens.lock().ok()?;
        let t = tokens.get(key)?;
        (Instant::now() < t.good_until).then(|| format!("Bearer {}", t.value.expose()))
    }

    /// A request needing `scope`, sent with the `Authorization` value
    /// `sent`, was refused with 401 and `challenge`: forget that token (not
    /// a newer one another thread fetched meanwhile) and take the new
    /// challenge. Returns whether a retry can succeed (false when the
    /// credentials themselves were refused); callers retry once.
    pub fn refused(&self, scope: &Scope, challenge: Option<&str>, sent: Option<&str>) -> bool {
        let before = self.challenge();
        if let Some(c) = challenge {
            let parsed = parse_challenge(c);
            // A scope in the challenge is what the registry needs; the realm
            // and service stay the registry's.
            if parsed != Challenge::None {
                self.set_challenge(parsed);
            }
        }
        let sent_token = sent.and_then(|s| s.strip_prefix("Bearer "));
        if let (Some(token), Ok(mut tokens)) = (sent_token, self.tokens.lock()) {
            if tokens
                .get(&scope.key())
                .is_some_and(|t| t.value.expose() == token)
            {
                tokens.remove(&scope.key());
            }
        }
        match self.challenge() {
            // An expired or revoked token: a fresh one may do.
            Challenge::Bearer { .. } => {
                sent_token.is_some() || !matches!(before, Challenge::Bearer { .. })
            }
            Challenge::Basic => !matches!(before, Challenge::Basic) && self.credentials.is_some(),
            Challenge::None => false,
        }
    }

    /// Check the credentials against a Bearer token service (for login).
    pub fn verify_with_token_service(&self, agent: &ureq::Agent) -> Result<()> {
        self.login_token(agent).map(|_| ())
    }

    /// Log in to a Bearer token service as `docker login` does: ask for a
    /// token with `offline_token=true`, and return the refresh token the
    /// service handed out with it, if any (to be stored instead of the
    /// password). Nothing to do for other challenges.
    pub fn login_token(&self, agent: &ureq::Agent) -> Result<Option<Secret>> {
        match self.challenge() {
            Challenge::Bearer { realm, service, .. } => {
                let service = Service {
                    realm: &realm,
                    service: service.as_deref(),
                };
                Ok(self.fetch_token(agent, service, &Scope::none(), true)?.1)
            }
            _ => Ok(None),
        }
    }

    /// A token for `scope`, and the refresh token that came with it.
    fn fetch_token(
        &self,
        agent: &ureq::Agent,
        service: Service<'_>,
        scope: &Scope,
        offline: bool,
    ) -> Result<(Token, Option<Secret>)> {
        let refresh = self.refresh.lock().ok().and_then(|r| r.clone());
        let grant = match (&refresh, &self.credentials) {
            (Some(r), _) => Grant::RefreshToken(r),
            (None, Some(c)) => Grant::Password(c),
            (None, None) => Grant::Anonymous,
        };
        let started = Instant::now();
        let issued = token::fetch(agent, service, &scope.0, grant, offline)?;
        if let Ok(mut n) = self.fetched.lock() {
            *n += 1;
        }
        if refresh.is_some() {
            if let (Some(newer), Ok(mut r)) = (&issued.refresh_token, self.refresh.lock()) {
                *r = Some(newer.clone());
            }
        }
        // Renew a little early: a request must not start with a token that
        // expires on the way.
        let lifetime = issued.lifetime.as_secs().max(1);
        let margin = (lifetime / 10).min(10);
        let token = Token {
            value: issued.token,
            good_until: started + Duration::from_secs(lifetime - margin),
        };
        Ok((token, issued.refresh_token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#
            ),
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:samalba/my-app:pull,push".into()),
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Challenge::Basic
        );
        assert_eq!(parse_challenge(""), Challenge::None);
        assert_eq!(
            parse_challenge("bearer realm=http://x/token"),
            Challenge::Bearer {
                realm: "http://x/token".into(),
                service: None,
                scope: None
            }
        );
    }

    #[test]
    fn scopes() {
        let s = Scope::push("a/b").and_pull("c").and_pull("c");
        assert_eq!(s.key(), "repository:a/b:pull,push repository:c:pull");
    }
}
