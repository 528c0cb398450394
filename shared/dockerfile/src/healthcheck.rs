//! The `HEALTHCHECK` instruction's meaning, as Docker gives it: `NONE`, or a
//! test command with `--interval`, `--timeout`, `--start-period`,
//! `--start-interval` (durations of at least 1ms, or 0 for the default) and
//! `--retries` (not negative). The Dockerfile syntax is read by
//! [`crate`]; this module checks the options and writes the
//! image config's `Healthcheck` object under Docker's field names,
//! durations in nanoseconds and zero values left out, as Docker's
//! `HealthConfig` serializes.

use serde_json::{json, Map, Value};

use img_core::timestamp::go_duration;

/// The shortest non-zero duration Docker accepts for an option.
const MIN_DURATION_NS: i64 = 1_000_000;

/// A health check: the test and its timing, zero meaning Docker's default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", exec…]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    /// Time between checks, in nanoseconds.
    pub interval: i64,
    /// Time a check may take, in nanoseconds.
    pub timeout: i64,
    /// Time to wait before failures count, in nanoseconds.
    pub start_period: i64,
    /// Time between checks during the start period, in nanoseconds.
    pub start_interval: i64,
    /// Failures in a row that make the container unhealthy.
    pub retries: i64,
}

impl Healthcheck {
    /// `HEALTHCHECK NONE`: no health check, not even the base image's.
    pub fn none() -> Self {
        Healthcheck {
            test: vec!["NONE".into()],
            ..Healthcheck::default()
        }
    }

    /// A check running `test`, with the options given as `(name, value)`
    /// (`("interval", "30s")`); the error says which option is wrong.
    pub fn with_options<'a>(
        test: Vec<String>,
        options: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let mut check = Healthcheck {
            test,
            ..Healthcheck::default()
        };
        for (name, value) in options {
            let slot = match name {
                "interval" => &mut check.interval,
                "timeout" => &mut check.timeout,
                "start-period" => &mut check.start_period,
                "start-interval" => &mut check.start_interval,
                "retries" => {
                    let retries: i32 = value
                        .parse()
                        .map_err(|_| format!("--retries={value}: not a whole number"))?;
                    if retries < 0 {
                        return Err(format!("--retries cannot be negative ({retries})"));
                    }
                    check.retries = i64::from(retries);
                    continue;
                }
                _ => return Err(format!("unknown flag: --{name}")),
            };
            // An empty value is the default, as Docker reads it.
            if value.is_empty() {
                continue;
            }
            let ns = go_duration(value)
                .ok_or_else(|| format!("--{name}={value}: not a duration (like 30s or 1m30s)"))?;
            if ns != 0 && ns < MIN_DURATION_NS {
                return Err(format!("Interval {name:?} cannot be less than 1ms"));
            }
            *slot = ns;
        }
        Ok(check)
    }

    /// The image config's `Healthcheck` object.
    pub fn to_config(&self) -> Value {
        let mut config = Map::new();
        config.insert("Test".into(), json!(self.test));
        for (field, value) in [
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
            ("Retries", self.retries),
        ] {
            if value != 0 {
                config.insert(field.into(), json!(value));
            }
        }
        Value::Object(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{parse_instruction, Instruction};

    fn config(args: &str) -> Result<Value, String> {
        match parse_instruction(&format!("HEALTHCHECK {args}")) {
            Ok(located) => match located.value {
                Instruction::Healthcheck(check) => Ok(check.to_config()),
                other => panic!("{other:?}"),
            },
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn parses_docker_forms() {
        assert_eq!(config("NONE").unwrap(), json!({"Test": ["NONE"]}));
        assert_eq!(config("none").unwrap(), json!({"Test": ["NONE"]}));
        assert_eq!(
            config("CMD curl -f http://localhost/ || exit 1").unwrap(),
            json!({"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]})
        );
        assert_eq!(
            config(r#"--interval=5m --timeout=3s --start-period=1m30s --start-interval=0s --retries=3 CMD ["/bin/check", "-q"]"#)
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
            config("cmd [not json").unwrap(),
            json!({"Test": ["CMD-SHELL", "[not json"]})
        );
        assert_eq!(
            config("--interval= --retries=0 CMD true").unwrap(),
            json!({"Test": ["CMD-SHELL", "true"]})
        );
    }

    #[test]
    fn refuses_what_docker_refuses() {
        for (args, why) in [
            ("NONE now", "HEALTHCHECK NONE takes no arguments"),
            ("--retries=1 NONE", "HEALTHCHECK NONE takes no arguments"),
            ("CMD", "Missing command after HEALTHCHECK CMD"),
            ("CMD []", "Missing command after HEALTHCHECK CMD"),
            ("RUN true", "Unknown type \"RUN\" in HEALTHCHECK (try CMD)"),
            (
                "--interval=10us CMD true",
                "Interval \"interval\" cannot be less than 1ms",
            ),
            (
                "--timeout=-1s CMD true",
                "Interval \"timeout\" cannot be less than 1ms",
            ),
            ("--retries=-1 CMD true", "--retries cannot be negative (-1)"),
            ("--retries=x CMD true", "--retries=x: not a whole number"),
            ("--interval CMD true", "missing a value on flag: --interval"),
            ("--every=1s CMD true", "unknown flag: --every"),
            (
                "--timeout=soon CMD true",
                "--timeout=soon: not a duration (like 30s or 1m30s)",
            ),
            ("", "HEALTHCHECK requires at least one argument"),
        ] {
            assert_eq!(config(args).unwrap_err(), why, "{args}");
        }
    }
}
