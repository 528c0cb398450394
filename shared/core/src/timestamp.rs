//! Time, in one place: the clock ([`now`], which tests can fix), the times
//! records and configs carry ([`parse_rfc3339`]), `SOURCE_DATE_EPOCH`
//! ([`parse_epoch`]), the dates HTTP servers send ([`parse_http_date`]), Go
//! durations ([`go_duration`]), and points in time
//! as Docker's CLI takes them ([`parse`]; `--filter until=…`, later
//! `--since`/`--until`): a Go duration counted back from now (`24h`, `1h30m`,
//! `-10m` for the future), an RFC 3339 time or a shortened form of it
//! (`2026-11-22T12:00:00Z`, `2026-11-22T12:00`, `2026-11-22`), or a Unix
//! timestamp (`1795000000`, `1795000000.5`). A time without a zone is local
//! time, as the Docker daemon reads it. The grammar is Docker's
//! `GetTimestamp`: a duration first (except the bare `0`), then a time whose
//! layout the punctuation decides, then a Unix timestamp when the value has no
//! `-`. How times are *shown* is `format`'s.

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::error::{Error, Result};

/// The current time, or the time fixed by `IMG_NOW` (RFC 3339) so that
/// golden-file tests of ages are deterministic.
pub fn now() -> DateTime<Utc> {
    std::env::var("IMG_NOW")
        .ok()
        .and_then(|t| parse_rfc3339(&t))
        .unwrap_or_else(Utc::now)
}

/// An RFC 3339 time as image configs and img's records carry it.
pub fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A source date epoch as `SOURCE_DATE_EPOCH` holds it: whole seconds
/// since 1970, spaces around allowed.
pub fn parse_epoch(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// An HTTP-date (RFC 9110 §5.6.7), as `Retry-After` and `Last-Modified`
/// carry it: `Sun, 06 Nov 1994 08:49:37 GMT`, the obsolete
/// `Sunday, 06-Nov-94 08:49:37 GMT` and `Sun Nov  6 08:49:37 1994`.
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
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

/// The time `value` names, durations counted back from `now`.
pub fn parse(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    if value != "0" {
        if let Some(nanos) = go_duration(value) {
            let back = chrono::Duration::nanoseconds(nanos);
            return now
                .checked_sub_signed(back)
                .ok_or_else(|| Error::invalid(format!("duration {value:?} reaches out of range")));
        }
    }
    match time(value) {
        Some(Ok(t)) => Ok(t),
        Some(Err(())) => Err(Error::invalid(format!(
            "cannot parse {value:?} as a time (use RFC 3339 like 2026-11-22T12:00:00Z, \
             a date like 2026-11-22, a Unix timestamp, or a duration like 24h)"
        ))),
        None => unix(value).ok_or_else(|| {
            Error::invalid(format!(
                "failed to parse value as time or duration: {value:?} (examples: 24h, 10m, \
                 2026-11-22T12:00:00Z, 1795000000)"
            ))
        }),
    }
}

/// A Go duration (`time.ParseDuration`) in nanoseconds: a sign, then one or
/// more decimal numbers each with a unit (ns, us, µs, ms, s, m, h).
pub fn go_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(after) => {
                let len = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(len)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let whole: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
        // Fraction digits past the 18th cannot change a 64-bit count.
        let frac = &frac[..frac.len().min(18)];
        let fraction = if frac.is_empty() {
            0
        } else {
            frac.parse::<u128>().ok()? * scale / 10u128.pow(frac.len() as u32)
        };
        total = total.checked_add(whole.checked_mul(scale)?.checked_add(fraction)?)?;
        if total > i64::MAX as u128 {
            return None;
        }
        rest = after;
    }
    let total = i64::try_from(total).ok()?;
    Some(if negative { -total } else { total })
}

/// A time in one of Docker's layouts: `None` when `value` is no such time
/// and may be a Unix timestamp, `Some(Err)` when it looked like a date (it
/// has a `-`) but does not parse.
fn time(value: &str) -> Option<Result<DateTime<Utc>, ()>> {
    let zoned = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    let (local_part, offset) = if zoned {
        match split_zone(value) {
            Some(split) => split,
            None => return failed(value),
        }
    } else {
        (value, None)
    };
    let naive = if local_part.contains('T') {
        let colons = local_part.matches(':').count();
        let padded = match colons {
            0 => format!("{local_part}:00:00"),
            1 => format!("{local_part}:00"),
            _ => local_part.to_string(),
        };
        NaiveDateTime::parse_from_str(&padded, "%Y-%m-%dT%H:%M:%S%.f").ok()
    } else if local_part.contains('.') {
        // Docker tries a fractional RFC 3339 time; without a `T` it never is.
        None
    } else {
        NaiveDate::parse_from_str(local_part, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    };
    let Some(naive) = naive else {
        return failed(value);
    };
    let time = match offset {
        Some(offset) => offset
            .from_local_datetime(&naive)
            .single()
            .map(|t| t.with_timezone(&Utc)),
        None => Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    };
    Some(time.ok_or(()))
}

/// Not a time: an error when it looked like a date, else maybe a number.
fn failed(value: &str) -> Option<Result<DateTime<Utc>, ()>> {
    value.contains('-').then_some(Err(()))
}

/// Split `2026-11-22T12:00:00+01:00` into the local part and its zone
/// (`Z`, `z`, or `±hh:mm`).
fn split_zone(value: &str) -> Option<(&str, Option<FixedOffset>)> {
    if let Some(local) = value.strip_suffix(['Z', 'z']) {
        return Some((local, FixedOffset::east_opt(0)));
    }
    let at = value.len().checked_sub(6)?;
    let (local, zone) = (value.get(..at)?, value.get(at..)?);
    let bytes = zone.as_bytes();
    let sign = match bytes[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if bytes[3] != b':' {
        return None;
    }
    let hours: i32 = zone.get(1..3)?.parse().ok()?;
    let minutes: i32 = zone.get(4..6)?.parse().ok()?;
    let offset = FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))?;
    Some((local, Some(offset)))
}

