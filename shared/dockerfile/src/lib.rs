//! # The Dockerfile front end
//!
//! Reading a Dockerfile the way Docker's builder (BuildKit's Dockerfile
//! frontend) reads it, for a build executor to run: no execution here, only
//! the text turned into typed instructions, the shell-word expansion the
//! builder applies to their arguments, and `.dockerignore` matching.
//!
//! Reading happens in layers, one module each:
//!
//! * `parser` — physical lines into logical instructions: parser
//!   directives (`# syntax=`, `# escape=`, `# check=`) only at the very top,
//!   comments, line continuations with the escape character (`\` or a
//!   backtick), empty continuation lines (a warning, as Docker gives),
//!   builder flags (`--from=…`) split off (`flags`), and heredoc bodies
//!   (`<<EOF`, `heredoc`) gathered for RUN, COPY and ADD.
//! * `read` — each instruction's arguments (`words`: JSON or shell form,
//!   `key=value` pairs) into its typed [`Instruction`], with the flags it
//!   takes checked and Docker's error messages.
//! * `expand` — `$VAR`, `${VAR:-word}` and the other forms of BuildKit's
//!   shell lexer, with its quoting and word splitting ([`expand_word`],
//!   [`expand_words`]); [`Instruction::expand`] applies it to exactly the
//!   words Docker expands.
//! * `ignore` — `.dockerignore` patterns ([`Ignore`]).
//!
//! The config side of instructions (what ENV or CMD do to an image config)
//! is [`change::Editor`], shared with `--change`; HEALTHCHECK's options
//! are read by [`healthcheck`].
//!
//! Invariants: [`parse`] either returns a Dockerfile whose every instruction
//! is well formed (it has the arguments and flags it needs) or an
//! [`Error`] of kind `InvalidInput` that names the line, as
//! `Dockerfile:7: unknown instruction: RUNN (did you mean RUN?)`. Words are
//! kept as written (quotes and `$` included) until [`Instruction::expand`]
//! is called with the variables of the moment, because only the executor
//! knows them (ARG and ENV change them from one instruction to the next).

pub mod change;
mod expand;
mod flags;
pub mod healthcheck;
mod heredoc;
mod ignore;
mod instruction;
mod parser;
mod read;
mod words;

pub use expand::{expand_word, expand_words, Vars};
pub use heredoc::Heredoc;
pub use ignore::Ignore;
pub use instruction::{Command, Instruction};

use img_core::error::{Error, Result};

/// A parsed Dockerfile: its directives, the ARGs before the first FROM, and
/// its stages in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    /// The parser directives at the top of the file.
    pub directives: Directives,
    /// The ARG instructions before the first FROM: their values may be used
    /// in FROM lines (and redeclared inside a stage to be used there).
    pub global_args: Vec<Located<Instruction>>,
    /// The build stages, one per FROM, in the order they are written.
    pub stages: Vec<Stage>,
    /// What Docker warns about without refusing the file (empty
    /// continuation lines), each starting with `Dockerfile:LINE:`.
    pub warnings: Vec<String>,
}

/// The parser directives (`# escape=`, `# syntax=`, `# check=`) found at the
/// top of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// The escape character: `\` unless `# escape=` set a backtick.
    pub escape: char,
    /// The `# syntax=` frontend reference, as written (img has one frontend
    /// and reads it only to report it).
    pub syntax: Option<String>,
    /// The `# check=` lint configuration, as written.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
            check: None,
        }
    }
}

/// One build stage: a FROM line and the instructions up to the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// The stage's position, from 0; `--from=0` names the first stage.
    pub index: usize,
    /// The name given by `FROM … AS name`, lowercased as Docker does.
    pub name: Option<String>,
    /// What the stage starts from.
    pub from: Base,
    /// The instructions of the stage, in order.
    pub instructions: Vec<Located<Instruction>>,
    /// The line of the FROM instruction.
    pub line: usize,
}

/// What a stage starts from: the words of its FROM line, unexpanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The image reference, the name of an earlier stage, or `scratch`, as
    /// written (it may use the global ARGs: `FROM alpine:$VERSION`).
    pub image: String,
    /// The `--platform=` flag, as written (`$BUILDPLATFORM` is common).
    pub platform: Option<String>,
}

