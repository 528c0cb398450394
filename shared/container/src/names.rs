//! Docker-style container names: `adjective_surname`, from two short lists
//! (the surnames of scientists and engineers, as Docker's generator uses),
//! with a number appended when the plain name is taken.

use img_core::error::{Error, Result};

const ADJECTIVES: &[&str] = &[
    "admiring",
    "brave",
    "busy",
    "clever",
    "dazzling",
    "eager",
    "elegant",
    "festive",
    "focused",
    "gifted",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "kind",
    "laughing",
    "loving",
    "modest",
    "nifty",
    "peaceful",
    "practical",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "trusting",
    "vibrant",
    "wizardly",
    "youthful",
    "zealous",
];

const SURNAMES: &[&str] = &[
    "archimedes",
    "babbage",
    "bardeen",
    "borg",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "faraday",
    "feynman",
    "galileo",
    "goldberg",
    "hamilton",
    "hopper",
    "hypatia",
    "johnson",
    "kepler",
    "knuth",
    "lamport",
    "liskov",
    "lovelace",
    "mccarthy",
    "meitner",
    "newton",
    "noether",
    "pasteur",
    "ritchie",
    "shannon",
    "thompson",
    "turing",
    "wozniak",
];

/// A name no container in `taken` has, chosen at random.
pub fn generate(taken: &[String]) -> Result<String> {
    let mut bytes = [0u8; 2];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| Error::io("reading random bytes for a container name", e.into()))?;
    let base = format!(
        "{}_{}",
        ADJECTIVES[usize::from(bytes[0]) % ADJECTIVES.len()],
        SURNAMES[usize::from(bytes[1]) % SURNAMES.len()]
    );
    let mut name = base.clone();
    let mut n = 1;
    while taken.contains(&name) {
        name = format!("{base}{n}");
        n += 1;
    }
    Ok(name)
}

/// Check a name the user gave (`--name`), with Docker's rule:
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn check(name: &str) -> Result<&str> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(name)
    } else {
        Err(Error::invalid(format!(
            "invalid container name ({name:?}): only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_avoid_taken_ones() {
        let name = generate(&[]).unwrap();
        let (adjective, surname) = name.split_once('_').unwrap();
        assert!(ADJECTIVES.contains(&adjective) && SURNAMES.contains(&surname));
        // Every plain name taken: a number is appended.
        let all: Vec<String> = ADJECTIVES
            .iter()
            .flat_map(|a| SURNAMES.iter().map(move |s| format!("{a}_{s}")))
            .collect();
        let numbered = generate(&all).unwrap();
        assert!(numbered.ends_with('1'), "{numbered}");
    }

    #[test]
    fn user_names_follow_dockers_rule() {
        assert_eq!(check("/web-1.a_b").unwrap(), "web-1.a_b");
        assert!(check("").is_err());
        assert!(check("-x").is_err());
        assert!(check("a b").is_err());
        assert!(check("a/b").is_err());
    }
}