/// A Unix timestamp: seconds, optionally `.` and a fraction.
fn unix(value: &str) -> Option<DateTime<Utc>> {
    let (seconds, fraction) = match value.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (value, None),
    };
    let seconds: i64 = seconds.parse().ok()?;
    let nanos = match fraction {
        Some(f) if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) => return None,
        Some(f) => {
            let digits = &f[..f.len().min(9)];
            digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32)
        }
        None => 0,
    };
    Utc.timestamp_opt(seconds, nanos).single()
}

/// A file's access and modification times both at `mtime` (seconds since
/// the epoch, as a tar header holds them), for setting them on a file.
pub fn file_times(mtime: u64) -> rustix::fs::Timestamps {
    let time = rustix::fs::Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    rustix::fs::Timestamps {
        last_access: time,
        last_modification: time,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn go_durations() {
        let s = 1_000_000_000i64;
        for (text, want) in [
            ("24h", 24 * 3600 * s),
            ("10m", 600 * s),
            ("1h30m", 5400 * s),
            ("1.5h", 5400 * s),
            ("-10m", -600 * s),
            ("+5s", 5 * s),
            ("300ms", 300_000_000),
            ("2us", 2_000),
            ("2µs", 2_000),
            ("7ns", 7),
            (".5s", s / 2),
            ("1.s", s),
            ("0", 0),
            ("0s", 0),
        ] {
            assert_eq!(go_duration(text), Some(want), "{text}");
        }
        for bad in [
            "", "h", "10", "1d", "1.5", ".s", "-", "1h 30m", "3000000h", "1e3s",
        ] {
            assert_eq!(go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn durations_count_back_from_now() {
        assert_eq!(parse("24h", now()).unwrap(), at("2026-11-21T12:00:00Z"));
        assert_eq!(parse("10m", now()).unwrap(), at("2026-11-22T11:50:00Z"));
        assert_eq!(parse("-1h", now()).unwrap(), at("2026-11-22T13:00:00Z"));
        assert_eq!(parse("0s", now()).unwrap(), now());
    }

    #[test]
    fn rfc3339_and_shorter_layouts() {
        for (text, want) in [
            ("2026-11-01T10:00:00Z", "2026-11-01T10:00:00Z"),
            ("2026-11-01T10:00:00.5Z", "2026-11-01T10:00:00.5Z"),
            ("2026-11-01T10:00:00+01:00", "2026-11-01T09:00:00Z"),
            ("2026-11-01T10:00:00-02:30", "2026-11-01T12:30:00Z"),
            ("2026-11-01T10:00Z", "2026-11-01T10:00:00Z"),
            ("2026-11-01T10Z", "2026-11-01T10:00:00Z"),
            ("2026-11-01Z", "2026-11-01T00:00:00Z"),
            ("2026-11-01+01:00", "2026-10-31T23:00:00Z"),
        ] {
            assert_eq!(parse(text, now()).unwrap(), at(want), "{text}");
        }
    }

    #[test]
    fn times_without_zone_are_local() {
        // The test process's zone is whatever the machine has: compare with
        // chrono's own reading of the same local time.
        let local = |text: &str| {
            Local
                .from_local_datetime(
                    &NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S").unwrap(),
                )
                .earliest()
                .unwrap()
                .to_utc()
        };
        for (text, full) in [
            ("2026-11-01T10:00:00", "2026-11-01T10:00:00"),
            ("2026-11-01T10:00", "2026-11-01T10:00:00"),
            ("2026-11-01T10", "2026-11-01T10:00:00"),
            ("2026-11-01", "2026-11-01T00:00:00"),
            ("2026-11-01T10:00:00.25", "2026-11-01T10:00:00"),
        ] {
            let want = local(full)
                + chrono::Duration::milliseconds(if text.ends_with(".25") { 250 } else { 0 });
            assert_eq!(parse(text, now()).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn unix_timestamps() {
        assert_eq!(
            parse("1795000000", now()).unwrap(),
            Utc.timestamp_opt(1_795_000_000, 0).unwrap()
        );
        assert_eq!(
            parse("1795000000.5", now()).unwrap(),
            Utc.timestamp_opt(1_795_000_000, 500_000_000).unwrap()
        );
        assert_eq!(parse("0", now()).unwrap(), DateTime::<Utc>::UNIX_EPOCH);
    }

    #[test]
    fn rejects_what_is_no_time() {
        for bad in [
            "",
            "yesterday",
            "1d",
            "2026-13-01",
            "2026-11-01T25:00:00Z",
            "2026-11-01T10:00:00+0100",
            "12.x",
            "1.",
        ] {
            let err = parse(bad, now()).unwrap_err();
            assert_eq!(err.kind(), crate::Kind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn reads_http_dates_in_every_form_and_epochs() {
        let want = at("1994-11-06T08:49:37Z");
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(text), Some(want), "{text:?}");
        }
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_rfc3339("1994-11-06T09:49:37+01:00"), Some(want));
        assert_eq!(parse_epoch(" 784111777\n"), Some(want.timestamp()));
        assert_eq!(parse_epoch("1994-11-06"), None);
    }
}
