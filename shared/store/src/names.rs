//! `index.json`: the store's names. Each entry is a descriptor of a manifest
//! or index; a named entry carries the full normalized reference in the
//! `org.opencontainers.image.ref.name` annotation (names written by other
//! tools, such as skopeo's `oci:DIR:busybox`, are read through the same
//! normalization). An entry without a name is a dangling image, kept until it
//! is removed or pruned, as Docker keeps `<none>` images.
//!
//! Changes happen in [`Store::update_index`]: under an exclusive flock, the
//! file is read, changed in memory and replaced atomically. Readers need no
//! lock, since a rename replaces the file whole.

use std::collections::HashMap;
use std::fs;

use oci_spec::image::{Descriptor, ImageIndex};

use super::{open_lock_file, write_atomic, Store};
use img_core::digest::Digest;
use img_core::error::{Error, IoContext, Kind, Result};
use img_core::image::Target;
use img_core::record::{self, REF_NAME};
use img_core::reference::Reference;

/// One entry of `index.json`.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The descriptor as stored (media type, digest, size, annotations).
    pub descriptor: Descriptor,
    /// The name, when the entry has one that parses as a reference.
    pub name: Option<Reference>,
}

impl Entry {
    /// The manifest or index digest.
    pub fn digest(&self) -> &Digest {
        self.descriptor.digest()
    }

    /// Whether the entry is a multi-platform index.
    pub fn is_index(&self) -> bool {
        img_core::image::is_index(self.descriptor.media_type())
    }
}

/// The parsed `index.json`.
#[derive(Debug, Clone)]
pub struct Index {
    raw: ImageIndex,
}

impl Index {
    fn parse(bytes: &[u8]) -> Result<Index> {
        let raw: ImageIndex = serde_json::from_slice(bytes).map_err(|e| {
            Error::new(
                Kind::FailedPrecondition,
                format!("the store's index.json is not a valid OCI index: {e} (run img-fsck, or restore it from a backup)"),
            )
        })?;
        Ok(Index { raw })
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> Vec<Entry> {
        self.raw
            .manifests()
            .iter()
            .map(|d| Entry {
                descriptor: d.clone(),
                name: name_of(d),
            })
            .collect()
    }

    /// The entry named `reference` (compared in normalized form). When several
    /// entries carry the same normalized name, the last one wins: tools append
    /// new entries.
    pub fn find_name(&self, reference: &Reference) -> Option<Entry> {
        let wanted = reference.store_name();
        self.entries()
            .into_iter()
            .rev()
            .find(|e| e.name.as_ref().is_some_and(|n| n.store_name() == wanted))
    }

    /// Every entry whose digest is `digest`.
    pub fn entries_for(&self, digest: &Digest) -> Vec<Entry> {
        self.entries()
            .into_iter()
            .filter(|e| e.digest() == digest)
            .collect()
    }

    /// Give `descriptor` the name `reference`. The entry that held the name
    /// before loses it; when that leaves its image with no name, the image
    /// stays as a dangling entry. Returns the previous digest of the name.
    pub fn set_name(&mut self, reference: &Reference, descriptor: &Descriptor) -> Option<Digest> {
        let previous = self.remove_name(reference);
        if let Some(old) = &previous {
            if old.digest() != descriptor.digest() && self.entries_for(old.digest()).is_empty() {
                self.push(strip_name(old));
            }
        }
        // A dangling entry of the same image now has a name.
        self.retain(|d| !(d.digest() == descriptor.digest() && raw_name(d).is_none()));
        let mut named = strip_name(descriptor);
        let mut annotations = named.annotations().clone().unwrap_or_default();
        annotations.insert(REF_NAME.to_string(), reference.store_name());
        named.set_annotations(Some(annotations));
        self.push(named);
        previous.map(|d| d.digest().clone())
    }

    /// Keep `descriptor` without a name, unless the image is already present.
    pub fn add_unnamed(&mut self, descriptor: &Descriptor) {
        if self.entries_for(descriptor.digest()).is_empty() {
            self.push(strip_name(descriptor));
        }
    }

    /// Remove the name `reference`; returns the descriptor it named.
    pub fn remove_name(&mut self, reference: &Reference) -> Option<Descriptor> {
        let wanted = reference.store_name();
        let mut removed = None;
        self.retain(|d| {
            if name_of(d).is_some_and(|n| n.store_name() == wanted) {
                removed = Some(d.clone());
                false
            } else {
                true
            }
        });
        removed
    }

    /// Remove every entry of the image `digest` (named or not).
    pub fn remove_digest(&mut self, digest: &Digest) -> usize {
        let before = self.raw.manifests().len();
        self.retain(|d| d.digest() != digest);
        before - self.raw.manifests().len()
    }

    fn push(&mut self, descriptor: Descriptor) {
        let mut manifests = self.raw.manifests().clone();
        manifests.push(descriptor);
        self.raw.set_manifests(manifests);
    }

    fn retain(&mut self, keep: impl FnMut(&Descriptor) -> bool) {
        let mut manifests = self.raw.manifests().clone();
        manifests.retain(keep);
        self.raw.set_manifests(manifests);
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        img_core::json::canonical(&self.raw)
    }
}

fn raw_name(descriptor: &Descriptor) -> Option<&String> {
    descriptor
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME))
}

