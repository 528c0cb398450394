//! Authentication to a registry, driven by its `WWW-Authenticate` challenge
//! (the distribution spec's token flow):
//!
//! * no challenge: anonymous;
//! * `Basic realm=…`: every request carries the user's credentials;
//! * `Bearer realm=…,service=…[,scope=…]`: a token is fetched from the realm
//!   for the scopes a request needs (`repository:NAME:pull,push`), with the
//!   credentials when there are any (anonymous tokens otherwise), and reused
//!   for its lifetime (`expires_in`, 60 s when not given). A 401 on a request
//!   drops the token and fetches a new one, once.
//!
//! Tokens and passwords never appear in messages.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::credentials::Credentials;
use crate::error::{Error, Kind, Result};

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
    value: String,
    good_until: Instant,
}

/// A registry's authentication state: its challenge, the credentials, and
/// the tokens fetched so far (by scope).
pub struct Auth {
    credentials: Option<Credentials>,
    challenge: Mutex<Challenge>,
    tokens: Mutex<HashMap<String, Token>>,
    fetched: Mutex<u64>,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: Option<String>,
    access_token: Option<String>,
    expires_in: Option<u64>,
}

/// Token lifetime when the service does not say (the spec's default).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;

impl Auth {
    /// Authentication with `credentials` (or anonymous), before any challenge.
    pub fn new(credentials: Option<Credentials>) -> Auth {
        Auth {
            credentials,
            challenge: Mutex::new(Challenge::None),
            tokens: Mutex::new(HashMap::new()),
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
            Challenge::Basic => Ok(self.credentials.as_ref().map(Credentials::basic)),
            Challenge::Bearer { realm, service, .. } => {
                let key = scope.key();
                if let Ok(tokens) = self.tokens.lock() {
                    if let Some(t) = tokens.get(&key) {
                        if Instant::now() < t.good_until {
                            return Ok(Some(format!("Bearer {}", t.value)));
                        }
                    }
                }
                let token = self.fetch_token(agent, &realm, service.as_deref(), scope)?;
                let header = format!("Bearer {}", token.value);
                if let Ok(mut tokens) = self.tokens.lock() {
                    tokens.insert(key, token);
                }
                Ok(Some(header))
            }
        }
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
            if tokens.get(&scope.key()).is_some_and(|t| t.value == token) {
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
        if let Challenge::Bearer { realm, service, .. } = self.challenge() {
            self.fetch_token(agent, &realm, service.as_deref(), &Scope::none())?;
        }
        Ok(())
    }

    fn fetch_token(
        &self,
        agent: &ureq::Agent,
        realm: &str,
        service: Option<&str>,
        scope: &Scope,
    ) -> Result<Token> {
        let mut query = Vec::new();
        if let Some(s) = service {
            query.push(format!("service={}", super::url::encode(s)));
        }
        for s in &scope.0 {
            query.push(format!("scope={}", super::url::encode(s)));
        }
        if let Some(c) = &self.credentials {
            query.push(format!("account={}", super::url::encode(&c.username)));
        }
        let sep = if realm.contains('?') { '&' } else { '?' };
        let url = if query.is_empty() {
            realm.to_string()
        } else {
            format!("{realm}{sep}{}", query.join("&"))
        };
        let mut request = agent.get(&url);
        if let Some(c) = &self.credentials {
            request = request.header("Authorization", c.basic());
        }
        let started = Instant::now();
        let mut response = request.call().map_err(|e| {
            super::client::transport_error(e).context(format!("getting a token from {realm}"))
        })?;
        if let Ok(mut n) = self.fetched.lock() {
            *n += 1;
        }
        let status = response.status().as_u16();
        if status == 401 || status == 403 {
            return Err(Error::new(
                Kind::Remote,
                format!(
                    "the token service {realm} refused {}: unauthorized: incorrect username or password",
                    self.credentials
                        .as_ref()
                        .map_or("anonymous access".to_string(), |c| format!("user {}", c.username))
                ),
            ));
        }
        if !(200..300).contains(&status) {
            return Err(Error::new(
                Kind::Remote,
                format!("the token service {realm} answered HTTP {status}"),
            ));
        }
        let body = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| {
                super::client::transport_error(e).context(format!("reading a token from {realm}"))
            })?;
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            Error::new(
                Kind::Remote,
                format!("the token service {realm} sent something that is not a token: {e}"),
            )
        })?;
        let value = parsed
            .token
            .filter(|t| !t.is_empty())
            .or(parsed.access_token)
            .ok_or_else(|| {
                Error::new(
                    Kind::Remote,
                    format!("the token service {realm} sent no token"),
                )
            })?;
        let lifetime = parsed.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME).max(1);
        // Renew a little early: a request must not start with a token that
        // expires on the way.
        let margin = (lifetime / 10).min(10);
        Ok(Token {
            value,
            good_until: started + Duration::from_secs(lifetime - margin),
        })
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
