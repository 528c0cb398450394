//! The one engine for shell-style patterns, as Go's `filepath.Match` reads
//! them and Docker uses them: `.dockerignore` and `COPY --exclude`
//! (`img_dockerfile::Ignore`), COPY and ADD sources (`img_builder::copy`),
//! and `img-ls --filter reference=` (`img_ops::ls`).
//!
//! `*` matches any run of characters but `/`, `?` one character but `/`,
//! `[a-z]` and `[^a-z]` a class, `\` makes the next character literal. A
//! malformed pattern (`[a`, `[]`, a trailing `\`) is refused before anything
//! is matched, where Go would report `ErrBadPattern`. [`Pattern::new`] reads
//! `**` as Go does (two stars); [`Pattern::globstar`] reads it as Docker's
//! patternmatcher does: any number of path elements (`**/` and a `**`
//! inside a pattern match `(.*/)?`, a final `**` matches everything).
//!
//! Matching runs over the set of text positions each token can reach, so it
//! takes time proportional to the pattern's length times the text's, never
//! more, whatever the stars: a hostile `.dockerignore` cannot make a build
//! hang.

use crate::error::{Error, Result};

/// A compiled pattern: one path element, or a whole `/`-separated path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// `*`: any run of characters but `/`.
    Star,
    /// `?`: one character but `/`.
    Any,
    Literal(char),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    /// Docker's `**` before more pattern: nothing, or anything that ends
    /// with a `/`.
    AnyDirs,
    /// Docker's `**` at the end: anything.
    Rest,
}

/// Whether a path element holds a wildcard (`*`, `?` or `[` not escaped
/// by a `\`): only then is it matched rather than taken as a name.
pub fn has_wildcards(element: &str) -> bool {
    let mut chars = element.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' | '[' => return true,
            _ => {}
        }
    }
    false
}

impl Pattern {
    /// Compile a pattern in Go's `filepath.Match` syntax; a malformed one is
    /// bad input.
    pub fn new(pattern: &str) -> Result<Pattern> {
        Pattern::compile(pattern, false)
    }

    /// Compile a pattern in Docker's `.dockerignore` syntax: Go's, plus
    /// `**` for any number of path elements.
    pub fn globstar(pattern: &str) -> Result<Pattern> {
        Pattern::compile(pattern, true)
    }

    fn compile(pattern: &str, globstar: bool) -> Result<Pattern> {
        let bad = |why: &str| Error::invalid(format!("malformed pattern {pattern:?}: {why}"));
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '*' if globstar && chars.next_if_eq(&'*').is_some() => {
                    // `**/` is `**`.
                    chars.next_if_eq(&'/');
                    match chars.peek() {
                        None => Token::Rest,
                        Some(_) => Token::AnyDirs,
                    }
                }
                '*' => Token::Star,
                '?' => Token::Any,
                '\\' => Token::Literal(chars.next().ok_or_else(|| bad("it ends with a `\\`"))?),
                '[' => {
                    let negated = chars.next_if_eq(&'^').is_some();
                    let mut ranges = Vec::new();
                    loop {
                        let lo = match chars.next() {
                            None => return Err(bad("a `[` is not closed")),
                            Some(']') if !ranges.is_empty() => break,
                            Some(']' | '-') => return Err(bad("a class holds a bare `]` or `-`")),
                            Some('\\') => chars.next().ok_or_else(|| bad("it ends with a `\\`"))?,
                            Some(c) => c,
                        };
                        let hi = if chars.next_if_eq(&'-').is_some() {
                            match chars.next() {
                                None => return Err(bad("a `[` is not closed")),
                                Some(']' | '-') => return Err(bad("a range has no end")),
                                Some('\\') => {
                                    chars.next().ok_or_else(|| bad("it ends with a `\\`"))?
                                }
                                Some(c) => c,
                            }
                        } else {
                            lo
                        };
                        // Go accepts a reversed range (it matches nothing);
                        // img has always refused it in COPY sources, where
                        // it can only be a mistake.
                        if hi < lo && !globstar {
                            return Err(bad("a range ends before it starts"));
                        }
                        ranges.push((lo, hi));
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Literal(c),
            });
        }
        Ok(Pattern { tokens })
    }

    /// Whether `text` (a path element, or a `/`-separated path) matches
    /// the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        // reach[i]: the tokens so far can match exactly text[..i].
        let mut reach = vec![false; text.len() + 1];
        reach[0] = true;
        for token in &self.tokens {
            let mut next = vec![false; text.len() + 1];
            match token {
                Token::Star => {
                    let mut open = false;
                    for i in 0..=text.len() {
                        open |= reach[i];
                        next[i] = open;
                        if text.get(i) == Some(&'/') {
                            open = false;
                        }
                    }
                }
                Token::Rest => {
                    let mut open = false;
                    for i in 0..=text.len() {
                        open |= reach[i];
                        next[i] = open;
                    }
                }
                Token::AnyDirs => {
                    let mut open = false;
                    for i in 0..=text.len() {
                        next[i] = reach[i] || (open && i > 0 && text[i - 1] == '/');
                        open |= reach[i];
                    }
                }
                one => {
                    for i in 0..text.len() {
                        next[i + 1] = reach[i] && one.matches_char(text[i]);
                    }
                }
            }
            if !next.contains(&true) {
                return false;
            }
            reach = next;
        }
        reach[text.len()]
    }
}

