//! Builder flags: the `--name=value` words that open an instruction's
//! arguments (`COPY --from=build --chown=app …`). They end at the first word
//! that does not start with `--`, or after a lone `--`. Quotes and `\`
//! inside a flag group and are removed (`--chown="app user"`), whatever the
//! escape directive says, as in Docker.
//!
//! Each instruction declares the flags it takes and of what kind; any other
//! flag, a repeated one (unless it may repeat, like `--mount`), a string
//! flag without `=value` or a boolean flag with a value other than true or
//! false is an error in Docker's words.

/// The flags at the start of `rest` (quotes removed, `--` kept) and what
/// follows them.
pub(crate) fn extract(rest: &str) -> (Vec<String>, &str) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut phase = Phase::Spaces;
    // Quotes make even an empty word a word (`--chown=""`).
    let mut quoted = false;
    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match phase {
            Phase::Spaces if c.is_whitespace() => {}
            Phase::Spaces => {
                if !rest[at..].starts_with("--") {
                    return (flags, &rest[at..]);
                }
                phase = Phase::Word;
                word.push(c);
            }
            Phase::Word if c.is_whitespace() => {
                if word == "--" {
                    return (flags, &rest[at..]);
                }
                if quoted || !word.is_empty() {
                    flags.push(std::mem::take(&mut word));
                }
                quoted = false;
                phase = Phase::Spaces;
            }
            Phase::Word if c == '\'' || c == '"' => {
                phase = Phase::Quote(c);
                quoted = true;
            }
            Phase::Quote(q) if c == q => phase = Phase::Word,
            Phase::Word | Phase::Quote(_) => {
                let c = match c {
                    // A `\` escapes the next character; at the very end it
                    // escapes nothing and is dropped.
                    '\\' => match chars.next() {
                        Some((_, escaped)) => escaped,
                        None => break,
                    },
                    c => c,
                };
                word.push(c);
            }
        }
    }
    if phase != Phase::Spaces && word != "--" && (quoted || !word.is_empty()) {
        flags.push(word);
    }
    (flags, "")
}

/// The kind of value a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--link` or `--link=true|false`.
    Bool,
    /// `--from=VALUE`, once.
    String,
    /// `--mount=VALUE`, any number of times.
    Strings,
}

/// The flags an instruction was given, checked against those it takes.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    values: Vec<(&'static str, String)>,
}

impl Flags {
    /// Check `given` (from [`extract`]) against `takes`.
    pub(crate) fn parse(given: &[String], takes: &[(&'static str, Kind)]) -> Result<Flags, String> {
        let mut flags = Flags::default();
        for arg in given {
            let Some(arg) = arg.strip_prefix("--") else {
                return Err(format!("flag {arg:?} should start with --"));
            };
            if arg.is_empty() {
                break;
            }
            let (name, value) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value)),
                None => (arg, None),
            };
            let Some(&(name, kind)) = takes.iter().find(|(n, _)| *n == name) else {
                return Err(format!("unknown flag: --{name}"));
            };
            if kind != Kind::Strings && flags.values.iter().any(|(n, _)| *n == name) {
                return Err(format!("duplicate flag specified: --{name}"));
            }
            let value = match (kind, value) {
                (Kind::Bool, None) => "true".to_string(),
                (Kind::Bool, Some(v)) if v.eq_ignore_ascii_case("true") => "true".into(),
                (Kind::Bool, Some(v)) if v.eq_ignore_ascii_case("false") => "false".into(),
                (Kind::Bool, Some("")) | (_, None) => {
                    return Err(format!("missing a value on flag: --{name}"))
                }
                (Kind::Bool, Some(v)) => {
                    return Err(format!(
                        "expecting boolean value for flag --{name}, not: {v}"
                    ))
                }
                (_, Some(v)) => v.to_string(),
            };
            flags.values.push((name, value));
        }
        Ok(flags)
    }

    /// The value of a string flag, if given.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.strings(name).pop()
    }

    /// Every value of a repeatable flag, in order.
    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean flag: `None` when not given.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        self.string(name).map(|v| v == "true")
    }

    /// The names and values given, in order.
    pub(crate) fn given(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(n, v)| (*n, v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_leading_flags() {
        for (rest, flags, after) in [
            ("--from=build /a /b", &["--from=build"][..], "/a /b"),
            (
                "  --link --chown=1:1  src dst",
                &["--link", "--chown=1:1"],
                "src dst",
            ),
            (r#"--chown="app user" x y"#, &["--chown=app user"], "x y"),
            (r"--chmod=7\55 x y", &["--chmod=755"], "x y"),
            (
                "--mount=type=cache,target='/a b' make",
                &["--mount=type=cache,target=/a b"],
                "make",
            ),
            ("-- --not-a-flag x", &[], " --not-a-flag x"),
            ("--a --", &["--a"], ""),
            ("-x --y", &[], "-x --y"),
            ("echo --x", &[], "echo --x"),
            ("--x=\"\" y", &["--x="], "y"),
            ("--only", &["--only"], ""),
            ("", &[], ""),
        ] {
            let (got, rest_after) = extract(rest);
            assert_eq!(got, flags, "{rest}");
            assert_eq!(rest_after, after, "{rest}");
        }
    }

    #[test]
    fn checks_flags_against_those_taken() {
        let takes = [
            ("from", Kind::String),
            ("link", Kind::Bool),
            ("mount", Kind::Strings),
        ];
        let parse = |given: &[&str]| {
            let given: Vec<String> = given.iter().map(|s| s.to_string()).collect();
            Flags::parse(&given, &takes)
        };
        let flags = parse(&["--from=a", "--link=FALSE", "--mount=x", "--mount=y"]).unwrap();
        assert_eq!(flags.string("from").as_deref(), Some("a"));
        assert_eq!(flags.bool("link"), Some(false));
        assert_eq!(flags.strings("mount"), ["x", "y"]);
        assert_eq!(parse(&["--link"]).unwrap().bool("link"), Some(true));
        assert_eq!(parse(&[]).unwrap().bool("link"), None);
        assert_eq!(
            parse(&["--from="]).unwrap().string("from").as_deref(),
            Some("")
        );
        for (given, why) in [
            (&["--boo"][..], "unknown flag: --boo"),
            (
                &["--from=a", "--from=b"],
                "duplicate flag specified: --from",
            ),
            (&["--from"], "missing a value on flag: --from"),
            (&["--mount"], "missing a value on flag: --mount"),
            (&["--link="], "missing a value on flag: --link"),
            (
                &["--link=yes"],
                "expecting boolean value for flag --link, not: yes",
            ),
        ] {
            assert_eq!(parse(given).unwrap_err(), why, "{given:?}");
        }
    }
}
