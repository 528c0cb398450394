//! One registry, spoken to over the distribution API: the connection (HTTPS
//! verified by default; plain HTTP only where allowed), the `/v2/` ping that
//! learns how to authenticate, and [`Client::send`], through which every
//! request goes: it adds authentication, renews a refused token once,
//! follows redirects (never sending the `Authorization` header along: a
//! registry redirects blob downloads to storage on another host, which the
//! URL itself authorizes), and retries 429 and 5xx answers as `retry.rs`
//! says. Connection failures are retried for requests marked idempotent.
//! Connections that stall longer than the stall timeout fail, so that
//! callers can resume on a new one.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::time::Duration;

use ureq::config::RedirectAuthHeaders;
use ureq::http::{self, Response};
use ureq::tls::{ClientCert, RootCerts, TlsConfig};
use ureq::{Agent, Body, SendBody};

use super::auth::{parse_challenge, Auth, Challenge, Scope};
use super::errors::{answer_error, status_error, transport_error};
use super::options::ClientOptions;
use super::retry::{self, MAX_RETRIES};
use crate::credentials::{self, Credentials};
use img_core::error::{Error, Kind, Result};

/// A connected registry.
pub struct Client {
    registry: String,
    base: String,
    agent: Agent,
    auth: Auth,
}