fn name_of(descriptor: &Descriptor) -> Option<Reference> {
    raw_name(descriptor).and_then(|n| Reference::parse(n).ok())
}

fn strip_name(descriptor: &Descriptor) -> Descriptor {
    let mut d = descriptor.clone();
    if let Some(annotations) = d.annotations() {
        let rest: HashMap<String, String> = annotations
            .iter()
            .filter(|(k, _)| k.as_str() != REF_NAME)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        d.set_annotations(if rest.is_empty() { None } else { Some(rest) });
    }
    d
}

impl Store {
    /// Record `reference` as the name of `target` in the store's index.
    pub fn set_name(&self, target: &Target, reference: &Reference) -> Result<Descriptor> {
        let descriptor = target.descriptor().clone();
        self.update_index(|index| {
            // Under the lock, garbage collection cannot run: make sure it did
            // not take the image away since it was found.
            self.require_complete(target)?;
            index.set_name(reference, &descriptor);
            Ok(())
        })?;
        Ok(record::for_target(target, Some(reference)))
    }

    /// Read `index.json` as it is now.
    pub fn index(&self) -> Result<Index> {
        let path = self.index_path();
        let bytes = fs::read(&path).io_context(|| format!("reading {}", path.display()))?;
        Index::parse(&bytes)
    }

    /// Change `index.json` under the index lock: `change` sees the current
    /// index and may modify it; the result is written atomically unless
    /// `change` fails, in which case the file is left as it was.
    pub fn update_index<T>(&self, change: impl FnOnce(&mut Index) -> Result<T>) -> Result<T> {
        self.hold_writer_lock()?;
        let lock = open_lock_file(&self.lock_dir().join("index"))?;
        lock.lock()
            .io_context(|| "waiting for the store's index lock".into())?;
        let mut index = self.index()?;
        let before = index.to_bytes()?;
        let result = change(&mut index)?;
        let after = index.to_bytes()?;
        if after != before {
            write_atomic(&self.root, &self.index_path(), &after)?;
        }
        drop(lock);
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::image::MediaType;

    fn desc(byte: u8) -> Descriptor {
        let digest = img_core::digest::of_bytes(&[byte]);
        Descriptor::new(MediaType::ImageManifest, 1, digest)
    }

    fn names(store: &Store) -> Vec<(Option<String>, String)> {
        store
            .index()
            .unwrap()
            .entries()
            .into_iter()
            .map(|e| {
                (
                    e.name.as_ref().map(|n| n.familiar()),
                    e.digest().digest()[..4].to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn moving_a_name_leaves_the_old_image_dangling() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let a = Reference::parse("a").unwrap();
        let b = Reference::parse("b").unwrap();
        store
            .update_index(|i| {
                i.set_name(&a, &desc(1));
                i.set_name(&b, &desc(1));
                Ok(())
            })
            .unwrap();
        assert_eq!(names(&store).len(), 2);
        // a moves to image 2; image 1 keeps its name b, so nothing dangles.
        store
            .update_index(|i| Ok(i.set_name(&a, &desc(2))))
            .unwrap();
        assert_eq!(names(&store).len(), 2);
        // b moves to image 2 as well: image 1 is now dangling.
        store
            .update_index(|i| Ok(i.set_name(&b, &desc(2))))
            .unwrap();
        let n = names(&store);
        assert_eq!(
            n.iter().filter(|(name, _)| name.is_none()).count(),
            1,
            "{n:?}"
        );
        // naming the dangling image again removes its unnamed entry
        store
            .update_index(|i| Ok(i.set_name(&a, &desc(1))))
            .unwrap();
        let n = names(&store);
        assert!(n.iter().all(|(name, _)| name.is_some()), "{n:?}");
    }

    #[test]
    fn names_written_by_other_tools_are_normalized() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let mut d = desc(1);
        d.set_annotations(Some(HashMap::from([(
            REF_NAME.to_string(),
            "busybox".to_string(),
        )])));
        store
            .update_index(|i| {
                i.push(d);
                Ok(())
            })
            .unwrap();
        let index = store.index().unwrap();
        let found = index.find_name(&Reference::parse("docker.io/library/busybox:latest").unwrap());
        assert!(found.is_some());
        // img's own write of the same name replaces skopeo's entry
        store
            .update_index(|i| Ok(i.set_name(&Reference::parse("busybox").unwrap(), &desc(2))))
            .unwrap();
        let n = names(&store);
        assert_eq!(n.len(), 2, "{n:?}"); // the new name, and image 1 dangling
    }
}
