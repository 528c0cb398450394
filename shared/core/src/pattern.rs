//! Source patterns as Docker reads them: Go's `filepath.Match`, one path
//! element at a time. `*` matches any run of characters, `?` one character,
//! `[a-z]` and `[^a-z]` a class, `\` makes the next character literal; none
//! of them ever matches a `/`, so `dir/*` does not reach into `dir/sub/`
//! and `**` is just two stars. A malformed pattern (`[a`, `[]`, a trailing
//! `\`) is refused before anything is read, where Go would report
//! `ErrBadPattern`.

use crate::error::{Error, Result};

/// One path element of a pattern, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Literal(char),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
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
    /// Compile one path element (no `/` in it); a malformed one is bad input.
    pub fn new(element: &str) -> Result<Pattern> {
        let bad = |why: &str| Error::invalid(format!("malformed pattern {element:?}: {why}"));
        let mut tokens = Vec::new();
        let mut chars = element.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
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
                        if hi < lo {
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

    /// Whether the path element `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        let (mut t, mut n) = (0, 0);
        // Where to resume after the last `*`: its next token, and the name
        // position it has swallowed up to. One resume point is enough,
        // because a later `*` can absorb whatever an earlier one would.
        let mut resume: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.tokens.get(t) {
                Some(Token::Star) => {
                    resume = Some((t + 1, n));
                    t += 1;
                    continue;
                }
                Some(token) if token.matches_char(name[n]) => {
                    t += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
            match resume {
                // A `*` never swallows a separator.
                Some((_, swallowed)) if name[swallowed] == '/' => return false,
                Some((after_star, swallowed)) => {
                    t = after_star;
                    n = swallowed + 1;
                    resume = Some((after_star, swallowed + 1));
                }
                None => return false,
            }
        }
        self.tokens[t..].iter().all(|token| *token == Token::Star)
    }
}

impl Token {
    fn matches_char(&self, c: char) -> bool {
        match self {
            Token::Star => true,
            Token::Any => c != '/',
            Token::Literal(l) => *l == c,
            Token::Class { negated, ranges } => {
                c != '/' && ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
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
    fn whole_paths_match_element_by_element() {
        let p = compile_path("src/*.rs").unwrap();
        assert!(matches_path(&p, "src/main.rs"));
        assert!(!matches_path(&p, "src/sub/main.rs"));
        assert!(!matches_path(&p, "main.rs"));
    }
}
