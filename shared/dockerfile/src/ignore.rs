//! `.dockerignore`: which files of the build context the builder leaves
//! out, as Docker decides (its `patternmatcher`).
//!
//! One pattern a line. A line starting with `#` is a comment; blanks around
//! a pattern are trimmed and empty lines skipped. Patterns are paths
//! relative to the context, cleaned (`./a//b/../c` is `a/c`, a leading `/`
//! dropped), in the syntax of Go's `filepath.Match` (`*` and `?` within one
//! path element, `[a-z]` and `[^a-z]` classes, `\` escaping) plus `**`,
//! which matches any number of elements, none included. A pattern that
//! matches a directory matches everything below it. A leading `!` makes an
//! exception that brings matching paths back. For each path the patterns
//! are tried in order and the last one that matches decides.
//!
//! Exactly which paths are left out is decided as current BuildKit's
//! context transfer decides it (fsutil's walk with patternmatcher's
//! `MatchesUsingParentResults`): a path is matched against the patterns
//! with what its parent directory matched carried down, a pattern not
//! tried at a directory (it could not change the result there) is not
//! carried to what is below it, and an excluded directory is walked into
//! only when an exception may bring something below it back. What is
//! brought back comes with its parent directories.
//!
//! A pattern is read as Docker's patternmatcher reads it: plain text, a
//! `dir/**` prefix and a `**/name` suffix are compared as text (with
//! patternmatcher's own rules: `**.txt` is any path ending in `.txt`), and
//! the rest is matched by `img_core::pattern`, the one engine img has for
//! these patterns.

use img_core::error::{Error, Result};
use img_core::path::normalize;
use img_core::pattern::Pattern as Glob;

/// The patterns of a `.dockerignore` file (or of `COPY --exclude`).
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// A `!` pattern: matching paths are brought back.
    exception: bool,
    /// The pattern as cleaned.
    text: String,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    /// `dir/**`: everything that starts with `dir/`.
    Prefix(String),
    /// `**/name`: everything that ends with `/name`, and `name` itself.
    Suffix(String),
    Glob(Glob),
}

impl Ignore {
    /// Read a `.dockerignore` file.
    pub fn parse(text: &str) -> Result<Ignore> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for line in text.lines() {
            // Only a `#` in the first column starts a comment.
            if line.starts_with('#') {
                continue;
            }
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let mut pattern = match pattern {
                "" => String::new(),
                p => normalize(p),
            };
            if pattern.len() > 1 && pattern.starts_with('/') {
                pattern.remove(0);
            }
            patterns.push(if exception {
                format!("!{pattern}")
            } else {
                pattern
            });
        }
        Ignore::new(&patterns)
    }

    /// Patterns given one by one (`COPY --exclude`), each as a line of a
    /// `.dockerignore` would be after trimming.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Ignore> {
        let mut compiled = Vec::new();
        for given in patterns {
            let given = given.as_ref().trim();
            if given.is_empty() {
                continue;
            }
            let cleaned = normalize(given);
            let (exception, text) = match cleaned.strip_prefix('!') {
                Some("") => {
                    return Err(Error::invalid(
                        "illegal exclusion pattern: \"!\" (a `!` needs a pattern after it)",
                    ))
                }
                Some(rest) => (true, rest.to_string()),
                None => (false, cleaned),
            };
            check_syntax(&text).map_err(|why| {
                Error::invalid(format!(
                    "ignore pattern {given:?}: {why} (patterns use Go's filepath.Match syntax)"
                ))
            })?;
            let matcher = compile(&text)
                .map_err(|why| Error::invalid(format!("ignore pattern {given:?}: {why}")))?;
            compiled.push(Pattern {
                exception,
                text,
                matcher,
            });
        }
        Ok(Ignore { patterns: compiled })
    }

    /// Whether there are no patterns (nothing is excluded).
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The cleaned patterns, exceptions with their `!`, in order.
    pub fn patterns(&self) -> impl Iterator<Item = String> + '_ {
        self.patterns.iter().map(|p| match p.exception {
            true => format!("!{}", p.text),
            false => p.text.clone(),
        })
    }

    /// Whether the path (relative to the context, `/`-separated) is left
    /// out, as BuildKit's walk of the context decides it (see the module
    /// docs). The context root itself never is.
    pub fn excludes(&self, rel_path: &str) -> bool {
        let path = relative(rel_path);
        if path == "." {
            return false;
        }
        // Each directory on the way, then the path itself, as a walk
        // meets them.
        let ends = path
            .match_indices('/')
            .map(|(at, _)| at)
            .chain(std::iter::once(path.len()));
        let mut excluded = false;
        let mut parent: Option<Vec<bool>> = None;
        for end in ends {
            let (here, matched) = self.matches_below(&path[..end], parent.as_deref());
            excluded = here;
            parent = Some(matched);
        }
        excluded
    }

    /// patternmatcher's `MatchesUsingParentResults`: whether `path` is
    /// excluded, given which patterns its parent directory matched
    /// (`None` at the top, where a pattern is also tried on each parent),
    /// and which patterns it matches, for its children.
    fn matches_below(&self, path: &str, parent: Option<&[bool]>) -> (bool, Vec<bool>) {
        let mut excluded = false;
        let mut matched = vec![false; self.patterns.len()];
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut matches = parent.is_some_and(|p| p[i]);
            if !matches {
                // An exception can only bring back what is excluded, and a
                // pattern only exclude what is not: the others are not
                // tried (nor carried down).
                if pattern.exception != excluded {
                    continue;
                }
                matches = pattern.matcher.matches(path);
                if !matches && parent.is_none() {
                    let mut end = 0;
                    while let Some(at) = path[end..].find('/') {
                        end += at;
                        if pattern.matcher.matches(&path[..end]) {
                            matches = true;
                            break;
                        }
                        end += 1;
                    }
                }
            }
            matched[i] = matches;
            if matches {
                excluded = !pattern.exception;
            }
        }
        (excluded, matched)
    }

    /// Whether BuildKit's walk goes into the excluded directory `dir`,
    /// looking for paths an exception brings back; `false` means the
    /// whole directory stays out. With no exceptions it never does; when
    /// every exception is a plain path (a trailing `/*` or `/**` aside)
    /// only into the directories such a path goes through; otherwise into
    /// every one.
    pub fn may_include_below(&self, dir: &str) -> bool {
        let dir = relative(dir);
        let exceptions: Vec<&Pattern> = self.patterns.iter().filter(|p| p.exception).collect();
        if exceptions.is_empty() {
            return false;
        }
        let plain = |p: &&Pattern| {
            !without_trailing_glob(&p.text).contains(['*', '[', ']', '?', '^', '\\'])
        };
        if dir == "." || !exceptions.iter().all(plain) {
            return true;
        }
        let dir_slash = format!("{dir}/");
        exceptions
            .iter()
            .any(|p| format!("{}/", without_trailing_glob(&p.text)).starts_with(&dir_slash))
    }
}

