//! The `HEALTHCHECK` instruction (a Dockerfile line, or `--change` of
//! img-import and img-commit) as Docker reads it: `NONE`, or
//! `[--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D]
//! [--retries=N] CMD command`, the command in exec (JSON) or shell form.
//! The result is the image config's `Healthcheck` object under Docker's
//! field names, durations in nanoseconds and zero values left out, as
//! Docker's `HealthConfig` serializes.

use serde_json::{json, Map, Value};

use crate::timestamp::go_duration;

/// The shortest non-zero duration Docker accepts for an option.
const MIN_DURATION_NS: i64 = 1_000_000;

/// Parse the arguments of `HEALTHCHECK` into a config's `Healthcheck`;
/// the error says what is wrong, in Docker's words where it has some.
pub fn parse(args: &str) -> Result<Value, String> {
    let mut rest = args.trim();
    let mut health = Map::new();
    while let Some(option) = rest.strip_prefix("--") {
        let (word, after) = option
            .split_once(char::is_whitespace)
            .unwrap_or((option, ""));
        let (name, value) = word
            .split_once('=')
            .ok_or_else(|| format!("option --{word} needs a value (--{word}=VALUE)"))?;
        match name {
            "interval" | "timeout" | "start-period" | "start-interval" => {
                let field = match name {
                    "interval" => "Interval",
                    "timeout" => "Timeout",
                    "start-period" => "StartPeriod",
                    _ => "StartInterval",
                };
                let ns = go_duration(value).ok_or_else(|| {
                    format!("--{name}={value}: not a duration (like 30s or 1m30s)")
                })?;
                if ns != 0 && ns < MIN_DURATION_NS {
                    return Err(format!("{field} \"{value}\" cannot be less than 1ms"));
                }
                if ns != 0 {
                    health.insert(field.into(), json!(ns));
                }
            }
            "retries" => {
                let retries: i64 = value
                    .parse()
                    .map_err(|_| format!("--retries={value}: not a whole number"))?;
                if retries < 0 {
                    return Err("--retries cannot be negative".into());
                }
                if retries != 0 {
                    health.insert("Retries".into(), json!(retries));
                }
            }
            _ => return Err(format!("unknown flag: --{name}")),
        }
        rest = after.trim_start();
    }
    let (kind, command) = rest
        .split_once(char::is_whitespace)
        .map_or((rest, ""), |(k, c)| (k, c.trim()));
    let test = match kind.to_ascii_uppercase().as_str() {
        "NONE" if command.is_empty() && health.is_empty() => json!(["NONE"]),
        "NONE" => return Err("HEALTHCHECK NONE takes no arguments".into()),
        "CMD" if command.is_empty() => return Err("Missing command after HEALTHCHECK CMD".into()),
        "CMD" => match serde_json::from_str::<Vec<String>>(command) {
            Ok(exec) if command.starts_with('[') => {
                let mut test = vec!["CMD".to_string()];
                test.extend(exec);
                json!(test)
            }
            _ => json!(["CMD-SHELL", command]),
        },
        other => return Err(format!("Unknown type \"{other}\" in HEALTHCHECK (try CMD)")),
    };
    let mut config = Map::new();
    config.insert("Test".into(), test);
    config.extend(health);
    Ok(Value::Object(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_forms() {
        assert_eq!(parse("NONE").unwrap(), json!({"Test": ["NONE"]}));
        assert_eq!(
            parse("CMD curl -f http://localhost/ || exit 1").unwrap(),
            json!({"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]})
        );
        assert_eq!(
            parse(r#"--interval=5m --timeout=3s --start-period=1m30s --start-interval=0s --retries=3 CMD ["/bin/check", "-q"]"#)
                .unwrap(),
            json!({
                "Test": ["CMD", "/bin/check", "-q"],
                "Interval": 300_000_000_000i64,
                "Timeout": 3_000_000_000i64,
                "StartPeriod": 90_000_000_000i64,
                "Retries": 3
            })
        );
        assert_eq!(
            parse("cmd [not json").unwrap(),
            json!({"Test": ["CMD-SHELL", "[not json"]})
        );
    }

    #[test]
    fn refuses_what_docker_refuses() {
        for (args, why) in [
            ("NONE now", "HEALTHCHECK NONE takes no arguments"),
            ("--retries=1 NONE", "HEALTHCHECK NONE takes no arguments"),
            ("CMD", "Missing command after HEALTHCHECK CMD"),
            ("RUN true", "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"),
            (
                "--interval=10us CMD true",
                "Interval \"10us\" cannot be less than 1ms",
            ),
            ("--retries=-1 CMD true", "--retries cannot be negative"),
            (
                "--interval CMD true",
                "option --interval needs a value (--interval=VALUE)",
            ),
            ("--every=1s CMD true", "unknown flag: --every"),
            (
                "--timeout=soon CMD true",
                "--timeout=soon: not a duration (like 30s or 1m30s)",
            ),
        ] {
            assert_eq!(parse(args).unwrap_err(), why, "{args}");
        }
    }
}
