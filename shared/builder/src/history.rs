//! The `created_by` text of each step's history entry, as BuildKit's
//! Dockerfile frontend writes it (`docker history` shows it): the
//! instruction with its words expanded, lists in Go's formatting (`%q`
//! for CMD and ENTRYPOINT, `%v` for VOLUME, SHELL and EXPOSE), and
//! ` # buildkit` after the steps that ran something (RUN, COPY, ADD).
//! ONBUILD makes no history entry.

use img_dockerfile::healthcheck::Healthcheck;
use img_dockerfile::Instruction;

/// What a config step's entry says, `None` for a step that has none
/// (ONBUILD). `command` is the CMD or ENTRYPOINT as set (shell form with
/// its shell), `ports` EXPOSE's ports as `port/proto`, `workdir` the
/// working directory WORKDIR made.
pub fn config_step(instruction: &Instruction, after: &Applied) -> Option<String> {
    Some(match instruction {
        Instruction::Env(pairs) => format!("ENV{}", pairs_text(pairs)),
        Instruction::Label(pairs) => format!("LABEL{}", pairs_text(pairs)),
        Instruction::Cmd(_) => format!("CMD {}", go_quoted_list(&after.command)),
        Instruction::Entrypoint(_) => format!("ENTRYPOINT {}", go_quoted_list(&after.command)),
        Instruction::Workdir(_) => format!("WORKDIR {}", after.workdir),
        Instruction::User(user) => format!("USER {user}"),
        Instruction::Volume(paths) => format!("VOLUME {}", go_list(paths)),
        Instruction::StopSignal(signal) => format!("STOPSIGNAL {signal}"),
        Instruction::Shell(shell) => format!("SHELL {}", go_list(shell)),
        Instruction::Expose(_) => format!("EXPOSE {}", go_list(&after.ports)),
        Instruction::Healthcheck(check) => format!("HEALTHCHECK {}", healthcheck_text(check)),
        Instruction::Maintainer(name) => format!("MAINTAINER {name}"),
        Instruction::Onbuild(_) => return None,
        other => other.keyword().to_string(),
    })
}

/// What a config step left that its text shows.
#[derive(Debug, Default)]
pub struct Applied {
    /// CMD's or ENTRYPOINT's command as set.
    pub command: Vec<String>,
    /// EXPOSE's ports, `port/proto`, in the order written.
    pub ports: Vec<String>,
    /// The working directory after WORKDIR.
    pub workdir: String,
}

/// `ARG A=1 B`: each argument with the value it took.
pub fn arg_step(declared: &[(String, Option<String>)]) -> String {
    let words: Vec<String> = declared
        .iter()
        .map(|(name, value)| match value {
            Some(v) => format!("{name}={v}"),
            None => name.clone(),
        })
        .collect();
    format!("ARG {}", words.join(" "))
}

/// `COPY [--chown=…] [--chmod=…] src… [<<NAME…] dest # buildkit` (or ADD):
/// `--from`, `--link` and `--exclude` are not shown.
pub fn copy_step(request: &CopyText<'_>) -> String {
    let mut text = String::from(if request.add { "ADD" } else { "COPY" });
    if request.parents {
        text.push_str(" --parents");
    }
    if let Some(chown) = request.chown {
        text.push_str(&format!(" --chown={chown}"));
    }
    if let Some(chmod) = request.chmod {
        text.push_str(&format!(" --chmod={chmod}"));
    }
    for source in request.sources {
        text.push_str(&format!(" {source}"));
    }
    for name in request.heredocs {
        text.push_str(&format!(" <<{name}"));
    }
    text.push_str(&format!(" {} # buildkit", request.dest));
    text
}

/// The parts of a COPY or ADD its history text shows.
pub struct CopyText<'a> {
    /// ADD rather than COPY.
    pub add: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--chown`, expanded.
    pub chown: Option<&'a str>,
    /// `--chmod`, expanded.
    pub chmod: Option<&'a str>,
    /// The sources, expanded.
    pub sources: &'a [String],
    /// The heredoc sources' names.
    pub heredocs: &'a [String],
    /// The destination, expanded.
    pub dest: &'a str,
}

/// `RUN |2 A=1 B=2 /bin/sh -c … # buildkit`: the stage's build arguments
/// (`NAME=value`, in the order declared) before the command.
pub fn run_step(build_args: &[String], args: &[String]) -> String {
    let mut words = Vec::new();
    if !build_args.is_empty() {
        words.push(format!("|{}", build_args.len()));
        words.extend(build_args.iter().cloned());
    }
    words.extend(args.iter().cloned());
    format!("RUN {} # buildkit", words.join(" "))
}

fn pairs_text(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(k, v)| format!(" {k}={v}")).collect()
}

/// Go's `%v` of a string slice: `[a b]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `%q` of a string slice: `["a" "b c"]`.
fn go_quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| go_quote(i)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `strconv.Quote`.
fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%+v` of BuildKit's health check config.
fn healthcheck_text(check: &Healthcheck) -> String {
    format!(
        "{{Test:{} Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
        go_list(&check.test),
        go_duration(check.interval),
        go_duration(check.timeout),
        go_duration(check.start_period),
        go_duration(check.start_interval),
        check.retries
    )
}

/// Go's `time.Duration` text: `1m30s`, `1.5s`, `250ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let fraction = |value: u64, unit: u64| -> String {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            return whole.to_string();
        }
        let digits = unit.to_string().len() - 1;
        let text = format!("{rest:0digits$}");
        format!("{whole}.{}", text.trim_end_matches('0'))
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", fraction(n, 1_000));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(n, 1_000_000));
    }
    let seconds = n / 1_000_000_000;
    let sub = n % 1_000_000_000;
    let (hours, minutes, secs) = (seconds / 3600, (seconds / 60) % 60, seconds % 60);
    let secs = fraction(secs * 1_000_000_000 + sub, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{secs}s"),
        (0, m) => format!("{sign}{m}m{secs}s"),
        (h, m) => format!("{sign}{h}h{m}m{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(
            go_quoted_list(&["sh".into(), "-c".into(), "echo \"hi\"\n".into()]),
            r#"["sh" "-c" "echo \"hi\"\n"]"#
        );
        assert_eq!(go_list(&["/a".into(), "/b".into()]), "[/a /b]");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(30_000_000_000), "30s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(250_000_000), "250ms");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        let check = Healthcheck {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: 5_000_000_000,
            retries: 3,
            ..Healthcheck::default()
        };
        assert_eq!(
            healthcheck_text(&check),
            "{Test:[CMD-SHELL true] Interval:5s Timeout:0s StartPeriod:0s StartInterval:0s Retries:3}"
        );
        assert_eq!(
            run_step(
                &["A=1".into()],
                &["/bin/sh".into(), "-c".into(), "true".into()]
            ),
            "RUN |1 A=1 /bin/sh -c true # buildkit"
        );
        assert_eq!(
            arg_step(&[("A".into(), Some("1".into())), ("B".into(), None)]),
            "ARG A=1 B"
        );
    }
}
