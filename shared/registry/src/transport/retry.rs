//! When a registry request is asked again, and after how long.
//!
//! An answer of 429 (too many requests), 502, 503 or 504 (a gateway or the
//! registry itself is overloaded or restarting) means the request was not
//! carried out: it is sent again, whatever its method. A 500 may have done
//! part of the work, so only idempotent requests are repeated after one
//! (a failed upload chunk is resumed by `upload.rs` from what the registry
//! reports instead). The wait is what the registry's `Retry-After` says —
//! seconds, or an HTTP date in any of the three forms HTTP allows — else
//! an exponential backoff; never longer than [`MAX_WAIT`], at most
//! [`MAX_RETRIES`] times.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

/// Retries of one request after a 429/5xx answer or a lost connection.
pub const MAX_RETRIES: u32 = 5;
/// The longest wait between retries, whatever `Retry-After` says.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// The wait before retry `attempt` (0-based) when the registry does not
/// say: 0.5 s, 1 s, 2 s, … capped at [`MAX_WAIT`].
pub fn backoff(attempt: u32) -> Duration {
    (Duration::from_millis(500) * 2u32.saturating_pow(attempt.min(6))).min(MAX_WAIT)
}

/// Whether an answer with `status` asks for the request to be sent again.
pub fn transient(status: u16, idempotent: bool) -> bool {
    match status {
        429 | 502 | 503 | 504 => true,
        500 => idempotent,
        _ => false,
    }
}

/// The wait before retry `attempt`: the `Retry-After` value when there is a
/// readable one, else the backoff; capped.
pub fn wait(retry_after: Option<&str>, attempt: u32) -> Duration {
    retry_after
        .and_then(|v| parse_retry_after(v, Utc::now()))
        .unwrap_or_else(|| backoff(attempt))
        .min(MAX_WAIT)
}

/// A `Retry-After` value as a wait from `now`: delay-seconds, or an
/// HTTP-date (IMF-fixdate, RFC 850, or asctime); a date already past waits
/// nothing. `None` when the value is neither.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = http_date(value)?;
    Some((when - now).to_std().unwrap_or_default())
}

/// Parse an HTTP-date (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`,
/// the obsolete `Sunday, 06-Nov-94 08:49:37 GMT` and `Sun Nov  6 08:49:37 1994`.
fn http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc2822(value) {
        return Some(t.with_timezone(&Utc));
    }
    let rfc850 = value
        .split_once(", ")
        .and_then(|(_, rest)| NaiveDateTime::parse_from_str(rest, "%d-%b-%y %H:%M:%S GMT").ok());
    let asctime = || {
        let single_spaced = value.split_whitespace().collect::<Vec<_>>().join(" ");
        NaiveDateTime::parse_from_str(&single_spaced, "%a %b %d %H:%M:%S %Y").ok()
    };
    rfc850.or_else(asctime).map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_retry_after_in_every_form() {
        let now = DateTime::parse_from_rfc3339("1994-11-06T08:49:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let seven = Some(Duration::from_secs(7));
        assert_eq!(parse_retry_after("7", now), seven);
        assert_eq!(parse_retry_after(" 7 ", now), seven);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            seven
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
            seven
        );
        assert_eq!(parse_retry_after("Sun Nov  6 08:49:37 1994", now), seven);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past waits nothing"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[test]
    fn waits_and_what_is_retried() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(20), MAX_WAIT);
        assert_eq!(wait(Some("2"), 4), Duration::from_secs(2));
        assert_eq!(wait(Some("86400"), 0), MAX_WAIT);
        assert_eq!(wait(Some("later"), 1), Duration::from_secs(1));
        assert_eq!(wait(None, 0), Duration::from_millis(500));
        assert!(transient(429, false) && transient(503, false) && transient(504, false));
        assert!(transient(500, true) && !transient(500, false));
        assert!(!transient(404, true) && !transient(501, true) && !transient(401, true));
    }
}
