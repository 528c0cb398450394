//! A pull's endpoints (`mirrors.rs`: the mirrors in order, the registry's
//! own location last), each connected when first needed and asked in
//! order. A tag is resolved (HEAD) only where tags may be; what it resolved
//! to is then fetched by digest from the endpoint that resolved it and from
//! every endpoint that serves digests — content is verified against its
//! digest wherever it comes from, so a mirror cannot change what a tag
//! names, only serve it.
//!
//! An endpoint that cannot be reached, does not have what is asked for, or
//! fails otherwise is passed over with a warning (one per endpoint and
//! pull, and one more if it sends wrong bytes) and the next one asked;
//! the registry's own error is the one that ends a pull. A mirror that
//! could not be reached, or that sent bytes with the wrong digest, is not
//! asked again in this pull. Stored credentials are looked up for each
//! endpoint's own host; `--creds` goes to the registry itself only, never
//! to a mirror.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use oci_spec::image::Descriptor;

use super::download::{self, Fetched};
use super::manifest::{self, RemoteManifest};
use super::mirrors::Endpoint;
use crate::source::Source;
use crate::transport::auth::Scope;
use crate::transport::client::Client;
use crate::transport::options::ClientOptions;
use img_core::digest::Digest;
use img_core::error::{Error, Kind, Result};
use img_core::progress::Progress;
use img_core::reference::Reference;
use img_store::Store;

/// The endpoints of one pull.
pub struct Sources<'a> {
    slots: Vec<Slot>,
    options: &'a ClientOptions,
    progress: &'a dyn Progress,
    /// The endpoint that resolved the tag, once one did.
    resolved_at: OnceLock<usize>,
}

struct Slot {
    endpoint: Endpoint,
    scope: Scope,
    client: OnceLock<Option<Client>>,
    /// Not to be asked again: unreachable, or it sent wrong bytes.
    given_up: AtomicBool,
    /// Whether passing it over was warned about (once a pull is enough).
    warned: AtomicBool,
}

/// What a tag resolved to.
pub struct Resolved {
    /// The digest of the manifest or index the tag names.
    pub digest: Digest,
    /// The manifest itself, when it had to be fetched to learn its digest
    /// (a registry that does not answer HEAD with it).
    pub manifest: Option<RemoteManifest>,
}

