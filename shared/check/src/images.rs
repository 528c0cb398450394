//! Every name reaches a whole image: each entry of `index.json` is followed
//! to its manifest (or index, then the manifests of it the store holds),
//! config and layers, each of which must be a sound blob of the declared
//! size; manifests, indexes and configs must parse, and a config must list
//! one diff_id per layer. An index may lack platforms (a pull keeps the
//! ones asked for), but it must hold at least one. With `--deep`, each
//! layer is also decompressed and its tar hashed against the config's
//! diff_id, on every core.

use std::collections::{BTreeMap, HashSet};
use std::io::BufReader;

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

use crate::{blobs::Verdicts, Class, Fix, Problem};
use img_core::digest::{self, Digest, DigestReader};
use img_core::error::Result;
use img_core::image::{is_index, is_manifest, DOCKER_CONFIG};
use img_core::parallel::{self, Spare};
use img_layers::compression;
use img_store::{Entry, Store, MAX_METADATA_SIZE};

/// Indexes nested deeper than this are not followed (and reported).
const MAX_DEPTH: usize = 8;

/// What following the names found.
#[derive(Debug, Default)]
pub(super) struct Images {
    /// Index entries checked.
    pub entries: usize,
    /// Every blob the names reach.
    pub reached: HashSet<Digest>,
    /// Every layer of a whole image, by (layer digest, diff_id), in order.
    pub layers: BTreeMap<(String, String), Layer>,
}

/// A layer of whole images.
#[derive(Debug, Clone)]
pub(super) struct Layer {
    /// The layer blob's descriptor.
    pub descriptor: Descriptor,
    /// The diff_id its images' configs give it.
    pub diff_id: Digest,
    /// The entries whose images have it.
    pub users: Vec<Descriptor>,
}

/// Follow every entry; problems go to `problems`.
pub(super) fn check(
    store: &Store,
    entries: &[Entry],
    blobs: &Verdicts,
    problems: &mut Vec<Problem>,
) -> Images {
    let mut images = Images {
        entries: entries.len(),
        ..Images::default()
    };
    for entry in entries {
        let mut walk = Walk {
            store,
            blobs,
            issues: Vec::new(),
            layers: Vec::new(),
            reached: &mut images.reached,
        };
        walk.descriptor(&entry.descriptor, 0);
        if walk.issues.is_empty() {
            for (layer, diff_id) in walk.layers {
                images
                    .layers
                    .entry((layer.digest().to_string(), diff_id.to_string()))
                    .or_insert_with(|| Layer {
                        descriptor: layer,
                        diff_id,
                        users: Vec::new(),
                    })
                    .users
                    .push(entry.descriptor.clone());
            }
            continue;
        }
        let label = label(entry);
        for issue in walk.issues {
            problems.push(Problem {
                class: Class::Damage,
                text: format!("{label}: {issue}"),
                fix: Fix::Names(entry.digest().clone()),
            });
        }
    }
    images
}

/// How an entry is named in messages: its name, or `<none>` and its digest.
pub(super) fn label(entry: &Entry) -> String {
    match &entry.name {
        Some(name) => format!("image {}", name.familiar()),
        None => format!("image <none> {}", entry.digest()),
    }
}

struct Walk<'a> {
    store: &'a Store,
    blobs: &'a Verdicts,
    issues: Vec<String>,
    layers: Vec<(Descriptor, Digest)>,
    reached: &'a mut HashSet<Digest>,
}

