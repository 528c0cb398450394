//! Shell-word expansion as Docker's builder does it (BuildKit's shell
//! lexer): `$VAR` and `${VAR}`; `${VAR:-word}` `${VAR-word}` (default),
//! `${VAR:+word}` `${VAR+word}` (alternative), `${VAR:?message}`
//! `${VAR?message}` (required); `${VAR#pattern}` `${VAR##pattern}`
//! `${VAR%pattern}` `${VAR%%pattern}` (trim) and `${VAR/pattern/text}`
//! `${VAR//pattern/text}` (replace); single quotes (literal), double quotes
//! (only `$` and the escape character are special) and the escape
//! character (`\`, or a backtick under `# escape=`` ` ``).
//!
//! The colon forms treat an empty variable as unset. A variable with no
//! value becomes the empty string, never an error, except under `?`. Word
//! splitting ([`expand_words`], for EXPOSE) splits on unquoted blanks,
//! including those a variable's value brings, and drops empty words.
//!
//! This is not a shell: no command substitution, no arithmetic, no globbing;
//! RUN, CMD and ENTRYPOINT are left to the shell that runs them.

use regex::{NoExpand, Regex};

use img_core::error::{Error, Result};

/// How expansion finds a variable: `Some(value)` when it is set (perhaps to
/// the empty string), `None` when it is not.
pub type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `word` with its variables substituted and its quotes and escapes
/// removed, as one word (blanks inside stay).
pub fn expand_word(word: &str, vars: Vars<'_>, escape: char) -> Result<String> {
    Lexer::new(escape)
        .word(word, vars)
        .map_err(|e| failed(word, &e))
}

/// `word` expanded and then split into words on unquoted blanks, as Docker
/// does for EXPOSE (`EXPOSE $PORTS` with `PORTS="80 443"` is two ports).
pub fn expand_words(word: &str, vars: Vars<'_>, escape: char) -> Result<Vec<String>> {
    Lexer::new(escape)
        .words(word, vars)
        .map_err(|e| failed(word, &e))
}

/// The body of a heredoc expanded as Docker expands COPY and ADD heredocs:
/// variables and `\` escapes are processed, quotes are ordinary characters.
pub(crate) fn expand_heredoc(body: &str, vars: Vars<'_>) -> Result<String> {
    let lexer = Lexer {
        skip_quotes: true,
        ..Lexer::new('\\')
    };
    lexer
        .word(body, vars)
        .map_err(|e| Error::invalid(format!("expanding a heredoc: {e}")))
}

fn failed(word: &str, why: &str) -> Error {
    Error::invalid(format!("expanding {word:?}: {why}"))
}

/// The lexer's switches; BuildKit uses the raw ones to find heredoc
/// delimiters in a line without changing it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lexer {
    /// The escape character.
    pub escape: char,
    /// Keep quote characters in the result.
    pub raw_quotes: bool,
    /// Keep escape characters in the result.
    pub raw_escapes: bool,
    /// Quotes are ordinary characters.
    pub skip_quotes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset: bool,
}

impl Lexer {
    /// The plain lexer of instruction arguments.
    pub(crate) fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_quotes: false,
            skip_unset: false,
        }
    }

    /// One word; the error is the lexer's message.
    pub(crate) fn word(&self, text: &str, vars: Vars<'_>) -> Result<String, String> {
        Ok(self.run(text, vars)?.0)
    }

    /// The words after splitting; the error is the lexer's message.
    pub(crate) fn words(&self, text: &str, vars: Vars<'_>) -> Result<Vec<String>, String> {
        Ok(self.run(text, vars)?.1)
    }

    fn run(&self, text: &str, vars: Vars<'_>) -> Result<(String, Vec<String>), String> {
        let mut scan = Scan {
            chars: text.chars().collect(),
            pos: 0,
            vars,
            lexer: *self,
            raw_escapes: self.raw_escapes,
            depth: 0,
        };
        scan.until(None, self.raw_escapes)
    }
}