impl<'a> Sources<'a> {
    /// The endpoints, not yet connected.
    pub fn new(
        endpoints: Vec<Endpoint>,
        options: &'a ClientOptions,
        progress: &'a dyn Progress,
    ) -> Sources<'a> {
        let slots = endpoints
            .into_iter()
            .map(|endpoint| Slot {
                scope: Scope::pull(endpoint.reference.repository()),
                endpoint,
                client: OnceLock::new(),
                given_up: AtomicBool::new(false),
                warned: AtomicBool::new(false),
            })
            .collect();
        Sources {
            slots,
            options,
            progress,
            resolved_at: OnceLock::new(),
        }
    }

    /// The digest `tag` names, from the first endpoint that may resolve
    /// tags and knows it: asked with HEAD, which fetches nothing.
    pub fn resolve(&self, tag: &str) -> Result<Resolved> {
        let (at, resolved) = self.attempt(
            |_, slot| slot.endpoint.serves_tags,
            |client, slot| {
                let repository = slot.endpoint.reference.repository();
                if let Some(digest) = manifest::head(client, repository, tag, &slot.scope)? {
                    return Ok(Resolved {
                        digest,
                        manifest: None,
                    });
                }
                let m = manifest::get(client, repository, tag, &slot.scope)?;
                Ok(Resolved {
                    digest: m.digest.clone(),
                    manifest: Some(m),
                })
            },
        )?;
        let _ = self.resolved_at.set(at);
        Ok(resolved)
    }

    /// The manifest or index `digest`, verified.
    pub fn manifest(&self, digest: &Digest) -> Result<RemoteManifest> {
        let wanted = digest.to_string();
        self.attempt(
            |i, slot| self.serves_content(i, slot),
            |client, slot| {
                let repository = slot.endpoint.reference.repository();
                manifest::get(client, repository, &wanted, &slot.scope)
            },
        )
        .map(|(_, m)| m)
    }

    /// Download the blob `descriptor` names into `store` (checked on the way
    /// when it is a `layer`); `report` sees the bytes present, `retrying` is
    /// called before the registry itself is asked a second time after
    /// sending a wrong blob.
    pub fn blob(
        &self,
        store: &Store,
        descriptor: &Descriptor,
        layer: bool,
        report: &dyn Fn(u64),
        retrying: &dyn Fn(),
    ) -> Result<Fetched> {
        self.attempt(
            |i, slot| self.serves_content(i, slot),
            |client, slot| {
                let source = Source {
                    client,
                    repository: slot.endpoint.reference.repository(),
                    scope: &slot.scope,
                };
                match download::fetch(&source, store, descriptor, layer, report) {
                    // The registry itself gets a second chance, as one
                    // broken answer may be the network's doing.
                    Err(e) if e.kind() == Kind::DigestMismatch && !slot.endpoint.mirror => {
                        retrying();
                        download::fetch(&source, store, descriptor, layer, report)
                    }
                    other => other,
                }
            },
        )
        .map(|(_, f)| f)
    }

    /// Every tag of the repository, from the first endpoint that may
    /// resolve tags and lists them.
    pub fn tags(&self) -> Result<Vec<String>> {
        self.attempt(
            |_, slot| slot.endpoint.serves_tags,
            |client, slot| super::search::tags(client, slot.endpoint.reference.repository()),
        )
        .map(|(_, t)| t)
    }

    /// Whether endpoint `i` may serve manifests and blobs by digest.
    fn serves_content(&self, i: usize, slot: &Slot) -> bool {
        slot.endpoint.serves_digests || self.resolved_at.get() == Some(&i)
    }

    /// Run `op` on the eligible endpoints in order until one succeeds;
    /// returns which one did and what it gave.
    fn attempt<T>(
        &self,
        eligible: impl Fn(usize, &Slot) -> bool,
        op: impl Fn(&Client, &Slot) -> Result<T>,
    ) -> Result<(usize, T)> {
        let candidates: Vec<usize> = (0..self.slots.len())
            .filter(|&i| eligible(i, &self.slots[i]))
            .collect();
        let usable = |slot: &Slot| !slot.given_up.load(Ordering::Relaxed);
        let mut last = None;
        for (n, &i) in candidates.iter().enumerate() {
            let slot = &self.slots[i];
            if !usable(slot) {
                continue;
            }
            let e = match self.client(slot).and_then(|client| op(client, slot)) {
                Ok(value) => return Ok((i, value)),
                Err(e) => e,
            };
            let next = candidates[n + 1..]
                .iter()
                .map(|&j| &self.slots[j])
                .find(|s| usable(s));
            let passable = matches!(
                e.kind(),
                Kind::Remote | Kind::NotFound | Kind::DigestMismatch
            );
            let Some(next) = next.filter(|_| passable) else {
                return Err(e);
            };
            let unreachable = slot.client.get().is_some_and(Option::is_none);
            if unreachable || e.kind() == Kind::DigestMismatch {
                // Warned about once, by whichever download found out first.
                if !slot.given_up.swap(true, Ordering::Relaxed) {
                    self.warn(
                        slot,
                        &format!(
                            "{e}; not asking it again in this pull, trying {}",
                            label(next)
                        ),
                    );
                }
            } else if !slot.warned.swap(true, Ordering::Relaxed) {
                self.warn(slot, &format!("{e}; trying {}", label(next)));
            }
            last = Some(e);
        }
        Err(last.unwrap_or_else(|| {
            Error::new(
                Kind::FailedPrecondition,
                "no registry or mirror may serve this pull (check pull-from-mirror in registries.conf)",
            )
        }))
    }

    /// The endpoint's client, connected on first use (a failure is kept).
    fn client<'s>(&self, slot: &'s Slot) -> Result<&'s Client> {
        let mut failure = None;
        let client = slot.client.get_or_init(|| {
            let mut options = self.options.clone();
            if slot.endpoint.mirror {
                options.credentials = None;
            }
            Client::connect(slot.endpoint.registry(), &options)
                .map_err(|e| failure = Some(e))
                .ok()
        });
        client.as_ref().ok_or_else(|| {
            failure.unwrap_or_else(|| {
                Error::new(
                    Kind::Remote,
                    format!(
                        "connecting to registry {}: it could not be reached",
                        slot.endpoint.registry()
                    ),
                )
            })
        })
    }

    fn warn(&self, slot: &Slot, text: &str) {
        let what = if slot.endpoint.mirror { "mirror " } else { "" };
        self.progress
            .warn(&format!("{what}{}: {text}", slot.endpoint.registry()));
    }
}

/// How an endpoint is named in a warning.
fn label(slot: &Slot) -> String {
    if slot.endpoint.mirror {
        format!("mirror {}", slot.endpoint.registry())
    } else {
        slot.endpoint.registry().to_string()
    }
}

/// Every tag of `reference`'s repository, asked where a pull would ask:
/// the mirrors that serve tags, then the registry's location.
/// A mirror passed over is warned about on `progress`.
pub fn tags_via_mirrors(
    reference: &Reference,
    options: &ClientOptions,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    let endpoints = options.registries.pull_endpoints(reference)?;
    Sources::new(endpoints, options, progress).tags()
}
