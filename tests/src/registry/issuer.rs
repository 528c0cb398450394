//! The token issuer of [`Auth::Token`](super::Auth::Token) registries: a
//! small HTTP server on 127.0.0.1 that signs the JWTs the registry trusts,
//! for the password (GET) and for refresh tokens (OAuth2 POST), and keeps a
//! log of what it was asked.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use super::{sh, PASSWORD, USER};

/// A Bearer token service for [`Auth::Token`](super::Auth::Token) registries, speaking both
/// forms docker's client uses:
///
/// * `GET ?service=…&scope=…` with Basic authentication: tokens for
///   [`USER`]/[`PASSWORD`] grant what they ask; anonymous or wrong
///   credentials get 401. With `offline_token=true` the answer also holds a
///   `refresh_token` (as docker login asks for one);
/// * `POST` of the OAuth2 form `grant_type=refresh_token&refresh_token=…`
///   with a refresh token it issued (and did not revoke): a token for the
///   form's `scope`; any other gets 401 `{"error":"invalid_grant"}`. With
///   [`TokenIssuer::set_oauth`] off, POST answers 404, as token services
///   without OAuth2 do; with [`TokenIssuer::set_rotate`] on, each refresh
///   token works once and the answer holds the next.
///
/// Counts the tokens it issued and keeps a log of the requests it answered.
pub struct TokenIssuer {
    /// `127.0.0.1:PORT`.
    pub host: String,
    /// Tokens issued so far.
    pub issued: Arc<AtomicUsize>,
    /// Seconds from now to a token's `exp` (the registry allows 60 s more).
    pub valid_for: Arc<AtomicI64>,
    /// The latest `exp` (Unix seconds) of the tokens issued so far.
    pub latest_exp: Arc<AtomicI64>,
    state: Arc<IssuerState>,
    stop: Arc<AtomicBool>,
}

/// One request the token issuer answered.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The query parameters (GET) or form fields (POST), decoded, in order.
    pub params: Vec<(String, String)>,
    /// A POST's URL query parameters (clients send none: the refresh token
    /// belongs in the form, never in a URL).
    pub query: Vec<(String, String)>,
    /// Whether it carried an `Authorization: Basic` header.
    pub basic: bool,
    /// The status answered.
    pub status: u16,
}

impl TokenRequest {
    /// The first value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct IssuerState {
    key: jsonwebtoken::EncodingKey,
    x5c: String,
    issued: Arc<AtomicUsize>,
    valid_for: Arc<AtomicI64>,
    latest_exp: Arc<AtomicI64>,
    refresh_tokens: Mutex<HashSet<String>>,
    oauth: AtomicBool,
    rotate: AtomicBool,
    log: Mutex<Vec<TokenRequest>>,
}

impl IssuerState {
    fn mint_refresh_token(&self) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let mut tokens = self.refresh_tokens.lock().unwrap();
        let token = format!("img-test-refresh-{}-{nanos:09}", tokens.len());
        tokens.insert(token.clone());
        token
    }
}

impl TokenIssuer {
    pub(super) fn start(dir: &Path) -> TokenIssuer {
        sh(
            dir,
            "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out token.key 2>/dev/null
             openssl req -x509 -key token.key -out token.crt -days 2 -subj /CN=img-test-issuer 2>/dev/null
             openssl x509 -in token.crt -outform der -out token.der",
        );
        let key =
            jsonwebtoken::EncodingKey::from_ec_pem(&std::fs::read(dir.join("token.key")).unwrap())
                .unwrap();
        let x5c = base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(dir.join("token.der")).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let issued = Arc::new(AtomicUsize::new(0));
        let valid_for = Arc::new(AtomicI64::new(300));
        let latest_exp = Arc::new(AtomicI64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(IssuerState {
            key,
            x5c,
            issued: issued.clone(),
            valid_for: valid_for.clone(),
            latest_exp: latest_exp.clone(),
            refresh_tokens: Mutex::new(HashSet::new()),
            oauth: AtomicBool::new(true),
            rotate: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
        });
        let (state2, stop2) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        let _ = serve_token(stream, &state2);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        TokenIssuer {
            host,
            issued,
            valid_for,
            latest_exp,
            state,
            stop,
        }
    }

    /// A new refresh token this issuer accepts (as one a login stored).
    pub fn mint_refresh_token(&self) -> String {
        self.state.mint_refresh_token()
    }

    /// Forget every refresh token issued so far: they are refused from now.
    pub fn revoke_refresh_tokens(&self) {
        self.state.refresh_tokens.lock().unwrap().clear();
    }

    /// Whether POST (OAuth2) is served; off, it answers 404.
    pub fn set_oauth(&self, on: bool) {
        self.state.oauth.store(on, Ordering::SeqCst);
    }

    /// Whether each refresh token works once: a POST's answer then holds a
    /// new one, and the one used is forgotten (as rotating services do).
    pub fn set_rotate(&self, on: bool) {
        self.state.rotate.store(on, Ordering::SeqCst);
    }

    /// The requests answered so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// How many POSTs were answered so far.
    pub fn posts(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count()
    }
}

impl Drop for TokenIssuer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn params(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn respond(out: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn serve_token(stream: TcpStream, state: &IssuerState) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case("authorization") {
                authorization = Some(v.trim().to_string());
            } else if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            } else if k.trim().eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.trim().eq_ignore_ascii_case("chunked");
            }
        }
    }
    let mut words = request_line.split(' ');
    let method = words.next().unwrap_or("").to_string();
    let target = words.next().unwrap_or("");
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let body = if chunked {
        read_chunked(&mut reader)?
    } else {
        let mut body = vec![0; length.min(1 << 20)];
        reader.read_exact(&mut body)?;
        body
    };
    let (params, query) = if method == "POST" {
        (params(&String::from_utf8_lossy(&body)), params(query))
    } else {
        (params(query), Vec::new())
    };
    let mut request = TokenRequest {
        method: method.clone(),
        params,
        query,
        basic: authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Basic ")),
        status: 200,
    };
    let mut out = stream;
    let answer = answer(state, &request, authorization.as_deref());
    if let Err((status, _, _)) = answer {
        request.status = status;
    }
    state.log.lock().unwrap().push(request);
    match answer {
        Ok(body) => respond(&mut out, "200 OK", &body)?,
        Err((_, line, body)) => respond(&mut out, line, body)?,
    }
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    Ok(())
}