/// The words being built: a blank outside quotes ends a word; quoted text
/// never does.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add(&mut self, c: char) {
        if !c.is_whitespace() {
            self.add_raw(c);
        } else if self.in_word && !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
            self.in_word = false;
        }
    }

    fn add_raw(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn add_str(&mut self, s: &str) {
        s.chars().for_each(|c| self.add(c));
    }

    fn add_raw_str(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Scan<'v> {
    chars: Vec<char>,
    pos: usize,
    vars: Vars<'v>,
    lexer: Lexer,
    raw_escapes: bool,
    /// How many `${…}` operands enclose the scan: each is a recursion.
    depth: usize,
}

/// The deepest `${A:-${B:-…}}` nesting read: past it the stack, not the
/// text, would give out.
const MAX_DEPTH: usize = 256;

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += usize::from(c.is_some());
        c
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.vars)(name)
    }

    /// Scan to `stop` (consumed) or the end; the text and its words. Inside
    /// `${…}` the trim and replace patterns keep their escapes.
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let scanned = self.scan_until(stop);
        self.raw_escapes = saved;
        scanned
    }

    fn scan_until(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let value = self.dollar()?;
                    result.push_str(&value);
                    // A variable's value is split like unquoted text.
                    words.add_str(&value);
                }
                '\'' | '"' if !self.lexer.skip_quotes => {
                    let quoted = if c == '\'' {
                        self.single_quoted()?
                    } else {
                        self.double_quoted()?
                    };
                    result.push_str(&quoted);
                    words.add_raw_str(&quoted);
                }
                _ => {
                    self.pos += 1;
                    if c == self.lexer.escape {
                        if self.raw_escapes {
                            words.add_raw(c);
                            result.push(c);
                        }
                        // An escape at the very end escapes nothing.
                        let Some(escaped) = self.next() else { break };
                        words.add_raw(escaped);
                        result.push(escaped);
                    } else {
                        words.add(c);
                        result.push(c);
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            )),
            None => Ok((result, words.finish())),
        }
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        let raw = self.lexer.raw_quotes;
        let mut result = String::new();
        self.pos += 1;
        if raw {
            result.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => {
                    if raw {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        let raw = self.lexer.raw_quotes;
        let escape = self.lexer.escape;
        let mut result = String::new();
        self.pos += 1;
        if raw {
            result.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.pos += 1;
                    if raw {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => result.push_str(&self.dollar()?),
                Some(mut c) => {
                    self.pos += 1;
                    if c == escape {
                        if self.raw_escapes {
                            result.push(c);
                        }
                        match self.peek() {
                            // A lone escape before the end: the missing
                            // quote is reported on the next turn.
                            None => continue,
                            // Only these are escaped inside double quotes;
                            // before anything else the escape is literal.
                            Some(next) if next == '"' || next == '$' || next == escape => {
                                self.pos += 1;
                                c = next;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(c);
                }
            }
        }
    }

    /// A `$` reference, the `$` not yet consumed.
    fn dollar(&mut self) -> Result<String, String> {
        const MISSING_BRACE: &str = "syntax error: missing '}'";
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(MISSING_BRACE.into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            Some(_) => {}
        }
        let name = self.name();
        let Some(c) = self.next() else {
            return Err(MISSING_BRACE.into());
        };
        match c {
            '}' => Ok(match self.get(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let null_is_unset = c == ':';
                let op = if null_is_unset { self.next() } else { Some(c) };
                let Some(op) = op else {
                    return Err(MISSING_BRACE.into());
                };
                let modifier = if null_is_unset {
                    format!(":{op}")
                } else {
                    op.to_string()
                };
                let word = self.operand('}', op == '#' || op == '%', MISSING_BRACE)?;
                let value = self.get(&name);
                if self.lexer.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}{modifier}{word}}}"));
                }
                let unset = value
                    .as_deref()
                    .is_none_or(|v| null_is_unset && v.is_empty());
                match op {
                    '-' if unset => Ok(word),
                    '-' => Ok(value.unwrap_or_default()),
                    '+' if unset => Ok(String::new()),
                    '+' => Ok(word),
                    '?' if unset => {
                        let message = match (&value, word.is_empty()) {
                            (_, false) => word,
                            (None, true) => "is not allowed to be unset".into(),
                            (Some(_), true) => "is not allowed to be empty".into(),
                        };
                        Err(format!("{name}: {message}"))
                    }
                    '?' => Ok(value.unwrap_or_default()),
                    '#' | '%' => {
                        // `#`/`%` remove the shortest match, `##`/`%%` the longest.
                        let (greedy, pattern) = match word.strip_prefix(op) {
                            Some(rest) => (true, rest),
                            None => (false, word.as_str()),
                        };
                        let value = value.unwrap_or_default();
                        if op == '#' {
                            trim_prefix(pattern, &value, greedy)
                        } else {
                            trim_suffix(pattern, &value, greedy)
                        }
                    }
                    _ => Err(format!("unsupported modifier ({modifier}) in substitution")),
                }
            }
            '/' => {
                let all = self.peek() == Some('/');
                self.pos += usize::from(all);
                let pattern = self.operand('/', true, "syntax error: missing '/' in ${}")?;
                let replacement = self.operand('}', true, MISSING_BRACE)?;
                let value = self.get(&name);
                if self.lexer.skip_unset && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                // An unset variable is replaced in as the empty string.
                let value = value.unwrap_or_default();
                let re = shell_pattern(&pattern, true, false)
                    .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
                Ok(if all {
                    re.replace_all(&value, NoExpand(&replacement)).into_owned()
                } else {
                    re.replace(&value, NoExpand(&replacement)).into_owned()
                })
            }
            _ => Err(format!("unsupported modifier ({c}) in substitution")),
        }
    }

    /// The word after a `${NAME` operator, up to `stop`.
    fn operand(&mut self, stop: char, raw_escapes: bool, missing: &str) -> Result<String, String> {
        if self.depth == MAX_DEPTH {
            return Err(format!("substitutions nested more than {MAX_DEPTH} deep"));
        }
        self.depth += 1;
        let scanned = self.until(Some(stop), raw_escapes);
        self.depth -= 1;
        match scanned {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => Err(missing.into()),
            Err(e) => Err(e),
        }
    }

    /// A variable name: letters, digits and `_`; or all digits (`$1`); or
    /// one of the shell's special parameters (`$@`, `$#`, …).
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!') {
                self.pos += 1;
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.pos += 1;
        }
        name
    }
}

