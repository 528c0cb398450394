//! What `registries.conf` means for one image: the `[[registry]]` table
//! whose prefix matches the reference longest (`*.domain` prefixes match
//! every host below the domain), and from it the endpoints a pull tries —
//! the mirrors in order, then the registry's own location — or the one a
//! push goes to (its location: pushes never go to mirrors). A reference is
//! rewritten for each endpoint by putting the endpoint's location in place
//! of the matched prefix (`docker.io/library/busybox:1` with a mirror at
//! `mirror.local/hub` is `mirror.local/hub/library/busybox:1` there). A
//! blocked table refuses both.
//!
//! `--registry-mirror URL` adds a Docker Hub mirror for one run, as
//! dockerd's `registry-mirrors` does, tried before the configured ones.

use super::registries_conf::{check_location, Mirror, PullFrom, RegistriesConf, RegistryTable};
use img_core::error::{Error, Kind, Result};
use img_core::reference::{Reference, DEFAULT_REGISTRY};

/// One place a pull may get an image from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The image as this endpoint names it.
    pub reference: Reference,
    /// Whether it is a mirror (else the registry's own location).
    pub mirror: bool,
    /// Whether a tag may be resolved here.
    pub serves_tags: bool,
    /// Whether manifests and blobs may be fetched here by digest.
    pub serves_digests: bool,
}

impl Endpoint {
    /// `host[:port]` for messages.
    pub fn registry(&self) -> &str {
        self.reference.registry()
    }
}

impl RegistriesConf {
    /// The table that applies to `reference`, and how much of the
    /// reference's text its prefix matched.
    pub fn find(&self, reference: &Reference) -> Option<(&RegistryTable, usize)> {
        let text = reference.to_string();
        self.tables
            .iter()
            .filter_map(|t| matched_len(&text, &t.prefix).map(|n| (t, n)))
            .max_by_key(|(t, _)| t.prefix.len())
    }

    /// Where a pull of `reference` may go, mirrors first, the registry last.
    /// Each says whether it may resolve tags and serve content by digest; a
    /// blocked registry is refused.
    pub fn pull_endpoints(&self, reference: &Reference) -> Result<Vec<Endpoint>> {
        let found = self.find(reference);
        let hub = if reference.registry() == DEFAULT_REGISTRY {
            self.hub_mirrors.as_slice()
        } else {
            &[]
        };
        let Some((table, matched)) = found else {
            let mut endpoints = mirror_endpoints(reference, hub, DEFAULT_REGISTRY.len(), false)?;
            endpoints.push(primary(reference.clone()));
            return Ok(endpoints);
        };
        refuse_blocked(table, reference)?;
        let mut endpoints = if hub.is_empty() {
            Vec::new()
        } else {
            // Flag mirrors stand for the whole of docker.io, whatever
            // table matched.
            mirror_endpoints(reference, hub, DEFAULT_REGISTRY.len(), false)?
        };
        let configured = rewrite_all(&table.mirrors, reference, matched, table)?;
        let by_digest_only = table.mirror_by_digest_only;
        endpoints.extend(mirror_endpoints_from(configured, by_digest_only));
        endpoints.push(primary(rewrite(
            reference,
            matched,
            &table.location,
            table,
        )?));
        Ok(endpoints)
    }

    /// Where a push of `reference` goes: the registry's location, never a
    /// mirror; a blocked registry is refused.
    pub fn push_reference(&self, reference: &Reference) -> Result<Reference> {
        match self.find(reference) {
            None => Ok(reference.clone()),
            Some((table, matched)) => {
                refuse_blocked(table, reference)?;
                rewrite(reference, matched, &table.location, table)
            }
        }
    }

    /// Refuse `host` (a registry to search or list) when a table for it is blocked.
    pub fn check_host(&self, host: &str) -> Result<()> {
        let probe = Reference::parse(&format!("{host}/x"))?;
        if let Some((table, _)) = self.find(&probe) {
            if table.blocked && probe.registry() == host {
                return Err(blocked_error(table, host));
            }
        }
        Ok(())
    }

    /// Whether `host` (`host[:port]`) is insecure: a table's location or a
    /// mirror there says so (plain HTTP and unverified TLS are allowed).
    pub fn insecure(&self, host: &str) -> bool {
        let at = |location: &str| location.split('/').next() == Some(host);
        let probe = format!("{host}/");
        self.tables.iter().any(|t| {
            let own = if t.location.is_empty() {
                matched_len(&probe, &t.prefix).is_some()
            } else {
                at(&t.location)
            };
            (t.insecure && own) || t.mirrors.iter().any(|m| m.insecure && at(&m.location))
        }) || self
            .hub_mirrors
            .iter()
            .any(|m| m.insecure && at(&m.location))
    }