/// A `Transfer-Encoding: chunked` body (Go's client sends forms so).
fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
            .map_err(std::io::Error::other)?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        if size == 0 || body.len() > 1 << 20 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// A refusal: status, status line, body.
type Refusal = (u16, &'static str, &'static str);

/// The answer to `request`: a token's JSON, or a refusal.
fn answer(
    state: &IssuerState,
    request: &TokenRequest,
    authorization: Option<&str>,
) -> Result<String, Refusal> {
    let refuse = |status: u16, line, body| Err((status, line, body));
    let scopes: Vec<String> = if request.method == "POST" {
        if !state.oauth.load(Ordering::SeqCst) {
            return refuse(404, "404 Not Found", "404 page not found\n");
        }
        let known = request
            .param("refresh_token")
            .is_some_and(|t| state.refresh_tokens.lock().unwrap().contains(t));
        if request.param("grant_type") != Some("refresh_token")
            || request.param("client_id").is_none_or(str::is_empty)
            || !known
        {
            return refuse(401, "401 Unauthorized", r#"{"error":"invalid_grant"}"#);
        }
        request
            .param("scope")
            .unwrap_or("")
            .split(' ')
            .map(str::to_string)
            .collect()
    } else {
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
        );
        if authorization != Some(expected.as_str()) {
            return refuse(
                401,
                "401 Unauthorized",
                r#"{"details":"incorrect username or password"}"#,
            );
        }
        request
            .params
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
            .collect()
    };
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let parts: Vec<&str> = s.split(':').collect();
            (parts.len() == 3).then(|| {
                serde_json::json!({"type": parts[0], "name": parts[1], "actions": parts[2].split(',').collect::<Vec<_>>()})
            })
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let n = state.issued.fetch_add(1, Ordering::SeqCst);
    let exp = now + state.valid_for.load(Ordering::SeqCst);
    state.latest_exp.fetch_max(exp, Ordering::SeqCst);
    let claims = serde_json::json!({
        "iss": "img-test-issuer", "sub": USER, "aud": "img-test-registry",
        "exp": exp, "nbf": now - 120, "iat": now - 120,
        "jti": format!("t{n}"), "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.x5c = Some(vec![state.x5c.clone()]);
    let Ok(token) = jsonwebtoken::encode(&header, &claims, &state.key) else {
        return refuse(500, "500 Internal Server Error", "{}");
    };
    let body = if request.method == "POST" {
        let mut body = serde_json::json!({"access_token": token, "expires_in": 300, "scope": scopes.join(" ")});
        if state.rotate.load(Ordering::SeqCst) {
            if let Some(used) = request.param("refresh_token") {
                state.refresh_tokens.lock().unwrap().remove(used);
            }
            body["refresh_token"] = state.mint_refresh_token().into();
        }
        body
    } else if request.param("offline_token") == Some("true") {
        let refresh = state.mint_refresh_token();
        serde_json::json!({"token": token, "expires_in": 300, "refresh_token": refresh})
    } else {
        serde_json::json!({"token": token, "expires_in": 300})
    };
    Ok(body.to_string())
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
