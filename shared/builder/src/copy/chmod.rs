//! `--chmod` of COPY and ADD: an octal mode (`755`, `0644`, `4755`) that
//! replaces every copied entry's permission bits, or a symbolic one as
//! `chmod(1)` writes it (`u+x`, `go-w`, `a=rX,u+w`, `+x`) that changes
//! them. A symbolic clause without `u`, `g`, `o` or `a` means `a` (no umask
//! applies, as BuildKit does), and `X` sets execute only on directories and
//! on what already has an execute bit.

use std::fmt;

use img_core::error::{Error, Result};

/// A `--chmod` value, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chmod {
    text: String,
    rule: Rule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    /// The permission bits the clause may touch (`u`, `g`, `o` masks).
    who: u32,
    actions: Vec<(char, Perms)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Perms {
    /// `r`, `w`, `x`, `X`, `s`, `t` letters.
    Letters(String),
    /// `u`, `g` or `o`: the bits that class has now.
    CopyOf(char),
}

const USER: u32 = 0o4700;
const GROUP: u32 = 0o2070;
const OTHER: u32 = 0o1007;

impl Chmod {
    /// Parse `--chmod=VALUE`; anything that is neither octal nor symbolic
    /// is bad input.
    pub fn parse(text: &str) -> Result<Chmod> {
        let rule = if !text.is_empty() && text.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            let mode = u32::from_str_radix(text, 8).ok().filter(|m| *m <= 0o7777);
            Rule::Octal(mode.ok_or_else(|| {
                Error::invalid(format!(
                    "invalid --chmod={text}: an octal mode is at most 7777"
                ))
            })?)
        } else {
            Rule::Symbolic(
                text.split(',')
                    .map(|clause| parse_clause(clause).ok_or_else(|| invalid(text)))
                    .collect::<Result<_>>()?,
            )
        };
        Ok(Chmod {
            text: text.to_string(),
            rule,
        })
    }

    /// The mode an entry whose mode is `mode` gets (permission bits only).
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match &self.rule {
            Rule::Octal(m) => *m,
            Rule::Symbolic(clauses) => clauses
                .iter()
                .fold(mode & 0o7777, |mode, clause| clause.apply(mode, is_dir)),
        }
    }
}

impl fmt::Display for Chmod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Rule::Octal(m) => write!(f, "{m:04o}"),
            Rule::Symbolic(_) => f.write_str(&self.text),
        }
    }
}

fn invalid(text: &str) -> Error {
    Error::invalid(format!(
        "invalid --chmod={text}: expected an octal mode (0755) or a symbolic one (u+x,go-w)"
    ))
}

fn parse_clause(clause: &str) -> Option<Clause> {
    let op_at = clause.find(['+', '-', '='])?;
    let mut who = 0;
    for c in clause[..op_at].chars() {
        who |= match c {
            'u' => USER,
            'g' => GROUP,
            'o' => OTHER,
            'a' => USER | GROUP | OTHER,
            _ => return None,
        };
    }
    if who == 0 {
        who = USER | GROUP | OTHER;
    }
    let mut actions = Vec::new();
    let mut rest = &clause[op_at..];
    while let Some(op) = rest.chars().next() {
        let body = &rest[1..];
        let end = body.find(['+', '-', '=']).unwrap_or(body.len());
        let perms = &body[..end];
        let perms = match perms {
            "u" | "g" | "o" => Perms::CopyOf(perms.chars().next()?),
            _ if perms.chars().all(|c| "rwxXst".contains(c)) => Perms::Letters(perms.into()),
            _ => return None,
        };
        actions.push((op, perms));
        rest = &body[end..];
    }
    Some(Clause { who, actions })
}

impl Clause {
    fn apply(&self, mut mode: u32, is_dir: bool) -> u32 {
        for (op, perms) in &self.actions {
            let bits = match perms {
                Perms::Letters(letters) => letters.chars().fold(0, |bits, c| {
                    bits | match c {
                        'r' => 0o444,
                        'w' => 0o222,
                        'x' => 0o111,
                        'X' if is_dir || mode & 0o111 != 0 => 0o111,
                        's' => 0o6000,
                        't' => 0o1000,
                        _ => 0,
                    }
                }),
                Perms::CopyOf(class) => {
                    // The class's rwx, spread to every class.
                    let rwx = match class {
                        'u' => (mode >> 6) & 7,
                        'g' => (mode >> 3) & 7,
                        _ => mode & 7,
                    };
                    rwx * 0o111
                }
            } & self.who;
            mode = match op {
                '+' => mode | bits,
                '-' => mode & !bits,
                // `=` clears the classes' rwx (and their special bit),
                // then sets what is given.
                _ => (mode & !self.who) | bits,
            };
        }
        mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(text: &str, mode: u32, is_dir: bool) -> u32 {
        Chmod::parse(text).unwrap().apply(mode, is_dir)
    }

    #[test]
    fn octal_replaces_the_mode() {
        assert_eq!(sym("755", 0o600, false), 0o755);
        assert_eq!(sym("0644", 0o777, true), 0o644);
        assert_eq!(sym("4755", 0o600, false), 0o4755);
        assert_eq!(Chmod::parse("644").unwrap().to_string(), "0644");
        assert!(Chmod::parse("17777").is_err());
        assert!(Chmod::parse("0o755").is_err());
    }

    #[test]
    fn symbolic_changes_the_mode() {
        assert_eq!(sym("u+x", 0o644, false), 0o744);
        assert_eq!(sym("+x", 0o644, false), 0o755);
        assert_eq!(sym("go-w", 0o666, false), 0o644);
        assert_eq!(sym("a=r,u+w", 0o777, false), 0o644);
        assert_eq!(sym("o=", 0o777, false), 0o770);
        assert_eq!(sym("g=u", 0o740, false), 0o770);
        assert_eq!(sym("u+s", 0o755, false), 0o4755);
    }

    #[test]
    fn capital_x_is_for_directories_and_executables() {
        assert_eq!(sym("a+X", 0o644, false), 0o644);
        assert_eq!(sym("a+X", 0o644, true), 0o755);
        assert_eq!(sym("a+X", 0o744, false), 0o755);
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in ["", "u+q", "z+x", "u", "rwx", "u+x,"] {
            let err = Chmod::parse(bad).unwrap_err();
            assert_eq!(err.kind(), img_core::error::Kind::InvalidInput, "{bad}");
        }
    }
}
