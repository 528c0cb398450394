//! Each instruction's arguments read into its typed form, as BuildKit's
//! `instructions` package does: the argument shape the instruction takes
//! (JSON or shell form, blank-separated words, quoted words, `name=value`
//! pairs), the flags it takes, how many arguments it needs, and Docker's
//! message when something is wrong. Errors are bare messages; the caller
//! adds the line.

use super::flags::{Flags, Kind};
use super::heredoc::{self, Heredoc};
use super::instruction::{Command, Instruction};
use super::parser::{self, RawInstruction};
use super::words::{json_array, name_values, quoted_words, split_blank, split_first};
use super::{Base, Located};
use crate::healthcheck::Healthcheck;

/// Every instruction keyword but FROM, for "did you mean".
const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// A FROM line: what the stage starts from and its name (lowercased).
pub(crate) fn base(raw: &RawInstruction) -> Result<(Base, Option<String>), String> {
    let flags = Flags::parse(&raw.flags, &[("platform", Kind::String)])?;
    let args = split_blank(&raw.args);
    let name = match args.as_slice() {
        [_] => None,
        [_, as_, name] if as_.eq_ignore_ascii_case("as") => {
            let lower = name.to_lowercase();
            let mut chars = lower.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if !valid {
                return Err(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ));
            }
            Some(lower)
        }
        _ => return Err("FROM requires either one or three arguments".into()),
    };
    Ok((
        Base {
            image: args[0].clone(),
            platform: flags.string("platform"),
        },
        name,
    ))
}

/// The typed instruction, with its line and text.
pub(crate) fn located(raw: &RawInstruction, escape: char) -> Result<Located<Instruction>, String> {
    Ok(Located {
        line: raw.line,
        original: raw.original.clone(),
        value: instruction(raw, escape)?,
    })
}

