//! `img-rm`: untag and delete images with `docker rmi`'s rules.
//!
//! * By name: the name is removed (`Untagged: busybox:latest`). When no
//!   other tag of that repository remains, its digest names go too. When no
//!   name at all remains, the image is deleted.
//! * By ID or digest: when the image has at most one tag and all its names are
//!   in one repository, every name is removed and the image deleted; an image
//!   that several names share must be forced (`-f`), as Docker requires.
//! * A deleted image's entries leave `index.json`, and then garbage collection
//!   removes the blobs no other image reaches (`Deleted: sha256:…` with the
//!   layer's chain ID, as Docker's layer store names layers), unless
//!   `--no-prune`, or unless another program is writing to the store just
//!   then — those blobs wait for `img-prune`.
//!
//! * An image a container (of img-run) was made from keeps its last name,
//!   and is not deleted, unless forced, as Docker requires.
//!
//! Each request is decided and applied in one update of `index.json`, under
//! its lock, so that concurrent tags and removals never lose an update.

use oci_spec::image::Descriptor;

use img_container::Containers;
use img_core::digest::Digest;
use img_core::error::{Error, Kind, Result};
use img_core::image::Target;
use img_core::reference::Reference;
use img_store::ImageArg;
use img_store::{Index, Store};

/// What one removal printed, in Docker's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A name was removed.
    Untagged(String),
    /// An image or one of its layers was deleted.
    Deleted(Digest),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Untagged(name) => write!(f, "Untagged: {name}"),
            Outcome::Deleted(digest) => write!(f, "Deleted: {digest}"),
        }
    }
}

/// How `img-rm` was asked to remove.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Remove every name of an image that several names share.
    pub force: bool,
    /// Keep the blobs of deleted images (no garbage collection).
    pub no_prune: bool,
}

/// What one update of the index did.
struct Removal {
    untagged: Vec<String>,
    /// The entry of the image deleted, when no name was left for it.
    deleted: Option<Descriptor>,
}

/// Remove the image `arg` names; returns the lines to print.
pub fn remove(store: &Store, arg: &ImageArg, options: Options) -> Result<Vec<Outcome>> {
    let found = arg.resolve(store)?;
    let by_name = found
        .reference
        .as_ref()
        .filter(|r| store_has_name(store, r))
        .cloned();
    let digest = found.target.digest().clone();
    let short_id = img_core::digest::short(found.target.id()).to_string();
    let user = Containers::of(store)
        .list()?
        .into_iter()
        .find(|c| &c.image == found.target.id());
    let removal = store.update_index(|index| {
        let removal = match &by_name {
            Some(name) => untag(index, name, arg)?,
            None => delete_by_id(index, &digest, &short_id, options.force)?,
        };
        match &user {
            // As Docker: the last name of an image a container was made
            // from goes only with -f.
            Some(container) if removal.deleted.is_some() && !options.force => Err(Error::new(
                Kind::Conflict,
                format!(
                    "unable to remove {} (must force): container {} ({}) is using its \
                         referenced image {short_id}; remove the container first \
                         (img-prune --containers)",
                    arg.display(),
                    container.short_id(),
                    container.name
                ),
            )),
            _ => Ok(removal),
        }
    })?;
    finish(store, removal, found.target, options.no_prune)
}

/// Which images [`delete`] deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Only an image that still has no name when its turn comes: one that
    /// was named meanwhile is kept (pruning dangling images).
    Unnamed,
    /// Any image, with every name it has, as `img-rm -f ID` does.
    All,
}

/// Delete the image `target` (by its digest, as `img-rm -f ID` does) and
/// return the lines to print; empty when `names` kept it. With `no_prune`,
/// its blobs stay for the caller's garbage collection (see
/// [`deleted_layers`]). An image that is gone already is NotFound.
pub fn delete(store: &Store, target: Target, names: Names, no_prune: bool) -> Result<Vec<Outcome>> {
    let digest = target.digest().clone();
    let short_id = img_core::digest::short(target.id()).to_string();
    let removal = store.update_index(|index| {
        let named = index.entries_for(&digest).iter().any(|e| e.name.is_some());
        if names == Names::Unnamed && named {
            return Ok(Removal {
                untagged: Vec::new(),
                deleted: None,
            });
        }
        delete_by_id(index, &digest, &short_id, true)
    })?;
    finish(store, removal, target, no_prune)
}

