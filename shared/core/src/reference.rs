//! Image references, `[REGISTRY/][REPOSITORY/]IMAGE[:TAG][@DIGEST]`, parsed and
//! normalized the way Docker does (distribution/reference): the registry
//! defaults to `docker.io`, a one-part name there gets `library/`, and the tag
//! defaults to `latest` unless a digest pins the image. A first part is a
//! registry when it holds a `.` or `:`, is `localhost`, or has an uppercase
//! letter; the repository path must be lowercase.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::digest::{self, Digest};
use crate::error::{Error, Result};

/// The registry a name without one belongs to.
pub const DEFAULT_REGISTRY: &str = "docker.io";
/// The tag a name without tag or digest gets.
pub const DEFAULT_TAG: &str = "latest";
const NAME_MAX: usize = 255;

static COMPONENT: LazyLock<Regex> =
    LazyLock::new(|| regex_or_bug(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$"));
// ASCII only, as Docker's `\w` (Go's regexp) is; the length is checked
// apart, because a counted repetition of a class costs tens of milliseconds
// to compile at every program's start.
static TAG: LazyLock<Regex> = LazyLock::new(|| regex_or_bug(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"));
static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    regex_or_bug(
        r"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$",
    )
});

fn regex_or_bug(pattern: &str) -> Regex {
    // The patterns are constants of this module, covered by its tests.
    #[allow(clippy::unwrap_used)]
    Regex::new(pattern).unwrap()
}

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Parse `name` as a new name for an image: a name@digest cannot be
/// given, only found, so the name must carry a tag; and a name that is 64
/// hex digits would read as an image ID (both Docker's rules).
pub fn new_name(name: &str) -> Result<Reference> {
    if name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(Error::invalid(format!(
            "invalid repository name ({name}), cannot specify 64-byte hexadecimal strings"
        )));
    }
    let reference = Reference::parse(name)?;
    if reference.tag().is_none() {
        return Err(Error::invalid(format!(
            "cannot name an image with a digest reference {name:?}: give the new name a tag"
        )));
    }
    Ok(reference)
}

impl Reference {
    /// Parse and normalize `text`; a missing tag becomes `latest` unless a
    /// digest is given.
    pub fn parse(text: &str) -> Result<Reference> {
        let bad = |why: &str| Error::invalid(format!("invalid reference {text:?}: {why}"));
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(digest::parse(d).map_err(|e| bad(&e.to_string()))?),
            ),
            None => (text, None),
        };
        // A tag is what follows the last ':' when no '/' comes after it
        // (a ':' before a '/' is a registry port).
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(tag) = tag {
            if tag.len() > 128 {
                return Err(bad("tag is longer than 128 characters"));
            }
            if !TAG.is_match(tag) {
                return Err(bad(&format!(
                    "tag {tag:?} may hold only letters, digits, '_', '.' and '-', and must not start with '.' or '-'"
                )));
            }
        }
        if name.is_empty() {
            return Err(bad("the image name is empty"));
        }
        let (registry, path) = split_registry(name);
        if let Some(registry) = &registry {
            if !DOMAIN.is_match(registry) {
                return Err(bad(&format!(
                    "registry {registry:?} is not a valid host[:port]"
                )));
            }
        }
        if path.is_empty() {
            return Err(bad("the image name is empty"));
        }
        if path.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase"));
        }
        for component in path.split('/') {
            if component.is_empty() {
                return Err(bad(
                    "the name has an empty part (a leading, trailing or double '/')",
                ));
            }
            if !COMPONENT.is_match(component) {
                return Err(bad(&format!(
                    "{component:?} is not a valid name part: use lowercase letters, digits and single separators (., _, __, -)"
                )));
            }
        }
        let registry = match registry {
            None => DEFAULT_REGISTRY.to_string(),
            Some(r) if r == "index.docker.io" => DEFAULT_REGISTRY.to_string(),
            Some(r) => r,
        };
        let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        // Docker measures the normalized name, `docker.io/library/` and
        // all: a shorter one written would be stored under a name that
        // does not read back.
        let full = registry.len() + 1 + repository.len();
        if full > NAME_MAX {
            return Err(bad(&format!(
                "the name is longer than 255 characters ({full} as {registry}/{}…)",
                &repository[..repository.len().min(12)]
            )));
        }
        let tag = match (tag, &digest) {
            (Some(t), _) => Some(t.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// A reference to `repository` (already normalized) with a tag.
    pub fn with_tag(&self, tag: &str) -> Result<Reference> {
        Reference::parse(&format!("{}:{tag}", self.name()))
    }

    /// This repository pinned to `digest`, without a tag.
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            registry: self.registry.clone(),
            repository: self.repository.clone(),
            tag: None,
            digest: Some(digest),
        }
    }

    /// The registry host[:port], e.g. `docker.io`.
    pub fn registry(&self) -> &str {
        &self.registry
    }
    /// The repository path within the registry, e.g. `library/busybox`.
    pub fn repository(&self) -> &str {
        &self.repository
    }
    /// The tag, when one was given or defaulted.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }
    /// The digest, when the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The name as Docker shows it: `busybox`, `user/app`, `localhost:5000/x`.
    pub fn familiar_name(&self) -> String {
        if self.registry == DEFAULT_REGISTRY {
            match self.repository.strip_prefix("library/") {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.repository.clone(),
            }
        } else {
            self.name()
        }
    }

    /// The familiar name with tag (`busybox:latest`), as `docker images` and
    /// `docker rmi` print it; with `@digest` when there is no tag.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        } else if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d.as_ref());
        }
        s
    }

    /// The reference as a name in the store: `name:tag`, or `name@digest` when
    /// there is no tag. The digest of a `name:tag@digest` reference selects an
    /// image but is not part of the stored name.
    pub fn store_name(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => format!("{}:{tag}", self.name()),
            (None, Some(d)) => format!("{}@{d}", self.name()),
            // Parsing gives every reference a tag or a digest.
            (None, None) => format!("{}:{DEFAULT_TAG}", self.name()),
        }
    }
}