fn instruction(raw: &RawInstruction, escape: char) -> Result<Instruction, String> {
    let keyword = raw.keyword.to_ascii_uppercase();
    let args = raw.args.as_str();
    let flags = |takes: &[(&'static str, Kind)]| Flags::parse(&raw.flags, takes);
    let none = || flags(&[]);
    let exactly_one = || -> Result<String, String> {
        none()?;
        match args {
            "" => Err(format!("{keyword} requires exactly one argument")),
            _ => Ok(args.to_string()),
        }
    };
    let at_least_one = || format!("{keyword} requires at least one argument");
    Ok(match keyword.as_str() {
        "RUN" => {
            let flags = flags(&[
                ("mount", Kind::Strings),
                ("network", Kind::String),
                ("security", Kind::String),
            ])?;
            Instruction::Run {
                command: command(args, &keyword, false)?,
                heredocs: raw.heredocs.clone(),
                mounts: flags.strings("mount"),
                network: flags.string("network"),
                security: flags.string("security"),
            }
        }
        "CMD" => {
            none()?;
            Instruction::Cmd(command(args, &keyword, true)?)
        }
        "ENTRYPOINT" => {
            none()?;
            Instruction::Entrypoint(command(args, &keyword, true)?)
        }
        "SHELL" => {
            none()?;
            match json_array(args)? {
                Some(shell) if shell.is_empty() => return Err(at_least_one()),
                Some(shell) => Instruction::Shell(shell),
                None if args.is_empty() => return Err(at_least_one()),
                None => return Err("SHELL requires the arguments to be in JSON form".into()),
            }
        }
        "COPY" => {
            let flags = flags(&[
                ("chown", Kind::String),
                ("from", Kind::String),
                ("chmod", Kind::String),
                ("link", Kind::Bool),
                ("parents", Kind::Bool),
                ("exclude", Kind::Strings),
            ])?;
            let (sources, dest, heredocs) = sources_and_dest(raw, &keyword)?;
            Instruction::Copy {
                sources,
                dest,
                heredocs,
                from: flags.string("from"),
                chown: flags.string("chown"),
                chmod: flags.string("chmod"),
                link: flags.bool("link").unwrap_or(false),
                parents: flags.bool("parents").unwrap_or(false),
                exclude: flags.strings("exclude"),
            }
        }
        "ADD" => {
            let flags = flags(&[
                ("chown", Kind::String),
                ("chmod", Kind::String),
                ("checksum", Kind::String),
                ("keep-git-dir", Kind::Bool),
                ("link", Kind::Bool),
                ("unpack", Kind::Bool),
                ("exclude", Kind::Strings),
            ])?;
            let (sources, dest, heredocs) = sources_and_dest(raw, &keyword)?;
            Instruction::Add {
                sources,
                dest,
                heredocs,
                chown: flags.string("chown"),
                chmod: flags.string("chmod"),
                checksum: flags.string("checksum"),
                keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
                link: flags.bool("link").unwrap_or(false),
                unpack: flags.bool("unpack"),
                exclude: flags.strings("exclude"),
            }
        }
        "ENV" | "LABEL" => {
            none()?;
            let pairs = name_values(args, escape, &keyword)?;
            if pairs.is_empty() {
                return Err(at_least_one());
            }
            if pairs.iter().any(|(name, _)| name.is_empty()) {
                return Err(format!("{keyword} names can not be blank"));
            }
            match keyword.as_str() {
                "ENV" => Instruction::Env(pairs),
                _ => Instruction::Label(pairs),
            }
        }
        "ARG" => {
            none()?;
            let words = quoted_words(args, escape);
            if words.is_empty() {
                return Err(at_least_one());
            }
            let mut declared = Vec::new();
            for word in words {
                declared.push(match word.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((name, value)) => (name.to_string(), Some(value.to_string())),
                    None => (word, None),
                });
            }
            Instruction::Arg(declared)
        }
        "WORKDIR" => Instruction::Workdir(exactly_one()?),
        "USER" => Instruction::User(exactly_one()?),
        "STOPSIGNAL" => Instruction::StopSignal(exactly_one()?),
        "MAINTAINER" => Instruction::Maintainer(exactly_one()?),
        "EXPOSE" => {
            none()?;
            let mut ports = split_blank(args);
            if ports.is_empty() {
                return Err(at_least_one());
            }
            // Docker sorts the words as written (its history shows them so).
            ports.sort();
            Instruction::Expose(ports)
        }
        "VOLUME" => {
            none()?;
            let paths = match json_array(args)? {
                Some(paths) => paths,
                None => split_blank(args),
            };
            if paths.is_empty() {
                return Err(at_least_one());
            }
            if paths.iter().any(|p| p.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Instruction::Volume(paths.iter().map(|p| p.trim().to_string()).collect())
        }
        "HEALTHCHECK" => Instruction::Healthcheck(healthcheck(raw)?),
        "ONBUILD" => Instruction::Onbuild(Box::new(onbuild(raw, escape)?)),
        "FROM" => return Err("FROM starts a stage; it cannot appear here".into()),
        _ => return Err(unknown(&raw.keyword)),
    })
}

/// The exec or shell form; empty arguments are refused, and an empty JSON
/// array too unless `empty_ok` (`CMD []` clears the command).
fn command(args: &str, keyword: &str, empty_ok: bool) -> Result<Command, String> {
    match json_array(args)? {
        Some(exec) if exec.is_empty() && !empty_ok => {
            Err(format!("{keyword} requires at least one argument"))
        }
        Some(exec) => Ok(Command::Exec(exec)),
        None if args.is_empty() => Err(format!("{keyword} requires at least one argument")),
        None => Ok(Command::Shell(args.to_string())),
    }
}

/// COPY and ADD: the sources, the destination, and the heredoc sources.
fn sources_and_dest(
    raw: &RawInstruction,
    keyword: &str,
) -> Result<(Vec<String>, String, Vec<Heredoc>), String> {
    let mut args = match json_array(&raw.args)? {
        Some(args) => args,
        None => split_blank(&raw.args),
    };
    if args.len() < 2 {
        return Err(format!(
            "{keyword} requires at least two arguments, but only one was provided. Destination could not be determined"
        ));
    }
    let dest = args.pop().unwrap_or_default();
    if matches!(heredoc::parse_word(&dest), Ok(Some(_))) {
        return Err(format!(
            "{keyword} cannot accept a heredoc as a destination"
        ));
    }
    let mut sources = Vec::new();
    let mut heredocs = Vec::new();
    for source in args {
        match heredoc::parse_word(&source) {
            Ok(Some(named)) => heredocs.push(
                // The body was read with the line; a name without one (a
                // JSON-form source) is an empty file, as in Docker.
                raw.heredocs
                    .iter()
                    .find(|h| h.name == named.name)
                    .cloned()
                    .unwrap_or(named),
            ),
            _ => sources.push(source),
        }
    }
    Ok((sources, dest, heredocs))
}

fn healthcheck(raw: &RawInstruction) -> Result<Healthcheck, String> {
    let (kind, rest) = split_first(&raw.args);
    match kind.to_ascii_uppercase().as_str() {
        "" => Err("HEALTHCHECK requires at least one argument".into()),
        "NONE" if rest.is_empty() && raw.flags.is_empty() => Ok(Healthcheck::none()),
        "NONE" => Err("HEALTHCHECK NONE takes no arguments".into()),
        "CMD" => {
            let flags = Flags::parse(
                &raw.flags,
                &[
                    ("interval", Kind::String),
                    ("timeout", Kind::String),
                    ("start-period", Kind::String),
                    ("start-interval", Kind::String),
                    ("retries", Kind::String),
                ],
            )?;
            let test = match json_array(rest)? {
                Some(exec) if !exec.is_empty() => [vec!["CMD".to_string()], exec].concat(),
                Some(_) => return Err("Missing command after HEALTHCHECK CMD".into()),
                None if rest.is_empty() => {
                    return Err("Missing command after HEALTHCHECK CMD".into())
                }
                None => vec!["CMD-SHELL".to_string(), rest.to_string()],
            };
            Healthcheck::with_options(test, flags.given())
        }
        _ => Err(format!(
            "Unknown type {:?} in HEALTHCHECK (try CMD)",
            kind.to_ascii_uppercase()
        )),
    }
}

/// `ONBUILD trigger`: the trigger read as an instruction of its own, its
/// text being the line without the ONBUILD keyword.
fn onbuild(raw: &RawInstruction, escape: char) -> Result<Located<Instruction>, String> {
    Flags::parse(&raw.flags, &[])?;
    if raw.args.is_empty() {
        return Err("ONBUILD requires at least one argument".into());
    }
    let (keyword, flags, args) = parser::split_command(&raw.args);
    match keyword.to_ascii_uppercase().as_str() {
        "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
        trigger @ ("FROM" | "MAINTAINER") => {
            return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
        }
        _ => {}
    }
    let (_, trigger_text) = split_first(raw.original.trim_start());
    let trigger = RawInstruction {
        line: raw.line,
        keyword,
        flags,
        args,
        original: trigger_text.to_string(),
        heredocs: raw.heredocs.clone(),
    };
    located(&trigger, escape)
}

/// Docker's message for an unknown keyword, with the nearest known one
/// when it is close (a typo).
fn unknown(keyword: &str) -> String {
    let upper = keyword.to_ascii_uppercase();
    let nearest = KEYWORDS
        .iter()
        .map(|k| (distance(&upper, k), *k))
        .min()
        .filter(|(d, _)| *d > 0 && *d <= upper.chars().count().div_ceil(3).max(1));
    match nearest {
        Some((_, k)) => format!("unknown instruction: {keyword} (did you mean {k}?)"),
        None => format!("unknown instruction: {keyword}"),
    }
}

/// Levenshtein distance between two words.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
#[path = "read_tests.rs"]
mod tests;