impl Walk<'_> {
    /// Check a blob the image needs; its bytes when it is sound and small
    /// enough to parse.
    fn blob(&mut self, d: &Descriptor, what: &str) -> Option<Vec<u8>> {
        let digest = d.digest();
        self.reached.insert(digest.clone());
        if digest::ensure_sha256(digest).is_err() {
            self.issues.push(format!(
                "its {what} {digest} is not named by a sha256 digest"
            ));
            return None;
        }
        if self.blobs.corrupt.contains(digest) {
            self.issues.push(format!("its {what} {digest} is corrupt"));
            return None;
        }
        let Some(&size) = self.blobs.sound.get(digest) else {
            self.issues.push(format!("its {what} {digest} is missing"));
            return None;
        };
        if size != d.size() {
            self.issues.push(format!(
                "its {what} {digest} has {size} bytes where {} are declared",
                d.size()
            ));
            return None;
        }
        let parsed = is_index(d.media_type()) || is_manifest(d.media_type()) || is_config(d);
        if !parsed {
            return Some(Vec::new());
        }
        if size > MAX_METADATA_SIZE {
            self.issues.push(format!(
                "its {what} {digest} has {size} bytes, more than a {what} may"
            ));
            return None;
        }
        match self.store.read_blob(d) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.issues.push(format!("its {what} {digest}: {e}"));
                None
            }
        }
    }

    fn descriptor(&mut self, d: &Descriptor, depth: usize) {
        if is_index(d.media_type()) {
            self.index(d, depth);
        } else if is_manifest(d.media_type()) {
            self.manifest(d);
        } else {
            self.issues.push(format!(
                "{} is a {}, neither a manifest nor an index",
                d.digest(),
                d.media_type()
            ));
        }
    }

    fn index(&mut self, d: &Descriptor, depth: usize) {
        if depth > MAX_DEPTH {
            self.issues.push(format!(
                "its indexes are nested more than {MAX_DEPTH} deep (at {})",
                d.digest()
            ));
            return;
        }
        let Some(bytes) = self.blob(d, "index") else {
            return;
        };
        let index: ImageIndex = match serde_json::from_slice(&bytes) {
            Ok(index) => index,
            Err(e) => {
                self.issues
                    .push(format!("its index {} does not parse: {e}", d.digest()));
                return;
            }
        };
        let children: Vec<&Descriptor> = index
            .manifests()
            .iter()
            .filter(|c| is_manifest(c.media_type()) || is_index(c.media_type()))
            .collect();
        let held: Vec<&Descriptor> = children
            .iter()
            .copied()
            .filter(|c| {
                self.blobs.sound.contains_key(c.digest()) || self.blobs.corrupt.contains(c.digest())
            })
            .collect();
        if held.is_empty() {
            self.issues.push(format!(
                "its index {} holds none of its {} images (they are missing)",
                d.digest(),
                children.len()
            ));
        }
        for child in held {
            self.descriptor(child, depth + 1);
        }
    }

    fn manifest(&mut self, d: &Descriptor) {
        let Some(bytes) = self.blob(d, "manifest") else {
            return;
        };
        let manifest: ImageManifest = match serde_json::from_slice(&bytes) {
            Ok(manifest) => manifest,
            Err(e) => {
                self.issues
                    .push(format!("its manifest {} does not parse: {e}", d.digest()));
                return;
            }
        };
        let config = manifest.config();
        let config_bytes = self.blob(config, "config");
        let mut layers_sound = true;
        for layer in manifest.layers() {
            layers_sound &= self.blob(layer, "layer").is_some();
        }
        let Some(config_bytes) = config_bytes.filter(|_| is_config(config)) else {
            return;
        };
        let parsed: ImageConfiguration = match serde_json::from_slice(&config_bytes) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.issues.push(format!(
                    "its config {} is not an image config: {e}",
                    config.digest()
                ));
                return;
            }
        };
        let diff_ids = parsed.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            self.issues.push(format!(
                "its config {} lists {} diff_ids for {} layers",
                config.digest(),
                diff_ids.len(),
                manifest.layers().len()
            ));
            return;
        }
        for (layer, diff_id) in manifest.layers().iter().zip(diff_ids) {
            match digest::parse(diff_id) {
                Ok(diff_id) if layers_sound => self.layers.push((layer.clone(), diff_id)),
                Ok(_) => {}
                Err(_) => self.issues.push(format!(
                    "its config {} lists {diff_id:?}, which is no diff_id",
                    config.digest()
                )),
            }
        }
    }
}

fn is_config(d: &Descriptor) -> bool {
    matches!(d.media_type(), MediaType::ImageConfig) || d.media_type().to_string() == DOCKER_CONFIG
}

/// `--deep`: decompress every layer of `images` (but those in `skip`,
/// checked another way) and compare its tar's digest with the diff_id the
/// images' configs give it, on every core. The images of a layer that does
/// not match are damaged.
pub(super) fn check_diff_ids(
    store: &Store,
    images: &Images,
    skip: &HashSet<(Digest, Digest)>,
    problems: &mut Vec<Problem>,
) -> Result<()> {
    let todo: Vec<&Layer> = images
        .layers
        .values()
        .filter(|l| !skip.contains(&(l.descriptor.digest().clone(), l.diff_id.clone())))
        .collect();
    let threads = parallel::cores(16);
    let outcomes = parallel::map(&todo, threads, &Spare::default(), |layer| {
        Ok(uncompressed_digest(store, &layer.descriptor).map(|actual| {
            (actual != layer.diff_id)
                .then(|| format!("unpacks to {actual}, not to {}", layer.diff_id))
        }))
    })?;
    for (layer, outcome) in todo.into_iter().zip(outcomes) {
        let wrong = match outcome {
            Ok(None) => continue,
            Ok(Some(wrong)) => wrong,
            Err(e) => format!("does not unpack: {e}"),
        };
        for user in &layer.users {
            problems.push(Problem {
                class: Class::Damage,
                text: format!(
                    "image {}: its layer {} {wrong}, the diff_id its config gives",
                    user_label(user),
                    layer.descriptor.digest()
                ),
                fix: Fix::Names(user.digest().clone()),
            });
        }
    }
    Ok(())
}

/// The digest of a layer blob's uncompressed tar (everything after the
/// tar's end blocks counts too, as for the diff_id).
pub(super) fn uncompressed_digest(store: &Store, layer: &Descriptor) -> Result<Digest> {
    let blob = store.open_blob(layer)?;
    let (_, tar) = compression::decompress(BufReader::with_capacity(1 << 20, blob))?;
    let mut tar = DigestReader::new(tar);
    std::io::copy(&mut tar, &mut std::io::sink())
        .map_err(|e| img_core::Error::io(format!("reading layer {}", layer.digest()), e))?;
    Ok(tar.digest().0)
}

fn user_label(d: &Descriptor) -> String {
    match img_core::record::name_of(d) {
        Some(name) => name.familiar(),
        None => format!("<none> {}", d.digest()),
    }
}