/// Whether `text` is a registry `host[:port]` as references spell one
/// (a DNS name or `[IPv6]`, with an optional port).
pub fn is_registry_host(text: &str) -> bool {
    DOMAIN.is_match(text)
}

/// Split off the registry part, Docker's way: the first part is a registry
/// when it contains `.` or `:`, is `localhost`, or has uppercase letters.
fn split_registry(name: &str) -> (Option<String>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.chars().any(|c| c.is_ascii_uppercase()) =>
        {
            (Some(first.to_string()), rest)
        }
        _ => (None, name),
    }
}

impl fmt::Display for Reference {
    /// The full normalized form: `docker.io/library/busybox:latest`,
    /// `name:tag@digest` when both are present.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Reference> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "7e62a690ebc9477a7e62a690ebc9477a7e62a690ebc9477a7e62a690ebc9477a";

    #[test]
    fn normalizes_like_docker() {
        let d = format!("sha256:{HEX}");
        let cases: &[(&str, &str, &str)] = &[
            (
                "busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "library/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/busybox",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "docker.io/library/busybox:latest",
                "docker.io/library/busybox:latest",
                "busybox:latest",
            ),
            (
                "index.docker.io/library/busybox:1",
                "docker.io/library/busybox:1",
                "busybox:1",
            ),
            ("user/app:v2", "docker.io/user/app:v2", "user/app:v2"),
            ("localhost/x", "localhost/x:latest", "localhost/x:latest"),
            (
                "localhost:5000/a/b:c",
                "localhost:5000/a/b:c",
                "localhost:5000/a/b:c",
            ),
            (
                "registry.example.com/team/app:1.2",
                "registry.example.com/team/app:1.2",
                "registry.example.com/team/app:1.2",
            ),
            ("[::1]:5000/x", "[::1]:5000/x:latest", "[::1]:5000/x:latest"),
            ("Foo/bar", "Foo/bar:latest", "Foo/bar:latest"),
            (
                "a__b-c/e--f.g:T_1.x",
                "docker.io/a__b-c/e--f.g:T_1.x",
                "a__b-c/e--f.g:T_1.x",
            ),
            // Found by the reference fuzz target: a Docker Hub path whose
            // first part looks like a host is shown as Docker's
            // FamiliarString shows it, though that text names another
            // registry; the store keeps the full name, which reads back.
            (
                "docker.io/my.org/app",
                "docker.io/my.org/app:latest",
                "my.org/app:latest",
            ),
        ];
        for (input, full, familiar) in cases {
            let r = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), *full, "{input}");
            assert_eq!(r.familiar(), *familiar, "{input}");
            assert_eq!(Reference::parse(&r.store_name()).unwrap(), r, "{input}");
        }
        let r = Reference::parse(&format!("name@{d}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/name@{d}"));
        assert_eq!(r.tag(), None);
        assert_eq!(r.store_name(), format!("docker.io/library/name@{d}"));
        let r = Reference::parse(&format!("name:tag@{d}")).unwrap();
        assert_eq!(r.tag(), Some("tag"));
        assert_eq!(r.digest().unwrap().to_string(), d);
        assert_eq!(r.store_name(), "docker.io/library/name:tag");
    }

    /// Found by the reference fuzz target: the 255-character limit is on
    /// the normalized name, as Docker's ParseNormalizedNamed applies it, so
    /// that every name the store keeps reads back.
    #[test]
    fn the_length_limit_counts_the_normalized_name() {
        // docker.io/library/ is 18 characters.
        let fits = "a".repeat(237);
        let r = Reference::parse(&fits).unwrap();
        assert_eq!(r.name().len(), 255);
        assert_eq!(Reference::parse(&r.store_name()).unwrap(), r);
        let err = Reference::parse(&"a".repeat(238)).unwrap_err();
        assert!(err.to_string().contains("longer than 255"), "{err}");
        let path = format!("team/{}", "b".repeat(241));
        assert!(Reference::parse(&path).is_err(), "docker.io/ makes it 255+");
        assert!(Reference::parse(&format!("example.com/{}", "c".repeat(243))).is_ok());
    }

    #[test]
    fn rejects_with_reasons() {
        let long_tag = format!("x:{}", "t".repeat(129));
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("Busybox", "lowercase"),
            ("docker.io/Busybox", "lowercase"),
            ("a//b", "empty part"),
            ("/a", "empty"),
            ("a/", "empty part"),
            (":tag", "empty"),
            ("a:", "tag"),
            ("a:-x", "tag"),
            ("a:t$g", "tag"),
            ("a:caf\u{e9}", "tag"),
            (&long_tag, "128"),
            ("a@sha256:abc", "digest"),
            ("a@md5:0123", "sha256"),
            ("a-/b", "valid name part"),
            ("a..b", "valid name part"),
        ];
        for (input, why) in cases {
            let err = Reference::parse(input).expect_err(input);
            assert!(err.to_string().contains(why), "{input}: {err}");
            assert_eq!(err.kind(), crate::error::Kind::InvalidInput);
        }
        let long = format!("{}:1", "a".repeat(256));
        assert!(Reference::parse(&long).is_err());
    }

    #[test]
    fn new_names_follow_dockers_rules() {
        let hex = "0123456789abcdef".repeat(4);
        let err = new_name(&hex).unwrap_err();
        assert_eq!(err.kind(), crate::Kind::InvalidInput);
        assert!(err.to_string().contains("64-byte hexadecimal"), "{err}");
        // with a tag or a path it names a repository, as current Docker has it
        assert!(new_name(&format!("{hex}:1")).is_ok());
        assert!(new_name(&format!("team/{hex}")).is_ok());
        assert_eq!(new_name("busybox").unwrap().tag(), Some("latest"));
        assert!(new_name(&format!("busybox@sha256:{hex}")).is_err());
    }
}