/// A request's body.
pub enum Payload<'a> {
    /// No body.
    Empty,
    /// Bytes in memory (manifests).
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset` (blobs), re-read on a retry.
    File {
        /// The file.
        file: &'a File,
        /// Where the bytes start.
        offset: u64,
        /// How many.
        len: u64,
    },
}

/// One request to send through [`Client::send`].
pub struct Call<'a> {
    /// `GET`, `HEAD`, `PUT`, `POST`, `PATCH`, `DELETE`.
    pub method: &'static str,
    /// The absolute URL.
    pub url: String,
    /// The access the request needs.
    pub scope: &'a Scope,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub payload: Payload<'a>,
    /// Whether a lost connection may be retried (the request is idempotent).
    pub idempotent: bool,
}

impl<'a> Call<'a> {
    /// A GET (idempotent, no body).
    pub fn get(url: String, scope: &'a Scope) -> Call<'a> {
        Call {
            method: "GET",
            url,
            scope,
            headers: Vec::new(),
            payload: Payload::Empty,
            idempotent: true,
        }
    }

    /// Add a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Call<'a> {
        self.headers.push((name, value.into()));
        self
    }
}

/// The API host of a registry name: Docker Hub's is `registry-1.docker.io`.
fn api_host(registry: &str) -> &str {
    if credentials::is_docker_hub(registry) {
        "registry-1.docker.io"
    } else {
        registry
    }
}

impl Client {
    /// Connect to `registry` (host[:port] as references name it) and learn
    /// how it authenticates. Credentials come from `options`, else from the
    /// stored ones.
    pub fn connect(registry: &str, options: &ClientOptions) -> Result<Client> {
        let credentials = match &options.credentials {
            Some(c) => Some(c.clone()),
            None => credentials::lookup(registry)?,
        };
        Client::connect_with(registry, options, credentials)
    }

    /// Connect with exactly these credentials (none: anonymous).
    pub(crate) fn connect_with(
        registry: &str,
        options: &ClientOptions,
        credentials: Option<Credentials>,
    ) -> Result<Client> {
        let agent = make_agent(registry, options)?;
        let host = api_host(registry);
        let https = format!("https://{host}");
        let mut client = Client {
            registry: registry.to_string(),
            base: https,
            agent,
            auth: Auth::new(credentials),
        };
        match client.ping() {
            Ok(()) => Ok(client),
            Err(PingError::Tls(e)) | Err(PingError::Connect(e))
                if options.allows_http(registry) =>
            {
                client.base = format!("http://{host}");
                client.ping().map_err(|http_err| match http_err {
                    // Plain HTTP failing to connect, or answered by a TLS
                    // server (400), says nothing new: the HTTPS error stands.
                    PingError::Connect(_) | PingError::Tls(_) => e,
                    PingError::Other(h) if h.to_string().contains("HTTP 400") => e,
                    PingError::Other(h) => h,
                })?;
                Ok(client)
            }
            Err(PingError::Tls(e)) | Err(PingError::Connect(e)) | Err(PingError::Other(e)) => {
                Err(e)
            }
        }
    }

    fn ping(&self) -> std::result::Result<(), PingError> {
        let url = format!("{}/v2/", self.base);
        let mut attempt = 0;
        let response = loop {
            let response = self
                .agent
                .get(&url)
                .call()
                .map_err(|e| classify(e, &self.registry))?;
            let status = response.status().as_u16();
            if !retry::transient(status, true) || attempt == MAX_RETRIES {
                break response;
            }
            let after = header(&response, "retry-after");
            std::thread::sleep(retry::wait(after.as_deref(), attempt));
            attempt += 1;
        };
        match response.status().as_u16() {
            200..=299 => {
                self.auth.set_challenge(Challenge::None);
                Ok(())
            }
            401 => {
                let challenge = header(&response, "www-authenticate")
                    .map(|h| parse_challenge(&h))
                    .unwrap_or(Challenge::Basic);
                self.auth.set_challenge(challenge);
                Ok(())
            }
            status if retry::transient(status, true) => Err(PingError::Other(status_error(
                response,
                &format!("connecting to registry {}", self.registry),
            ))),
            status => Err(PingError::Other(Error::new(
                Kind::Remote,
                format!(
                    "{} does not speak the registry API: GET /v2/ answered HTTP {status}",
                    self.registry
                ),
            ))),
        }
    }

    /// The registry's name (host[:port]).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `scheme://host[:port]` the API is reached at.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URL of an API path (`/v2/…`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The authentication state.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The HTTP agent (shared connection pool).
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// Check that the credentials are accepted (img-login): a Basic registry
    /// must answer `/v2/` with them, a token service must issue a token.
    pub(crate) fn verify_login(&self) -> Result<()> {
        match self.auth.challenge() {
            Challenge::None => Ok(()),
            Challenge::Bearer { .. } => self.auth.verify_with_token_service(&self.agent),
            Challenge::Basic => {
                let scope = Scope::none();
                let response = self.send(Call::get(self.url("/v2/"), &scope))?;
                if response.status().is_success() {
                    Ok(())
                } else if response.status().as_u16() == 401 {
                    Err(Error::new(
                        Kind::Remote,
                        "unauthorized: incorrect username or password",
                    ))
                } else {
                    Err(status_error(
                        response,
                        &format!("logging in to {}", self.registry),
                    ))
                }
            }
        }
    }

    /// The error for an answer the caller did not expect, as
    /// [`status_error`]; a refusal says whose credentials were refused.
    pub(crate) fn error_for(&self, response: Response<Body>, doing: &str) -> Error {
        match self.auth.credentials() {
            Some(c) if c.is_identity_token() => answer_error(
                response,
                doing,
                &format!(
                    " ({} was refused or does not allow this: log in again with img-login, or give --creds USER:PASSWORD)",
                    c.describe()
                ),
            ),
            Some(c) => answer_error(
                response,
                doing,
                &format!(
                    " (the credentials of user {} were refused or do not allow this: log in again with img-login, or give --creds USER:PASSWORD)",
                    c.username
                ),
            ),
            None => status_error(response, doing),
        }
    }

    /// Send `call` with authentication, renewal and retries; any answer the
    /// retries did not resolve is returned for the caller to judge.
    pub fn send(&self, call: Call<'_>) -> Result<Response<Body>> {
        let mut attempt = 0;
        let mut renewed = false;
        loop {
            let authorization = self.auth.header(&self.agent, call.scope)?;
            let result = self.run(&call, authorization.clone());
            match result {
                Err(e) => {
                    if call.idempotent && attempt < MAX_RETRIES && retryable(&e) {
                        std::thread::sleep(retry::backoff(attempt));
                        attempt += 1;
                        continue;
                    }
                    return Err(transport_error(e).context(format!(
                        "{} {}",
                        call.method,
                        strip_query(&call.url)
                    )));
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    if status == 401 && !renewed {
                        renewed = true;
                        let challenge = header(&response, "www-authenticate");
                        let sent = authorization.as_deref();
                        if self.auth.refused(call.scope, challenge.as_deref(), sent) {
                            continue;
                        }
                    }
                    if retry::transient(status, call.idempotent) && attempt < MAX_RETRIES {
                        let after = header(&response, "retry-after");
                        std::thread::sleep(retry::wait(after.as_deref(), attempt));
                        attempt += 1;
                        continue;
                    }
                    return Ok(response);
                }
            }
        }
    }

    fn run(
        &self,
        call: &Call<'_>,
        authorization: Option<String>,
    ) -> std::result::Result<Response<Body>, ureq::Error> {
        let mut builder = http::Request::builder().method(call.method).uri(&call.url);
        for (name, value) in &call.headers {
            builder = builder.header(*name, value);
        }
        if let Some(a) = authorization {
            builder = builder.header("Authorization", a);
        }
        match &call.payload {
            Payload::Empty => {
                if matches!(call.method, "PUT" | "POST" | "PATCH") {
                    builder = builder.header("Content-Length", "0");
                }
                self.agent.run(builder.body(())?)
            }
            Payload::Bytes(bytes) => self.agent.run(builder.body(*bytes)?),
            Payload::File { file, offset, len } => {
                let mut slice = FileSlice {
                    file,
                    at: *offset,
                    end: offset + len,
                };
                let body = SendBody::from_reader(&mut slice);
                let request = builder
                    .header("Content-Length", len.to_string())
                    .body(body)?;
                self.agent.run(request)
            }
        }
    }
}