impl Base {
    /// The image word and the platform with the global ARGs substituted, as
    /// Docker does before it resolves the base.
    pub fn expand(&self, vars: Vars<'_>, escape: char) -> Result<Base> {
        Ok(Base {
            image: expand_word(&self.image, vars, escape)?,
            platform: match &self.platform {
                Some(p) => Some(expand_word(p, vars, escape)?),
                None => None,
            },
        })
    }
}

/// A value read from a Dockerfile, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    /// The line the instruction starts on, from 1.
    pub line: usize,
    /// The instruction as written, continuation lines joined, comments
    /// inside it dropped and surrounding blanks trimmed (heredoc bodies are
    /// not part of it): the text of history entries and cache keys.
    pub original: String,
    /// What was read.
    pub value: T,
}

/// Parse a Dockerfile; errors name the file `Dockerfile`.
pub fn parse(text: &str) -> Result<Dockerfile> {
    parse_named("Dockerfile", text)
}

/// Parse a Dockerfile whose errors name it `name` (the `-f` file's name).
pub fn parse_named(name: &str, text: &str) -> Result<Dockerfile> {
    let at = |line: usize, message: String| Error::invalid(format!("{name}:{line}: {message}"));
    let lines = parser::split(text).map_err(|(line, m)| at(line, m))?;
    let escape = lines.directives.escape;
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for raw in &lines.instructions {
        if raw.keyword.eq_ignore_ascii_case("from") {
            let (from, stage_name) = read::base(raw).map_err(|m| at(raw.line, m))?;
            if let Some(n) = &stage_name {
                if let Some(first) = stages.iter().find(|s| s.name.as_ref() == Some(n)) {
                    return Err(at(
                        raw.line,
                        format!(
                            "duplicate stage name {n:?} (first used on line {}): give each stage its own name",
                            first.line
                        ),
                    ));
                }
            }
            stages.push(Stage {
                index: stages.len(),
                name: stage_name,
                from,
                instructions: Vec::new(),
                line: raw.line,
            });
            continue;
        }
        let located = read::located(raw, escape).map_err(|m| at(raw.line, m))?;
        match stages.last_mut() {
            Some(stage) => stage.instructions.push(located),
            None if matches!(located.value, Instruction::Arg(_)) => global_args.push(located),
            None => {
                return Err(at(
                    raw.line,
                    format!(
                        "{} comes before the first FROM: a Dockerfile starts with FROM \
                         (only ARG may come before it)",
                        raw.keyword
                    ),
                ))
            }
        }
    }
    if stages.is_empty() {
        return Err(match lines.instructions.last() {
            Some(last) => at(
                last.line,
                "the file has no FROM: there is no stage to build".into(),
            ),
            None => at(
                1,
                "the file has no instructions: a Dockerfile needs at least a FROM line".into(),
            ),
        });
    }
    Ok(Dockerfile {
        directives: lines.directives,
        global_args,
        stages,
        warnings: lines
            .warnings
            .into_iter()
            .map(|(line, m)| format!("{name}:{line}: {m}"))
            .collect(),
    })
}

/// Parse one instruction given alone (`CMD ["sh"]`, as `docker commit
/// --change` takes them): no FROM needed, the default escape character,
/// and an error if the text holds no instruction or more than one. The
/// error carries Docker's message without a line number.
pub fn parse_instruction(text: &str) -> Result<Located<Instruction>> {
    let lines = parser::split(text).map_err(|(_, m)| Error::invalid(m))?;
    let raw = match lines.instructions.as_slice() {
        [raw] => raw,
        [] => return Err(Error::invalid("no instruction given")),
        _ => {
            return Err(Error::invalid(
                "more than one instruction given; give one at a time",
            ))
        }
    };
    if raw.keyword.eq_ignore_ascii_case("from") {
        return Err(Error::invalid(
            "FROM starts a stage; it is not an instruction to apply",
        ));
    }
    read::located(raw, lines.directives.escape).map_err(Error::invalid)
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
