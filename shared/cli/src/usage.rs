//! Bad usage, reported as img reports every error and as the Docker CLI
//! words it: one line `img-NAME: error: unknown flag: --nope` and Docker's
//! hint `See 'img-NAME --help'.` on stderr, then exit status 2 (125 for
//! the programs that run containers, as `docker run` does). clap's own
//! report — the message, a tip, the whole usage and a pointer to --help —
//! is several lines that scripts cannot tell from a program's output.
//! `--help` and `--version` still print as clap prints them.

use std::io::Write;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;

/// The exit status of bad usage for most programs (img.7: bad input).
pub const BAD_USAGE: i32 = 2;

/// The exit status of bad usage for programs that run a container, as
/// `docker run` and `docker exec` have it.
pub const CONTAINER_BAD_USAGE: i32 = 125;

/// Parse the process's arguments as `C`; on bad usage, print the one-line
/// error and the hint, and exit with [`BAD_USAGE`].
pub fn parse<C: Parser>(program: &str) -> C {
    parse_or_exit(program, BAD_USAGE)
}

/// [`parse`], exiting with `code` on bad usage.
pub fn parse_or_exit<C: Parser>(program: &str, code: i32) -> C {
    match C::try_parse() {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
            _ => {
                let (message, command) = describe(&e, program);
                let _ = writeln!(
                    std::io::stderr(),
                    "{program}: error: {message}\nSee '{command} --help'."
                );
                std::process::exit(code)
            }
        },
    }
}

/// The error in one line, in Docker's words where Docker has them, and the
/// command (with its subcommand) whose help the hint points at.
fn describe(e: &clap::Error, program: &str) -> (String, String) {
    let rendered = e.render().to_string();
    let command = usage_command(&rendered).unwrap_or_else(|| program.to_string());
    if e.kind() == ErrorKind::UnknownArgument {
        if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
            if arg.starts_with('-') {
                let flag = arg.split_once('=').map_or(arg.as_str(), |(flag, _)| flag);
                return (format!("unknown flag: {flag}"), command);
            }
        }
    }
    (one_line(&rendered), command)
}

/// clap's message without its `error:` label, tips, usage and help pointer,
/// its lines joined by spaces.
fn one_line(rendered: &str) -> String {
    let mut parts = Vec::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if line.is_empty() || line.starts_with("tip:") {
            continue;
        }
        parts.push(line.strip_prefix("error: ").unwrap_or(line));
    }
    parts.join(" ")
}

/// The command words of clap's `Usage:` line (`img-layer create`).
fn usage_command(rendered: &str) -> Option<String> {
    let usage = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage:"))?;
    let words: Vec<&str> = usage
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, Subcommand};

    #[derive(Debug, Parser)]
    #[command(name = "img-demo")]
    struct Demo {
        #[arg(long)]
        flag: bool,
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        count: Option<u16>,
        #[arg(required = true)]
        names: Vec<String>,
    }

    #[derive(Debug, Parser)]
    #[command(name = "img-nest")]
    struct Nest {
        #[command(subcommand)]
        command: Sub,
    }

    #[derive(Debug, Subcommand)]
    enum Sub {
        Create(CreateArgs),
    }

    #[derive(Debug, Args)]
    struct CreateArgs {
        #[arg(long)]
        quick: bool,
    }

    fn error_of<C: Parser + std::fmt::Debug>(args: &[&str], program: &str) -> (String, String) {
        let e = C::try_parse_from(args).unwrap_err();
        describe(&e, program)
    }

    #[test]
    fn unknown_flags_in_dockers_words() {
        let (message, command) = error_of::<Demo>(&["img-demo", "--nope=1", "x"], "img-demo");
        assert_eq!(message, "unknown flag: --nope");
        assert_eq!(command, "img-demo");
        let (message, command) = error_of::<Nest>(&["img-nest", "create", "--fast"], "img-nest");
        assert_eq!(message, "unknown flag: --fast");
        assert_eq!(command, "img-nest create");
    }

    #[test]
    fn other_errors_are_one_line() {
        for args in [
            vec!["img-demo"],
            vec!["img-demo", "--count", "0", "x"],
            vec!["img-demo", "--count", "many", "x"],
            vec!["img-demo", "--flag=maybe", "x"],
        ] {
            let (message, _) = error_of::<Demo>(&args, "img-demo");
            assert!(!message.is_empty(), "{args:?}");
            assert!(!message.contains('\n'), "{args:?}: {message}");
            assert!(!message.starts_with("error:"), "{args:?}: {message}");
            assert!(!message.contains("Usage"), "{args:?}: {message}");
        }
        let (message, _) = error_of::<Demo>(&["img-demo"], "img-demo");
        assert_eq!(
            message,
            "the following required arguments were not provided: <NAMES>..."
        );
    }
}