    /// Add a Docker Hub mirror for this run: `--registry-mirror
    /// [http[s]://]host[:port]` (`http://` allows plain HTTP there).
    pub fn add_hub_mirror(&mut self, url: &str) -> Result<()> {
        let bad = |why: &str| Error::invalid(format!("--registry-mirror {url:?}: {why}"));
        let (insecure, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (false, rest)
        } else if url.contains("://") {
            return Err(bad("the scheme must be http or https"));
        } else {
            (false, url)
        };
        let host = rest.trim_end_matches('/');
        if host.contains(['/', '?', '#', '@']) {
            return Err(bad(
                "give scheme://host[:port] only (no path: a mirror serves Docker Hub's repositories under /v2/ as they are)",
            ));
        }
        check_location(host).map_err(|why| bad(&why))?;
        self.hub_mirrors.push(Mirror {
            location: host.to_string(),
            insecure,
            pull_from: PullFrom::All,
        });
        Ok(())
    }
}

/// The length of the part of `text` (a reference in full) that `prefix`
/// matches: whole, or followed by `/`, `:` or `@`; `*.domain` matches a
/// host ending in `.domain`.
fn matched_len(text: &str, prefix: &str) -> Option<usize> {
    let end = if let Some(domain) = prefix.strip_prefix('*') {
        // ".domain" must end the host part.
        let at = text.find(domain)?;
        if text[..at].contains('/') || at == 0 {
            return None;
        }
        at + domain.len()
    } else {
        if !text.starts_with(prefix) {
            return None;
        }
        prefix.len()
    };
    match text.as_bytes().get(end) {
        None | Some(b'/' | b':' | b'@') => Some(end),
        Some(_) => None,
    }
}

fn refuse_blocked(table: &RegistryTable, reference: &Reference) -> Result<()> {
    if table.blocked {
        return Err(blocked_error(table, &reference.familiar()));
    }
    Ok(())
}

fn blocked_error(table: &RegistryTable, what: &str) -> Error {
    Error::new(
        Kind::FailedPrecondition,
        format!(
            "{what} is blocked: [[registry]] prefix {:?} in {} says blocked = true",
            table.prefix,
            table.file.display()
        ),
    )
}

/// `reference` with `location` in place of its first `matched` bytes (as
/// it is when `location` is empty: a wildcard table).
fn rewrite(
    reference: &Reference,
    matched: usize,
    location: &str,
    table: &RegistryTable,
) -> Result<Reference> {
    if location.is_empty() {
        return Ok(reference.clone());
    }
    let text = reference.to_string();
    let rewritten = format!("{location}{}", &text[matched..]);
    Reference::parse(&rewritten).map_err(|e| {
        e.context(format!(
            "{} rewritten by [[registry]] prefix {:?} in {}",
            reference.familiar(),
            table.prefix,
            table.file.display()
        ))
    })
}

fn rewrite_all(
    mirrors: &[Mirror],
    reference: &Reference,
    matched: usize,
    table: &RegistryTable,
) -> Result<Vec<(Reference, PullFrom)>> {
    mirrors
        .iter()
        .map(|m| {
            Ok((
                rewrite(reference, matched, &m.location, table)?,
                m.pull_from,
            ))
        })
        .collect()
}