impl Token {
    fn matches_char(&self, c: char) -> bool {
        match self {
            Token::Any => c != '/',
            Token::Literal(l) => *l == c,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
            // The runs are matched in `Pattern::matches`.
            Token::Star | Token::AnyDirs | Token::Rest => false,
        }
    }
}

/// Whether the `/`-separated `path` matches the `/`-separated `pattern`
/// element by element, as `filepath.Match` does on whole paths.
pub fn matches_path(pattern: &[Pattern], path: &str) -> bool {
    let names: Vec<&str> = path.split('/').filter(|n| !n.is_empty()).collect();
    names.len() == pattern.len() && pattern.iter().zip(names).all(|(p, n)| p.matches(n))
}

/// Compile a `/`-separated pattern into its elements (empty and `.`
/// elements dropped, as a cleaned path has none).
pub fn compile_path(pattern: &str) -> Result<Vec<Pattern>> {
    pattern
        .split('/')
        .filter(|e| !e.is_empty() && *e != ".")
        .map(Pattern::new)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        Pattern::new(pattern).unwrap().matches(name)
    }

    #[test]
    fn go_match_cases() {
        // Cases from Go's own filepath.Match table.
        assert!(m("abc", "abc"));
        assert!(m("*", "abc"));
        assert!(m("*c", "abc"));
        assert!(!m("a*", "ab/c"));
        assert!(m("a*b*c*d*e*", "axbxcxdxe"));
        assert!(m("ab[c]", "abc"));
        assert!(m("ab[b-d]", "abc"));
        assert!(!m("ab[e-g]", "abc"));
        assert!(!m("ab[^c]", "abc"));
        assert!(!m("ab[^b-d]", "abc"));
        assert!(m("ab[^e-g]", "abc"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "ab"));
        assert!(m("a?b", "a☺b"));
        assert!(m("a[^a]b", "a☺b"));
        assert!(!m("a???b", "a☺b"));
        assert!(m("[\\-]", "-"));
        assert!(m("[x\\-]", "x"));
        assert!(!m("[x\\-]", "z"));
        assert!(m("[\\-x]", "-"));
        assert!(m("*x", "xxx"));
        assert!(!m("a?", "a"));
        assert!(m("a*", "a"));
        assert!(!m("*.txt", "notes.md"));
        assert!(m("*.txt", ".txt"));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for bad in ["[", "[^", "[]a]", "[-]", "[x-]", "a\\", "[a-b-c]", "[z-a]"] {
            let err = Pattern::new(bad).unwrap_err();
            assert_eq!(err.kind(), crate::error::Kind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn wildcards_are_told_apart_from_escapes() {
        assert!(has_wildcards("*.txt"));
        assert!(has_wildcards("a[bc]"));
        assert!(has_wildcards("a?"));
        assert!(!has_wildcards("a\\*b"));
        assert!(!has_wildcards("plain.txt"));
    }

    #[test]
    fn whole_paths_keep_stars_inside_elements() {
        let p = Pattern::new("library/*").unwrap();
        assert!(p.matches("library/busybox"));
        assert!(!p.matches("library/a/b"));
        assert!(Pattern::new("busy*:*").unwrap().matches("busybox:latest"));
        assert!(!Pattern::new("a?c").unwrap().matches("a/c"));
        // Go's `**` is two stars; Docker's crosses elements.
        assert!(!Pattern::new("a/**").unwrap().matches("a/b/c"));
        assert!(Pattern::globstar("a/**").unwrap().matches("a/b/c"));
        assert!(Pattern::globstar("**/c").unwrap().matches("c"));
        assert!(Pattern::globstar("a/**/c").unwrap().matches("a/c"));
        assert!(Pattern::globstar("a/**/c").unwrap().matches("a/b/b/c"));
        assert!(!Pattern::globstar("a/**/c").unwrap().matches("a/bc"));
    }

    #[test]
    fn many_stars_take_linear_time() {
        let p = Pattern::globstar(&"*a".repeat(40)).unwrap();
        let text = "a".repeat(39) + "b";
        let started = std::time::Instant::now();
        assert!(!p.matches(&(text.repeat(50))));
        // A backtracking matcher takes years here; this one microseconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn whole_paths_match_element_by_element() {
        let p = compile_path("src/*.rs").unwrap();
        assert!(matches_path(&p, "src/main.rs"));
        assert!(!matches_path(&p, "src/sub/main.rs"));
        assert!(!matches_path(&p, "main.rs"));
    }
}