enum PingError {
    /// The TLS handshake failed in a way plain HTTP may explain.
    Tls(Error),
    /// No connection could be made.
    Connect(Error),
    /// Anything else (a certificate that is not trusted, a bad answer).
    Other(Error),
}

fn classify(e: ureq::Error, registry: &str) -> PingError {
    let debug = format!("{e:?}");
    let certificate = debug.contains("InvalidCertificate");
    let tls =
        matches!(&e, ureq::Error::Rustls(_) | ureq::Error::Tls(_)) || debug.contains("Rustls");
    let connect = matches!(
        &e,
        ureq::Error::Io(_) | ureq::Error::ConnectionFailed | ureq::Error::Timeout(_)
    );
    let err = transport_error(e).context(format!("connecting to registry {registry}"));
    if certificate {
        PingError::Other(err)
    } else if tls {
        PingError::Tls(err)
    } else if connect {
        PingError::Connect(err)
    } else {
        PingError::Other(err)
    }
}

/// A readable window of a file, read with `pread` (no shared cursor).
struct FileSlice<'a> {
    file: &'a File,
    at: u64,
    end: u64,
}

impl Read for FileSlice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // A cache exported to a registry is sent from here.
        img_core::cancel::check_io()?;
        let want = (self.end - self.at).min(buf.len() as u64) as usize;
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.at)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "blob file is shorter than its size",
            ));
        }
        self.at += n as u64;
        Ok(n)
    }
}

fn retryable(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Protocol(_)
    )
}

/// A header's value as text.
pub fn header(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn make_agent(registry: &str, options: &ClientOptions) -> Result<Agent> {
    let mut tls = TlsConfig::builder();
    if !options.verifies_tls(registry) {
        tls = tls.disable_verification(true);
    } else {
        let material = super::certs::load(registry, options.cert_dir.as_deref())?;
        if !material.roots.is_empty() {
            tls = tls.root_certs(RootCerts::new_with_certs(&material.roots));
        }
        if let Some((chain, key)) = material.client {
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
    }
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls.build())
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(options.stall_timeout))
        .timeout_per_write(Some(options.stall_timeout))
        .max_redirects(10)
        .redirect_auth_headers(RedirectAuthHeaders::Never)
        .max_idle_connections_per_host(32)
        .user_agent(format!("img/{}", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(config.new_agent())
}

impl From<http::Error> for PingError {
    fn from(e: http::Error) -> Self {
        PingError::Other(Error::invalid(e.to_string()))
    }
}
