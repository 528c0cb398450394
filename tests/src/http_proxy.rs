//! An HTTP-aware fault proxy on 127.0.0.1, between img and a test registry.
//! Where `proxy.rs` works on bytes, this one reads each HTTP/1.1 request of
//! a connection (keep-alive included) and, by [`Rule`]s, answers it itself
//! (a canned 429/503 with `Retry-After`, a 401 challenge, a 307 redirect to
//! another address), cuts it off before or part-way through its body, or
//! forwards it to the registry and the answer back. Every request is
//! recorded ([`Seen`]: method, target, headers, when, and the status and
//! headers of the answer), so tests can check what img sent where and how
//! long it waited, by counting requests rather than timing runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// What a rule does to a request it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Answer with `status` (a distribution error body), the extra
    /// `headers`, and `Retry-After` when given.
    Answer {
        status: u16,
        retry_after: Option<RetryAfter>,
        headers: Vec<(String, String)>,
    },
    /// Answer `307 Temporary Redirect` to the same target on `to` (`host:port`).
    Redirect { to: String },
    /// Close the connection once the request's head arrived: the registry
    /// never hears of it.
    CutBeforeBody,
    /// Forward the head and `bytes` bytes of the body, then close both
    /// connections.
    CutAfter { bytes: u64 },
    /// Forward the request, and the answer with the first byte of its body
    /// changed: a server sending the wrong content at the right length.
    Corrupt,
}

/// A `Retry-After` value, computed when the answer is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// `Retry-After: N` (delay-seconds).
    Seconds(u64),
    /// An HTTP-date this many whole seconds after the second the answer is
    /// sent in (so the wait is between N-1 and N seconds).
    DateIn(u64),
}

/// Which requests a rule applies to, and how often.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The method (`GET`, `PATCH`, …), or `""` for any.
    pub method: &'static str,
    /// A part of the target (path and query); a pattern ending in `$` must
    /// end the path (`/v2/$` is the ping only).
    pub pattern: &'static str,
    /// Matching requests let through before the rule applies.
    pub skip: usize,
    /// Matching requests the rule applies to after that.
    pub times: usize,
    /// What it does.
    pub action: Action,
}

impl Rule {
    /// A rule for the first `times` requests matching `method` and `pattern`.
    pub fn new(method: &'static str, pattern: &'static str, times: usize, action: Action) -> Rule {
        Rule {
            method,
            pattern,
            skip: 0,
            times,
            action,
        }
    }

    /// Let the first `n` matching requests through first.
    pub fn after(mut self, n: usize) -> Rule {
        self.skip = n;
        self
    }

    fn matches(&self, method: &str, target: &str) -> bool {
        if !self.method.is_empty() && self.method != method {
            return false;
        }
        match self.pattern.strip_suffix('$') {
            Some(end) => target.split('?').next().unwrap_or("").ends_with(end),
            None => target.contains(self.pattern),
        }
    }
}

/// A 429/503 answer with `Retry-After`.
pub fn overloaded(status: u16, retry_after: RetryAfter) -> Action {
    Action::Answer {
        status,
        retry_after: Some(retry_after),
        headers: Vec::new(),
    }
}

/// One request the proxy saw, and what became of it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Request headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// When its head arrived.
    pub at: Instant,
    /// The rule's action, when one applied; `None` when forwarded.
    pub action: Option<Action>,
    /// The answer's status (0 when there was none).
    pub status: u16,
    /// The answer's headers, names in lower case.
    pub response_headers: Vec<(String, String)>,
}