/// The lines for what one update of the index did, and the garbage
/// collection after a deletion (unless `no_prune`).
fn finish(store: &Store, removal: Removal, found: Target, no_prune: bool) -> Result<Vec<Outcome>> {
    let mut outcomes: Vec<Outcome> = removal
        .untagged
        .into_iter()
        .map(Outcome::Untagged)
        .collect();
    if let Some(entry) = removal.deleted {
        // The name may have moved to another image since it was resolved.
        let target = if entry.digest() == found.digest() {
            found
        } else {
            store.load_target(&entry)?
        };
        outcomes.push(Outcome::Deleted(target.id().clone()));
        if !no_prune {
            outcomes.extend(collect(store, &target)?);
        }
    }
    Ok(outcomes)
}

fn store_has_name(store: &Store, reference: &Reference) -> bool {
    store
        .index()
        .is_ok_and(|index| index.find_name(reference).is_some())
}

/// Remove `name`; the image goes when nothing else names it.
fn untag(index: &mut Index, name: &Reference, arg: &ImageArg) -> Result<Removal> {
    let Some(removed) = index.remove_name(name) else {
        return Err(img_store::no_such_image(&arg.display()));
    };
    let digest = removed.digest().clone();
    let mut untagged = vec![name.familiar()];
    let mut remaining: Vec<Reference> = index
        .entries_for(&digest)
        .into_iter()
        .filter_map(|e| e.name)
        .collect();
    // Docker: with the last tag of a repository gone, that repository's
    // digest references go as well.
    let repo_still_tagged = remaining
        .iter()
        .any(|r| r.tag().is_some() && r.name() == name.name());
    if name.tag().is_some() && !repo_still_tagged {
        for other in &remaining {
            if other.tag().is_none() && other.name() == name.name() {
                index.remove_name(other);
                untagged.push(other.familiar());
            }
        }
        remaining.retain(|r| !(r.tag().is_none() && r.name() == name.name()));
    }
    let deleted = remaining.is_empty().then(|| {
        index.remove_digest(&digest);
        removed
    });
    Ok(Removal { untagged, deleted })
}

/// Delete the image `digest` names, with every name when that is allowed.
fn delete_by_id(
    index: &mut Index,
    digest: &Digest,
    short_id: &str,
    force: bool,
) -> Result<Removal> {
    let entries = index.entries_for(digest);
    let Some(first) = entries.first().map(|e| e.descriptor.clone()) else {
        return Err(Error::not_found(format!("No such image: {short_id}")));
    };
    let mut names: Vec<Reference> = entries.into_iter().filter_map(|e| e.name).collect();
    // Docker untags in the order of the full names (its reference store's).
    names.sort_by_key(|n| n.to_string());
    if !force && !is_single_reference(&names) {
        return Err(Error::new(
            Kind::Conflict,
            format!(
                "conflict: unable to delete {short_id} (must be forced) - image is referenced in multiple repositories"
            ),
        ));
    }
    index.remove_digest(digest);
    Ok(Removal {
        untagged: names.iter().map(Reference::familiar).collect(),
        deleted: Some(first),
    })
}

/// Docker's rule: all names in one repository, and at most one of them a tag.
fn is_single_reference(names: &[Reference]) -> bool {
    if names.len() <= 1 {
        return true;
    }
    let tags = names.iter().filter(|n| n.tag().is_some()).count();
    let first = names.first().map(Reference::name);
    tags <= 1 && names.iter().all(|n| Some(n.name()) == first)
}

/// Garbage-collect after a deletion; reports the deleted image's own blobs
/// that went.
fn collect(store: &Store, target: &Target) -> Result<Vec<Outcome>> {
    let in_use = || Containers::of(store).layers();
    let Some(report) = store.sweep(false, &in_use)? else {
        return Ok(Vec::new());
    };
    Ok(deleted_layers(target, &report.removed))
}

/// The layers of a deleted image that a garbage collection removed (top
/// first, each once), by chain ID, as Docker's layer store reports deleted
/// layers.
pub fn deleted_layers(target: &Target, removed: &[Digest]) -> Vec<Outcome> {
    let images: Vec<&img_core::image::Image> = match target {
        Target::Image(image) => vec![image.as_ref()],
        Target::Index(index) => index.images.iter().collect(),
    };
    let mut outcomes = Vec::new();
    for image in images {
        let layers = image.manifest.layers().iter().zip(image.chain_ids());
        let gone: Vec<Outcome> = layers
            .filter(|(layer, _)| removed.contains(layer.digest()))
            .map(|(_, chain_id)| Outcome::Deleted(chain_id))
            .collect();
        for outcome in gone.into_iter().rev() {
            if !outcomes.contains(&outcome) {
                outcomes.push(outcome);
            }
        }
    }
    outcomes
}