/// A shell pattern (`*` any string, `?` one character, `\` escaping `*`, `?`
/// or `\`) as a regular expression; `*` is shortest-match unless `greedy`.
fn shell_pattern(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, String> {
    let mut out = String::from(if anchored { "^" } else { "" });
    let star = if greedy { ".*" } else { ".*?" };
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(star),
            '?' => out.push('.'),
            '\\' => {
                // `\}` and `\/` only kept the `${…}` syntax from ending early;
                // the character itself is what is matched.
                if matches!(chars.peek(), Some('}' | '/')) {
                    continue;
                }
                match chars.next() {
                    Some(e @ ('*' | '?' | '\\')) => {
                        out.push('\\');
                        out.push(e);
                    }
                    Some(e) => return Err(format!("invalid escape '\\{e}'")),
                    None => return Err("invalid escape '\\' at the end".into()),
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    Regex::new(&out).map_err(|e| e.to_string())
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let re = shell_pattern(pattern, greedy, true)
        .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// Trimming the shortest suffix is trimming the shortest prefix of the
/// reversed value with the reversed pattern (escapes kept before the
/// character they escape): regular expressions search from the left.
fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some(e) => tokens.push(format!("\\{e}")),
                None => tokens.push("\\".into()),
            },
            _ => tokens.push(c.to_string()),
        }
    }
    let reversed_pattern: String = tokens.iter().rev().map(String::as_str).collect();
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reversed_pattern, &reversed_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

#[cfg(test)]
#[path = "expand_tests.rs"]
mod tests;
