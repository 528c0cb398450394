//! What a failed exchange with a registry says, worded for people: a
//! transport failure (refused, stalled, an untrusted or missing
//! certificate), or an answer that is not the one asked for — with the
//! registry's own message from its error body (`manifest unknown`) where it
//! sent one, and a hint at what to do next.

use ureq::http::{self, Response};
use ureq::Body;

use img_core::error::{Error, Kind};

/// A transport failure as an img error, worded for people.
pub fn transport_error(e: ureq::Error) -> Error {
    if refused_client_certificate(&e.to_string()) {
        return Error::new(
            Kind::Remote,
            format!("the registry refused the TLS connection ({e}): it wants a client certificate it trusts (NAME.cert and NAME.key in --cert-dir DIR, or in DIR/HOST:PORT)"),
        );
    }
    let text = match &e {
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                "the connection stalled (timed out)".to_string()
            }
            _ => io.to_string(),
        },
        ureq::Error::HostNotFound => "host not found".to_string(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other if format!("{other:?}").contains("InvalidCertificate") => format!(
            "the registry's TLS certificate is not trusted ({other}): give its CA with --cert-dir, or use --tls-verify=false"
        ),
        other => other.to_string(),
    };
    Error::new(Kind::Remote, text)
}

/// Whether a TLS failure is the server's refusal of the client's
/// certificate (or of its absence).
fn refused_client_certificate(text: &str) -> bool {
    text.contains("received fatal alert")
        && [
            "BadCertificate",
            "CertificateRequired",
            "UnknownCA",
            "CertificateUnknown",
        ]
        .iter()
        .any(|alert| text.contains(alert))
}

/// The error for an unexpected answer: the registry's own error message when
/// it sent one (`manifest unknown`), the HTTP status otherwise.
pub fn status_error(response: Response<Body>, doing: &str) -> Error {
    answer_error(
        response,
        doing,
        " (log in with img-login, or give --creds USER:PASSWORD)",
    )
}

pub(super) fn answer_error(
    mut response: Response<Body>,
    doing: &str,
    unauthorized_hint: &str,
) -> Error {
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_vec()
        .unwrap_or_default();
    let detail = registry_message(&body).unwrap_or_else(|| {
        http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error")
            .to_lowercase()
    });
    let kind = match status {
        404 => Kind::NotFound,
        _ => Kind::Remote,
    };
    let hint = match status {
        401 | 403 => unauthorized_hint,
        429 => " (the registry is limiting requests: try again later)",
        502..=504 => " (the registry is unavailable: try again later)",
        500 => " (the registry failed: try again later, or ask its operator)",
        _ => "",
    };
    Error::new(kind, format!("{doing}: {detail} (HTTP {status}){hint}"))
}

/// The first message of a distribution error body
/// (`{"errors":[{"code":…,"message":…}]}`).
fn registry_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let first = value.get("errors")?.as_array()?.first()?;
    let message = first.get("message").and_then(|m| m.as_str()).unwrap_or("");
    let code = first.get("code").and_then(|c| c.as_str()).unwrap_or("");
    match (message.is_empty(), code.is_empty()) {
        (false, _) => Some(message.to_string()),
        (true, false) => Some(code.to_lowercase().replace('_', " ")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_registry_errors() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        assert_eq!(registry_message(body).unwrap(), "manifest unknown");
        assert_eq!(
            registry_message(br#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#).unwrap(),
            "name unknown"
        );
        assert!(registry_message(b"<html>").is_none());
    }
}