fn mirror_endpoints(
    reference: &Reference,
    mirrors: &[Mirror],
    matched: usize,
    by_digest_only: bool,
) -> Result<Vec<Endpoint>> {
    let rewritten = mirrors
        .iter()
        .map(|m| {
            let text = reference.to_string();
            let r = Reference::parse(&format!("{}{}", m.location, &text[matched..]))
                .map_err(|e| e.context(format!("--registry-mirror {}", m.location)))?;
            Ok((r, m.pull_from))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(mirror_endpoints_from(rewritten, by_digest_only).collect())
}

fn mirror_endpoints_from(
    mirrors: Vec<(Reference, PullFrom)>,
    by_digest_only: bool,
) -> impl Iterator<Item = Endpoint> {
    mirrors
        .into_iter()
        .map(move |(reference, pull_from)| Endpoint {
            reference,
            mirror: true,
            serves_tags: !by_digest_only && pull_from != PullFrom::DigestOnly,
            serves_digests: pull_from != PullFrom::TagOnly,
        })
}

fn primary(reference: Reference) -> Endpoint {
    Endpoint {
        reference,
        mirror: false,
        serves_tags: true,
        serves_digests: true,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn conf(text: &str) -> RegistriesConf {
        RegistriesConf::parse(text, Path::new("test.conf")).unwrap()
    }

    fn hosts(endpoints: &[Endpoint]) -> Vec<String> {
        endpoints.iter().map(|e| e.reference.to_string()).collect()
    }

    #[test]
    fn prefixes_match_whole_parts_and_the_longest_wins() {
        assert_eq!(
            matched_len("example.com/foo/bar:1", "example.com"),
            Some(11)
        );
        assert_eq!(
            matched_len("example.com/foo/bar:1", "example.com/foo"),
            Some(15)
        );
        assert_eq!(matched_len("example.com/foobar:1", "example.com/foo"), None);
        assert_eq!(matched_len("example.com:5000/x:1", "example.com"), Some(11));
        assert_eq!(
            matched_len("a.b.example.com/x:1", "*.example.com"),
            Some(15)
        );
        assert_eq!(matched_len("example.com/x:1", "*.example.com"), None);
        assert_eq!(
            matched_len("other.com/a.example.com:1", "*.example.com"),
            None
        );
        let c = conf(
            "[[registry]]\nprefix=\"example.com\"\nlocation=\"one.example.com\"\n[[registry]]\nprefix=\"example.com/foo\"\nlocation=\"two.example.com/bar\"\n",
        );
        let r = Reference::parse("example.com/foo/app:1").unwrap();
        let endpoints = c.pull_endpoints(&r).unwrap();
        assert_eq!(hosts(&endpoints), ["two.example.com/bar/app:1"]);
        let r = Reference::parse("example.com/other/app:1").unwrap();
        assert_eq!(
            c.push_reference(&r).unwrap().to_string(),
            "one.example.com/other/app:1"
        );
    }

    #[test]
    fn mirrors_come_first_by_the_kind_of_pull() {
        let c = conf(
            r#"
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "all.local:5000/hub"
[[registry.mirror]]
location = "digests.local"
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "tags.local"
pull-from-mirror = "tag-only"
"#,
        );
        let tag = Reference::parse("busybox:1").unwrap();
        let endpoints = c.pull_endpoints(&tag).unwrap();
        assert_eq!(
            hosts(&endpoints),
            [
                "all.local:5000/hub/library/busybox:1",
                "digests.local/library/busybox:1",
                "tags.local/library/busybox:1",
                "docker.io/library/busybox:1"
            ]
        );
        let tags: Vec<bool> = endpoints.iter().map(|e| e.serves_tags).collect();
        let digests: Vec<bool> = endpoints.iter().map(|e| e.serves_digests).collect();
        assert_eq!(tags, [true, false, true, true]);
        assert_eq!(digests, [true, true, false, true]);
        assert!(endpoints[..3].iter().all(|e| e.mirror) && !endpoints[3].mirror);
        // Pushes go to the location only.
        assert_eq!(
            c.push_reference(&tag).unwrap().to_string(),
            "docker.io/library/busybox:1"
        );
    }

    #[test]
    fn mirror_by_digest_only_keeps_tags_at_the_registry() {
        let c = conf(
            "[[registry]]\nlocation=\"quay.io\"\nmirror-by-digest-only=true\n[[registry.mirror]]\nlocation=\"m.local\"\n",
        );
        let e = c
            .pull_endpoints(&Reference::parse("quay.io/a/b:1").unwrap())
            .unwrap();
        assert!(!e[0].serves_tags && e[0].serves_digests);
    }

    #[test]
    fn blocked_registries_are_refused_for_pulls_and_pushes() {
        let c = conf("[[registry]]\nlocation=\"bad.example\"\nblocked=true\n");
        let r = Reference::parse("bad.example/x:1").unwrap();
        let e = c.pull_endpoints(&r).unwrap_err();
        assert_eq!(e.kind(), Kind::FailedPrecondition);
        assert!(e.to_string().contains("blocked"), "{e}");
        assert!(e.to_string().contains("test.conf"), "{e}");
        assert!(c.push_reference(&r).is_err());
        assert!(c.check_host("bad.example").is_err());
        assert!(c.check_host("good.example").is_ok());
    }

    #[test]
    fn wildcards_keep_the_reference_and_apply_settings() {
        let c = conf("[[registry]]\nprefix=\"*.corp.example\"\ninsecure=true\n[[registry.mirror]]\nlocation=\"cache.local\"\n");
        let r = Reference::parse("reg.corp.example/team/app:2").unwrap();
        assert_eq!(
            hosts(&c.pull_endpoints(&r).unwrap()),
            ["cache.local/team/app:2", "reg.corp.example/team/app:2"]
        );
        assert!(c.insecure("reg.corp.example:5000"));
        assert!(!c.insecure("cache.local"));
        assert!(!c.insecure("corp.example"));
    }

    #[test]
    fn hub_mirrors_from_the_command_line() {
        let mut c = RegistriesConf::default();
        c.add_hub_mirror("http://127.0.0.1:5001").unwrap();
        let e = c.pull_endpoints(&Reference::parse("busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000").unwrap()).unwrap();
        assert_eq!(e[0].reference.registry(), "127.0.0.1:5001");
        assert_eq!(e[0].reference.repository(), "library/busybox");
        assert!(c.insecure("127.0.0.1:5001"));
        // Other registries have no Hub mirror.
        let e = c
            .pull_endpoints(&Reference::parse("quay.io/a:1").unwrap())
            .unwrap();
        assert_eq!(e.len(), 1);
        for bad in ["ftp://x.org", "https://mirror.local/path", "nohost"] {
            assert!(c.add_hub_mirror(bad).is_err(), "{bad}");
        }
    }
}
