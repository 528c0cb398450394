//! Finding images the way Docker does: by name (`busybox`, `busybox:1`), by
//! `name@sha256:…` (the manifest digest), by IMAGE ID (the config digest,
//! `sha256:` optional) or by an unambiguous prefix of it. A name wins over an
//! ID prefix that looks the same (`abc123` is also a valid name).

use oci_spec::image::Descriptor;

use super::{Entry, Store};
use img_core::digest::Digest;
use img_core::error::{Error, Kind, Result};
use img_core::image::Target;
use img_core::record;
use img_core::record::REF_NAME;
use img_core::reference::Reference;

/// An image a program was asked to work on.
#[derive(Debug, Clone)]
pub enum ImageArg {
    /// A reference or ID from the command line.
    Query(String),
    /// A record read from stdin.
    Record(Box<Descriptor>),
}

impl ImageArg {
    /// Find the image in the store.
    pub fn resolve(&self, store: &Store) -> Result<Resolved> {
        match self {
            ImageArg::Query(q) => store.resolve(q),
            ImageArg::Record(r) => store.resolve_record(r),
        }
    }

    /// How the user named it (for messages).
    pub fn display(&self) -> String {
        match self {
            ImageArg::Query(q) => q.clone(),
            ImageArg::Record(r) => record::name_of(r)
                .map(|n| n.familiar())
                .unwrap_or_else(|| r.digest().to_string()),
        }
    }
}

/// An image found in the store.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The descriptor of the manifest or index, without a name annotation.
    pub descriptor: Descriptor,
    /// The name the image was found by, when it was found by name.
    pub reference: Option<Reference>,
    /// The image itself.
    pub target: Target,
}

impl Resolved {
    /// The image ID (config digest, or index digest).
    pub fn id(&self) -> &Digest {
        self.target.id()
    }
}

impl Store {
    /// Find the image `query` names; NotFound says `No such image`, a
    /// malformed query is InvalidInput, an ambiguous ID prefix is a Conflict.
    pub fn resolve(&self, query: &str) -> Result<Resolved> {
        let parsed = Reference::parse(query);
        let index = self.index()?;
        if let Ok(reference) = &parsed {
            if let Some(digest) = reference.digest() {
                if let Some(entry) = index.entries_for(digest).into_iter().next() {
                    return self.resolved(entry.descriptor, Some(reference.clone()));
                }
            } else if let Some(entry) = index.find_name(reference) {
                return self.resolved(entry.descriptor, Some(reference.clone()));
            }
        }
        if let Some(prefix) = id_prefix(query) {
            if let Some(found) = self.find_by_id(&index.entries(), prefix, query)? {
                return Ok(found);
            }
        }
        match parsed {
            Err(e) if id_prefix(query).is_none() => Err(e),
            _ => Err(no_such_image(query)),
        }
    }

    /// Find the image a record names: its ref-name annotation when that name
    /// still points at the record's digest, otherwise the digest itself.
    pub fn resolve_record(&self, record: &Descriptor) -> Result<Resolved> {
        let name = record
            .annotations()
            .as_ref()
            .and_then(|a| a.get(REF_NAME))
            .and_then(|n| Reference::parse(n).ok());
        let index = self.index()?;
        if let Some(reference) = &name {
            if let Some(entry) = index.find_name(reference) {
                if entry.digest() == record.digest() {
                    return self.resolved(entry.descriptor, Some(reference.clone()));
                }
            }
        }
        match index.entries_for(record.digest()).into_iter().next() {
            Some(entry) => self.resolved(entry.descriptor, None),
            None => Err(no_such_image(record.digest().as_ref())),
        }
    }

    /// Every name in the store that points at the manifest or index `digest`.
    pub fn names_of(&self, digest: &Digest) -> Result<Vec<Reference>> {
        Ok(self
            .index()?
            .entries_for(digest)
            .into_iter()
            .filter_map(|e| e.name)
            .collect())
    }

    fn resolved(&self, descriptor: Descriptor, reference: Option<Reference>) -> Result<Resolved> {
        let descriptor = without_name(descriptor);
        let target = self.load_target(&descriptor)?;
        Ok(Resolved {
            descriptor,
            reference,
            target,
        })
    }

    fn find_by_id(&self, entries: &[Entry], prefix: &str, query: &str) -> Result<Option<Resolved>> {
        let mut found: Vec<Resolved> = Vec::new();
        for entry in entries {
            let target = match self.load_target(&entry.descriptor) {
                Ok(t) => t,
                // An unreadable image cannot be the one asked for by ID; it
                // shows up in img-ls and fsck, not here.
                Err(_) => continue,
            };
            let hit = target.id().digest().starts_with(prefix)
                || (prefix.len() == 64 && target.digest().digest() == prefix);
            if hit && !found.iter().any(|f| f.target.id() == target.id()) {
                found.push(Resolved {
                    descriptor: without_name(entry.descriptor.clone()),
                    reference: None,
                    target,
                });
            }
        }
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            _ => Err(Error::new(
                Kind::Conflict,
                format!(
                    "{query} matches {} images ({}); give more digits of the image ID",
                    found.len(),
                    found
                        .iter()
                        .map(|f| img_core::digest::short(f.target.id()).to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
}

/// The error for an image that is not in the store, worded as Docker's
/// (`No such image: busybox:latest`, the name in its familiar form).
pub fn no_such_image(query: &str) -> Error {
    let shown = match Reference::parse(query) {
        Ok(reference) => reference.familiar(),
        Err(_) => query.to_string(),
    };
    Error::not_found(format!("No such image: {shown}"))
}

fn without_name(mut descriptor: Descriptor) -> Descriptor {
    if let Some(annotations) = descriptor.annotations().clone() {
        let rest: std::collections::HashMap<_, _> = annotations
            .into_iter()
            .filter(|(k, _)| k != REF_NAME)
            .collect();
        descriptor.set_annotations(if rest.is_empty() { None } else { Some(rest) });
    }
    descriptor
}

/// The hex part of a query that can be an image ID or a prefix of one.
fn id_prefix(query: &str) -> Option<&str> {
    let hex = query.strip_prefix("sha256:").unwrap_or(query);
    let is_hex = !hex.is_empty()
        && hex.len() <= 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    is_hex.then_some(hex)
}
