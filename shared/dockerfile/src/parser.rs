//! Physical lines into logical instructions, as BuildKit's parser reads
//! them.
//!
//! * Parser directives (`# syntax=…`, `# escape=…`, `# check=…`, names in
//!   any case, each at most once) count only in the comment lines that open
//!   the file: the first line that is not such a directive — an instruction,
//!   a blank line, any other comment — ends them, and later ones are
//!   ordinary comments.
//! * A line whose first non-blank character is `#` is a comment, also in
//!   the middle of a continued instruction; a `#` anywhere else is text.
//! * The escape character as the last non-blank character of a line
//!   continues the instruction on the next line (unless it is itself
//!   escaped); blank lines inside a continued instruction are skipped with
//!   a warning. Leading blanks of continuation lines are kept.
//! * Builder flags are split off each instruction, and RUN, COPY and ADD
//!   (also behind ONBUILD) not in JSON form get the bodies of the heredocs
//!   their line opens, read verbatim (comments and blank lines included).
//! * A physical line longer than 65535 bytes is refused, as Docker's line
//!   reader refuses it.
//!
//! Errors carry the line they concern; the caller formats them.

use super::flags;
use super::heredoc::{self, Heredoc};
use super::words::{is_blank, json_array};
use super::Directives;

/// The longest physical line Docker reads, in bytes.
const MAX_LINE: usize = 65_535;

/// One instruction before its arguments are read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawInstruction {
    /// The line the instruction starts on, from 1.
    pub line: usize,
    /// The keyword as written (`run`, `RUN`).
    pub keyword: String,
    /// The builder flags (`--from=x`), quotes removed.
    pub flags: Vec<String>,
    /// The arguments after the flags, trimmed.
    pub args: String,
    /// The logical line, trimmed.
    pub original: String,
    /// The heredocs the line opens, with their bodies.
    pub heredocs: Vec<Heredoc>,
}

/// A Dockerfile split into instructions.
#[derive(Debug)]
pub(crate) struct Lines {
    pub directives: Directives,
    pub instructions: Vec<RawInstruction>,
    /// Empty continuation lines: the line of the instruction and a message.
    pub warnings: Vec<(usize, String)>,
}

/// Split `text` into its directives and instructions; an error is a line
/// and a message.
pub(crate) fn split(text: &str) -> Result<Lines, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    if let Some(at) = lines
        .iter()
        .position(|l| l.strip_suffix('\n').unwrap_or(l).len() > MAX_LINE)
    {
        return Err((
            at + 1,
            format!("dockerfile line greater than max allowed size of {MAX_LINE}"),
        ));
    }
    let mut directives = DirectiveReader::default();
    let mut instructions = Vec::new();
    let mut warnings = Vec::new();
    let mut next = 0;
    while next < lines.len() {
        let start = next + 1;
        let first = trim_newline(lines[next]).trim_start();
        next += 1;
        directives.read(first).map_err(|e| (start, e))?;
        let escape = directives.found.escape;
        if first.starts_with('#') {
            continue;
        }
        let (mut line, mut complete) = continuation(first, escape);
        if complete && line.is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !complete && next < lines.len() {
            let text = trim_newline(lines[next]);
            next += 1;
            if text.trim_start().starts_with('#') {
                continue;
            }
            if text.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, done) = continuation(text, escape);
            line.push_str(&part);
            complete = done;
        }
        if empty_continuation {
            warnings.push((
                start,
                format!(
                    "empty continuation line in {:?}: Docker will refuse these in a future release; \
                     remove the blank line or end the instruction before it",
                    line.trim()
                ),
            ));
        }
        let (keyword, flags, args) = split_command(&line);
        let mut heredocs = Vec::new();
        if takes_heredocs(&keyword, &args) {
            heredocs = heredoc::in_line(&line).map_err(|e| (start, e))?;
            for heredoc in &mut heredocs {
                let mut terminated = false;
                while next < lines.len() {
                    let raw = lines[next];
                    next += 1;
                    let mut candidate = trim_newline(raw);
                    if heredoc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == heredoc.name {
                        terminated = true;
                        break;
                    }
                    heredoc.content.push_str(raw);
                }
                if !terminated {
                    return Err((
                        start,
                        format!(
                            "unterminated heredoc: no line {:?} ends the heredoc opened here",
                            heredoc.name
                        ),
                    ));
                }
            }
        }
        if keyword.is_empty() {
            return Err((start, "a line continuation with no instruction".into()));
        }
        instructions.push(RawInstruction {
            line: start,
            keyword,
            flags,
            args,
            original: line.trim().to_string(),
            heredocs,
        });
    }
    Ok(Lines {
        directives: directives.found,
        instructions,
        warnings,
    })
}

/// A logical line's keyword, builder flags and arguments.
pub(crate) fn split_command(line: &str) -> (String, Vec<String>, String) {
    let line = line.trim();
    let (keyword, rest) = match line.find(is_blank) {
        Some(at) => (&line[..at], line[at..].trim_start_matches(is_blank)),
        None => (line, ""),
    };
    let (flags, args) = flags::extract(rest);
    (keyword.to_string(), flags, args.trim().to_string())
}

/// The line without its continuation mark, and whether it is complete.
/// The mark is the escape character ending the line (blanks after it
/// allowed), unless the character before it is the escape character too.
fn continuation(line: &str, escape: char) -> (String, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line.to_string(), true);
    };
    if before.ends_with(escape) {
        return (line.to_string(), true);
    }
    (before.to_string(), false)
}

/// Whether an instruction reads heredoc bodies: RUN, COPY and ADD in shell
/// form, directly or as an ONBUILD trigger.
fn takes_heredocs(keyword: &str, args: &str) -> bool {
    let shell_form = || !matches!(json_array(args), Ok(Some(_)));
    match keyword.to_ascii_uppercase().as_str() {
        "RUN" | "COPY" | "ADD" => shell_form(),
        "ONBUILD" => {
            let (inner, _, inner_args) = split_command(args);
            matches!(inner.to_ascii_uppercase().as_str(), "RUN" | "COPY" | "ADD")
                && !matches!(json_array(&inner_args), Ok(Some(_)))
        }
        _ => false,
    }
}

/// A line without its line ending (`\n`, `\r\n`).
fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// The directives at the top of the file, read one line at a time.
#[derive(Default)]
struct DirectiveReader {
    found: Directives,
    seen: Vec<String>,
    done: bool,
}

impl DirectiveReader {
    /// Read a line (left-trimmed, no line ending) as a possible directive.
    fn read(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let name = name.to_ascii_lowercase();
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&name) {
            return Err(format!("only one {name} parser directive can be used"));
        }
        match name.as_str() {
            "escape" => {
                self.found.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(format!(
                            "invalid escape token '{value}' does not match ` or \\"
                        ))
                    }
                }
            }
            "syntax" => self.found.syntax = Some(value.to_string()),
            _ => self.found.check = Some(value.to_string()),
        }
        self.seen.push(name);
        Ok(())
    }
}

/// `# name = value`: a name of letters and digits starting with a letter,
/// a non-empty value, blanks around them ignored.
fn directive(line: &str) -> Option<(&str, &str)> {
    let space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\u{c}' | '\r');
    let rest = line.strip_prefix('#')?.trim_start_matches(space);
    let name_len = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphabetic() || (*i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    let (name, rest) = rest.split_at(name_len);
    let value = rest
        .trim_start_matches(space)
        .strip_prefix('=')?
        .trim_matches(space);
    (!name.is_empty() && !value.is_empty()).then_some((name, value))
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