impl Seen {
    /// A request header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    /// An answer header's value.
    pub fn response_header(&self, name: &str) -> Option<&str> {
        find(&self.response_headers, name)
    }
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

struct State {
    upstream: String,
    /// Each rule with the count of requests it matched so far.
    rules: Mutex<Vec<(Rule, usize)>>,
    seen: Mutex<Vec<Seen>>,
    stop: AtomicBool,
}

/// A running HTTP proxy; stopped when dropped.
pub struct HttpProxy {
    /// `127.0.0.1:PORT` to give to img instead of the registry.
    pub host: String,
    state: Arc<State>,
}

impl HttpProxy {
    /// Proxy to `upstream` (`host:port`), applying `rules` (the first that
    /// matches a request and still applies decides).
    pub fn start(upstream: &str, rules: Vec<Rule>) -> HttpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let state = Arc::new(State {
            upstream: upstream.to_string(),
            rules: Mutex::new(rules.into_iter().map(|r| (r, 0)).collect()),
            seen: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let shared = state.clone();
        std::thread::spawn(move || {
            while !shared.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let state = shared.clone();
                        std::thread::spawn(move || {
                            let _ = serve(client, &state);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HttpProxy { host, state }
    }

    /// Every request seen so far, in the order their answers began.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The requests with `method` whose target contains `part`.
    pub fn requests(&self, method: &str, part: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == method && s.target.contains(part))
            .collect()
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
    }
}

/// A request or response head: the first line and the headers.
struct Head {
    line: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn read(reader: &mut impl BufRead) -> std::io::Result<Option<Head>> {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(None);
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        Ok(Some(Head {
            line: line.trim_end().to_string(),
            headers,
        }))
    }

    fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut text = format!("{}\r\n", self.line);
        for (k, v) in &self.headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str("\r\n");
        out.write_all(text.as_bytes())
    }

    fn get(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }

    fn body(&self) -> Body {
        if self
            .get("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            Body::Chunked
        } else {
            Body::Length(
                self.get("content-length")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0),
            )
        }
    }
}

/// How a message's body is framed.
enum Body {
    Length(u64),
    Chunked,
    /// Until the connection closes (a response without length).
    ToEnd,
}

fn serve(client: TcpStream, state: &State) -> std::io::Result<()> {
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    let mut upstream: Option<(BufReader<TcpStream>, TcpStream)> = None;
    // A TLS handshake (img tries HTTPS first): refuse it as a plain HTTP
    // server does, so the client falls back to HTTP.
    if from_client.fill_buf()?.first() == Some(&0x16) {
        to_client.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n")?;
        let _ = to_client.shutdown(Shutdown::Both);
        return Ok(());
    }
    loop {
        if state.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Some(request) = Head::read(&mut from_client)? else {
            return Ok(());
        };
        let at = Instant::now();
        let mut parts = request.line.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let action = decide(state, &method, &target);
        let mut seen = Seen {
            method: method.clone(),
            target: target.clone(),
            headers: request.headers.clone(),
            at,
            action: action.clone(),
            status: 0,
            response_headers: Vec::new(),
        };
        let answer = |status: u16, headers: Vec<(String, String)>| {
            let body = format!(
                r#"{{"errors":[{{"code":"UNAVAILABLE","message":"test proxy answered {status}"}}]}}"#
            );
            let mut all = vec![
                ("content-type".to_string(), "application/json".to_string()),
                ("content-length".to_string(), body.len().to_string()),
            ];
            all.extend(headers);
            (
                Head {
                    line: format!("HTTP/1.1 {status} {}", reason(status)),
                    headers: all,
                },
                body,
            )
        };
        match action {
            Some(Action::Answer {
                status,
                retry_after,
                headers,
            }) => {
                copy_body(&mut from_client, &mut std::io::sink(), request.body())?;
                let mut headers = headers;
                if let Some(r) = retry_after {
                    headers.push(("retry-after".to_string(), retry_after_value(r)));
                }
                let (head, body) = answer(status, headers);
                record(state, seen, &head);
                head.write(&mut to_client)?;
                // An answer to HEAD has the body's length but no body.
                if method != "HEAD" {
                    to_client.write_all(body.as_bytes())?;
                }
            }
            Some(Action::Redirect { to }) => {
                copy_body(&mut from_client, &mut std::io::sink(), request.body())?;
                let (mut head, _) = answer(
                    307,
                    vec![("location".into(), format!("http://{to}{target}"))],
                );
                head.headers.retain(|(k, _)| k != "content-length");
                head.headers.push(("content-length".into(), "0".into()));
                record(state, seen, &head);
                head.write(&mut to_client)?;
            }
            Some(Action::CutBeforeBody) => {
                state.seen.lock().unwrap().push(seen);
                let _ = to_client.shutdown(Shutdown::Both);
                return Ok(());
            }
            Some(Action::CutAfter { bytes }) => {
                let (_, server) = connect(state, &mut upstream)?;
                request.write(server)?;
                let mut part = (&mut from_client).take(bytes);
                std::io::copy(&mut part, server)?;
                state.seen.lock().unwrap().push(seen);
                let _ = server.shutdown(Shutdown::Both);
                let _ = to_client.shutdown(Shutdown::Both);
                return Ok(());
            }
            None | Some(Action::Corrupt) => {
                let corrupt = action.is_some();
                let (from_server, server) = connect(state, &mut upstream)?;
                request.write(server)?;
                copy_body(&mut from_client, server, request.body())?;
                let Some(response) = Head::read(from_server)? else {
                    state.seen.lock().unwrap().push(seen);
                    let _ = to_client.shutdown(Shutdown::Both);
                    return Ok(());
                };
                let status: u16 = response
                    .line
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                seen.status = status;
                seen.response_headers = response.headers.clone();
                state.seen.lock().unwrap().push(seen);
                response.write(&mut to_client)?;
                let no_body = method == "HEAD" || status == 204 || status == 304 || status < 200;
                let framing = if no_body {
                    Body::Length(0)
                } else if response.get("content-length").is_none()
                    && response.get("transfer-encoding").is_none()
                {
                    Body::ToEnd
                } else {
                    response.body()
                };
                let to_end = matches!(framing, Body::ToEnd);
                match framing {
                    Body::Length(n) if corrupt && n > 0 => {
                        let mut first = [0u8; 1];
                        from_server.read_exact(&mut first)?;
                        to_client.write_all(&[first[0] ^ 0xff])?;
                        copy_body(from_server, &mut to_client, Body::Length(n - 1))?;
                    }
                    framing => copy_body(from_server, &mut to_client, framing)?,
                }
                let closing = response
                    .get("connection")
                    .is_some_and(|c| c.eq_ignore_ascii_case("close"));
                if to_end || closing {
                    let _ = to_client.shutdown(Shutdown::Both);
                    return Ok(());
                }
            }
        }
        to_client.flush()?;
    }
}

/// The action of the first rule that matches and still applies.
fn decide(state: &State, method: &str, target: &str) -> Option<Action> {
    let mut rules = state.rules.lock().unwrap();
    for (rule, matched) in rules.iter_mut() {
        if rule.matches(method, target) {
            *matched += 1;
            if *matched > rule.skip && *matched <= rule.skip + rule.times {
                return Some(rule.action.clone());
            }
        }
    }
    None
}

fn record(state: &State, mut seen: Seen, head: &Head) {
    seen.status = head
        .line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    seen.response_headers = head.headers.clone();
    state.seen.lock().unwrap().push(seen);
}

/// The connection to the registry for this client connection, opened when
/// first needed.
fn connect<'a>(
    state: &State,
    upstream: &'a mut Option<(BufReader<TcpStream>, TcpStream)>,
) -> std::io::Result<(&'a mut BufReader<TcpStream>, &'a mut TcpStream)> {
    if upstream.is_none() {
        let server = TcpStream::connect(&state.upstream)?;
        *upstream = Some((BufReader::new(server.try_clone()?), server));
    }
    let (reader, writer) = upstream.as_mut().unwrap();
    Ok((reader, writer))
}

fn copy_body(from: &mut impl BufRead, to: &mut impl Write, body: Body) -> std::io::Result<()> {
    match body {
        Body::Length(n) => {
            let copied = std::io::copy(&mut from.by_ref().take(n), to)?;
            if copied < n {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        Body::ToEnd => {
            std::io::copy(from, to)?;
        }
        Body::Chunked => loop {
            let mut size_line = String::new();
            from.read_line(&mut size_line)?;
            to.write_all(size_line.as_bytes())?;
            let size = u64::from_str_radix(size_line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut line = String::new();
                    from.read_line(&mut line)?;
                    to.write_all(line.as_bytes())?;
                    if line.trim().is_empty() {
                        return Ok(());
                    }
                }
            }
            std::io::copy(&mut from.by_ref().take(size + 2), to)?;
        },
    }
    Ok(())
}

fn retry_after_value(r: RetryAfter) -> String {
    match r {
        RetryAfter::Seconds(n) => n.to_string(),
        RetryAfter::DateIn(n) => {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            http_date(now + n)
        }
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` for seconds since the epoch.
pub fn http_date(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        months[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn reason(status: u16) -> &'static str {
    match status {
        307 => "Temporary Redirect",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn http_dates() {
        assert_eq!(
            super::http_date(784_111_777),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(super::http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
