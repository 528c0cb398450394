//! Output for people, exactly as the Docker CLI prints it: sizes in decimal
//! units with three significant digits (`133MB`, `4.26kB`), ages like
//! `2 weeks ago`, and tables aligned like Go's tabwriter with Docker's
//! settings (columns at least 10 wide, 3 spaces of padding, the last column
//! unpadded).

use chrono::{DateTime, Utc};

/// A size as `docker images` shows it: `HumanSizeWithPrecision(n, 3)`.
pub fn human_size(bytes: u64) -> String {
    human_size_precision(bytes, 3)
}

/// A size with `precision` significant digits, as Docker's
/// `HumanSizeWithPrecision`; progress bars use 4 (`1.049MB`).
pub fn human_size_precision(bytes: u64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g(size, precision), UNITS[unit])
}

/// Go's `%.Ng`: `precision` significant digits, trailing zeros dropped,
/// exponent form when the exponent is below -4 or at least `precision`.
fn format_g(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    let sci = format!("{:.*e}", precision - 1, value);
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= precision as i32 {
        let mantissa = trim_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    trim_zeros(&format!("{value:.decimals$}")).to_string()
}

fn trim_zeros(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

/// A duration as Docker's `HumanDuration` words it (`2 weeks`, `About an hour`).
pub fn human_duration(seconds: i64) -> String {
    let minutes = seconds / 60;
    let hours = (seconds + 1800) / 3600;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", seconds / 3600 / 24 / 365)
    }
}

/// `2 weeks ago`, or `N/A` for an unknown time.
pub fn ago(time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match time {
        Some(t) => format!("{} ago", human_duration((now - t).num_seconds())),
        None => "N/A".into(),
    }
}

/// A time as Go's `time.Time.String()` prints it in the local zone
/// (`2026-11-01 10:00:00 +0000 UTC`), as Docker's `CreatedAt` shows it.
pub fn go_time(time: DateTime<Utc>) -> String {
    let local = time.with_timezone(&chrono::Local);
    let offset = local.format("%z").to_string();
    let zone = if offset == "+0000" {
        "UTC".to_string()
    } else {
        offset.clone()
    };
    format!("{} {offset} {zone}", local.format("%Y-%m-%d %H:%M:%S"))
}

/// A time as RFC 3339 in the local zone, seconds precision (Go's
/// `time.RFC3339`), as `docker history -H=false` shows it.
pub fn rfc3339_local(time: DateTime<Utc>) -> String {
    let local = time.with_timezone(&chrono::Local);
    local.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The current time, or the time fixed by `IMG_NOW` (RFC 3339) so that
/// golden-file tests of ages are deterministic.
pub fn now() -> DateTime<Utc> {
    std::env::var("IMG_NOW")
        .ok()
        .and_then(|t| crate::image::parse_time(&t))
        .unwrap_or_else(Utc::now)
}

/// Lay out rows (the first is the header) like Docker's tabwriter.
pub fn table(rows: &[Vec<String>]) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let width = (widths[i] + PADDING).max(MIN_WIDTH);
                line.push_str(&" ".repeat(width - cell.chars().count()));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The bytes the files under `path` hold (apparent sizes; unreadable
/// entries count as nothing).
pub fn tree_size(path: &std::path::Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .map(|entries| entries.flatten().map(|e| tree_size(&e.path())).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_docker() {
        for (n, want) in [
            (0, "0B"),
            (999, "999B"),
            (1000, "1kB"),
            (4_260, "4.26kB"),
            (1_234_567, "1.23MB"),
            (133_000_000, "133MB"),
            (187_654_321, "188MB"),
            (2_500_000_000, "2.5GB"),
        ] {
            assert_eq!(human_size(n), want, "{n}");
        }
    }

    #[test]
    fn durations_match_docker() {
        for (s, want) in [
            (0, "Less than a second"),
            (1, "1 second"),
            (59, "59 seconds"),
            (60, "About a minute"),
            (600, "10 minutes"),
            (3600, "About an hour"),
            (5 * 3600, "5 hours"),
            (3 * 86400, "3 days"),
            (15 * 86400, "2 weeks"),
            (90 * 86400, "3 months"),
            (800 * 86400, "2 years"),
        ] {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }

    #[test]
    fn table_aligns_like_tabwriter() {
        let rows = vec![
            vec!["REPOSITORY".into(), "TAG".into(), "SIZE".into()],
            vec!["nginx".into(), "latest".into(), "133MB".into()],
        ];
        assert_eq!(
            table(&rows),
            "REPOSITORY   TAG       SIZE\nnginx        latest    133MB\n"
        );
    }
}