/// A pattern without a trailing `/**` or `/*`, as fsutil compares
/// exceptions with directory paths.
fn without_trailing_glob(pattern: &str) -> &str {
    let pattern = pattern.strip_suffix("/**").unwrap_or(pattern);
    pattern.strip_suffix("/*").unwrap_or(pattern)
}

impl Matcher {
    fn matches(&self, path: &str) -> bool {
        match self {
            Matcher::Exact(text) => path == text,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|name| path == name)
            }
            Matcher::Glob(glob) => glob.matches(path),
        }
    }
}

/// A path as the patterns see it: cleaned, relative to the context.
fn relative(path: &str) -> String {
    let cleaned = normalize(path);
    match cleaned.strip_prefix('/') {
        Some("") => ".".into(),
        Some(rest) => rest.to_string(),
        None => cleaned,
    }
}

/// The matcher for a cleaned pattern: plain text, a `dir/**` prefix, a
/// `**/name` suffix (told apart as patternmatcher tells them), or a glob
/// for the rest.
fn compile(pattern: &str) -> std::result::Result<Matcher, String> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Glob,
    }
    let mut kind = Kind::Exact;
    let mut chars = pattern.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                // `**/` is `**`.
                chars.next_if_eq(&'/');
                kind = match (chars.peek(), kind) {
                    (None, Kind::Exact) => Kind::Prefix,
                    _ => Kind::Glob,
                };
                if first {
                    kind = Kind::Suffix;
                }
            }
            '*' | '?' | '[' | ']' => kind = Kind::Glob,
            '\\' if chars.next().is_some() => kind = Kind::Glob,
            _ => {}
        }
        first = false;
    }
    Ok(match kind {
        Kind::Exact => Matcher::Exact(pattern.to_string()),
        Kind::Prefix => Matcher::Prefix(pattern[..pattern.len() - 2].to_string()),
        Kind::Suffix => Matcher::Suffix(pattern[2..].to_string()),
        Kind::Glob => Matcher::Glob(Glob::globstar(pattern).map_err(|e| e.to_string())?),
    })
}

/// Refuse what Go's `filepath.Match` calls a bad pattern: a trailing `\`,
/// or a character class that is empty, unclosed, or has a range without
/// both ends.
fn check_syntax(pattern: &str) -> std::result::Result<(), String> {
    const BAD: &str = "syntax error in pattern";
    let mut chars = pattern.chars().peekable();
    // One class member, escapes allowed; `-` and `]` cannot start one.
    let member = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| match chars.next() {
        None | Some('-' | ']') => Err(BAD),
        Some('\\') => chars.next().map(|_| ()).ok_or(BAD),
        Some(_) => Ok(()),
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return Err(BAD.into()),
            '[' => {
                chars.next_if_eq(&'^');
                let mut members = 0;
                loop {
                    if members > 0 && chars.next_if_eq(&']').is_some() {
                        break;
                    }
                    member(&mut chars)?;
                    if chars.next_if_eq(&'-').is_some() {
                        member(&mut chars)?;
                    }
                    // A class must be closed before the pattern ends.
                    if chars.peek().is_none() {
                        return Err(BAD.into());
                    }
                    members += 1;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "ignore_tests.rs"]
mod tests;
