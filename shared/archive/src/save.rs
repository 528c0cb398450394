//! `img-save`: images from the store into one archive. Every blob is checked
//! to exist with its declared size before the first byte is written, so a
//! store missing a layer fails at once instead of leaving half an archive;
//! the blobs' content is copied as stored (img-load, skopeo and Docker verify
//! it on the way in; `img-fsck` checks the store). Layers the receiving
//! side has may be left out (`thin.rs`).

use std::collections::{BTreeMap, HashSet};

use oci_spec::image::Descriptor;
use serde_json::{json, Value};

use super::tarwrite::TarWriter;
use super::thin::{self, Exclusions, BLOBS_LEFT_OUT};
use super::{ManifestItem, CONTAINERD_NAME};
use img_core::digest::Digest;
use img_core::error::{Error, Kind, Result, ResultExt};
use img_core::image::{Image, Target};
use img_core::output::Sink;
use img_core::record::REF_NAME;
use img_core::reference::Reference;
use img_store::ImageArg;
use img_store::Store;

/// The archive format img-save writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Docker 25+'s archive: an OCI layout plus manifest.json and repositories.
    Docker,
    /// A plain OCI image layout.
    Oci,
}

/// One image to save, with the names it goes under.
struct Saved {
    target: Target,
    names: Vec<Reference>,
}

/// Write the archive of `images` in `format` to `out`, without the layers
/// `exclude` names (a thin archive, see `thin.rs`); returns `out`.
pub fn save<W: Sink>(
    store: &Store,
    images: &[ImageArg],
    format: Format,
    exclude: &Exclusions,
    out: W,
) -> Result<W> {
    let saved = collect(store, images)?;
    let left_out = layers_left_out(&saved, exclude);
    let blobs: Vec<(Digest, u64)> = blobs_of(&saved)
        .into_iter()
        .filter(|(d, _)| !left_out.contains(d))
        .collect();
    for (digest, size) in &blobs {
        let actual = store
            .blob_size(digest)
            .with_context(|| format!("saving blob {digest}"))?;
        if actual != *size {
            return Err(Error::new(
                Kind::FailedPrecondition,
                format!(
                    "blob {digest} in the store has {actual} bytes where its image declares {size} \
                     (the store is damaged: run img-fsck, or pull or load the image again)"
                ),
            ));
        }
    }
    let mut tar = TarWriter::new(out);
    tar.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tar.dir("blobs/")?;
    tar.dir("blobs/sha256/")?;
    for (digest, size) in &blobs {
        let file = store.open_blob_unverified(digest)?;
        tar.file(&blob_path(digest), file, *size)?;
    }
    tar.bytes(
        "index.json",
        &to_json(&index_json(&saved, format, &left_out))?,
    )?;
    if format == Format::Docker {
        tar.bytes("manifest.json", &to_json(&manifest_json(&saved))?)?;
        let repositories = repositories_json(&saved);
        if repositories.as_object().is_some_and(|o| !o.is_empty()) {
            tar.bytes("repositories", &to_json(&repositories)?)?;
        }
    }
    tar.finish()
}

fn to_json(value: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::invalid(format!("encoding JSON: {e}")))
}

/// The blob's path in an archive.
fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.digest())
}

/// Resolve the arguments into images, each once, with every name asked for.
/// A bare repository name (`busybox`, no tag) means every tag of it in the
/// store, as `docker save` does.
fn collect(store: &Store, images: &[ImageArg]) -> Result<Vec<Saved>> {
    let mut saved: Vec<Saved> = Vec::new();
    let mut add = |target: Target, name: Option<Reference>| {
        let name = name.filter(|n| n.tag().is_some());
        match saved
            .iter_mut()
            .find(|s| s.target.digest() == target.digest())
        {
            Some(s) => {
                if let Some(n) = name {
                    if !s.names.contains(&n) {
                        s.names.push(n);
                    }
                }
            }
            None => saved.push(Saved {
                target,
                names: name.into_iter().collect(),
            }),
        }
    };
    for arg in images {
        if let ImageArg::Query(query) = arg {
            let tags = every_tag(store, query)?;
            if !tags.is_empty() {
                for (target, name) in tags {
                    add(target, Some(name));
                }
                continue;
            }
        }
        let found = arg
            .resolve(store)
            .with_context(|| format!("saving {}", arg.display()))?;
        add(found.target, found.reference);
    }
    Ok(saved)
}

/// For a query that is a repository name without tag or digest, every image
/// of that repository in the store with its name.
fn every_tag(store: &Store, query: &str) -> Result<Vec<(Target, Reference)>> {
    let name_only = !query.contains('@')
        && query
            .rfind(':')
            .is_none_or(|i| query[i + 1..].contains('/'));
    let Ok(wanted) = Reference::parse(query) else {
        return Ok(Vec::new());
    };
    if !name_only {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in store.index()?.entries() {
        let Some(name) = entry.name else { continue };
        if name.name() == wanted.name() && name.tag().is_some() {
            let target = store
                .load_target(&entry.descriptor)
                .with_context(|| format!("saving {}", name.familiar()))?;
            found.push((target, name));
        }
    }
    Ok(found)
}

/// The images present in a target (an index's absent platforms left out).
fn images_of(target: &Target) -> Vec<&Image> {
    match target {
        Target::Image(image) => vec![image.as_ref()],
        Target::Index(index) => index.images.iter().collect(),
    }
}

/// Every blob to write, each once: layers and config before their manifest,
/// manifests before their index.
fn blobs_of(saved: &[Saved]) -> Vec<(Digest, u64)> {
    let mut seen = HashSet::new();
    let mut blobs = Vec::new();
    let mut push = |d: &Descriptor| {
        if seen.insert(d.digest().clone()) {
            blobs.push((d.digest().clone(), d.size()));
        }
    };
    for s in saved {
        for image in images_of(&s.target) {
            image.manifest.layers().iter().for_each(&mut push);
            push(image.manifest.config());
            push(&image.descriptor);
        }
        if let Target::Index(index) = &s.target {
            push(&index.descriptor);
        }
    }
    blobs
}

/// The layers of the saved images that `exclude` names.
fn layers_left_out(saved: &[Saved], exclude: &Exclusions) -> HashSet<Digest> {
    saved
        .iter()
        .flat_map(|s| images_of(&s.target))
        .flat_map(|image| image.manifest.layers())
        .map(|layer| layer.digest())
        .filter(|d| exclude.contains(d))
        .cloned()
        .collect()
}

/// `index.json`: one entry per name (Docker's annotations: the full name,
/// and the tag as ref.name; in the OCI format the full name as ref.name),
/// and one bare entry for an image saved without a name; a thin archive
/// says which layers it leaves out.
fn index_json(saved: &[Saved], format: Format, left_out: &HashSet<Digest>) -> Value {
    let mut manifests = Vec::new();
    for s in saved {
        let d = s.target.descriptor();
        let mut entry = json!({
            "mediaType": d.media_type().to_string(),
            "digest": d.digest().to_string(),
            "size": d.size(),
        });
        if let Target::Image(image) = &s.target {
            let p = image.platform();
            let mut platform = json!({"architecture": p.architecture, "os": p.os});
            if let Some(v) = p.variant {
                platform["variant"] = json!(v);
            }
            entry["platform"] = platform;
        }
        if s.names.is_empty() {
            manifests.push(entry.clone());
        }
        for name in &s.names {
            let ref_name = match format {
                Format::Docker => name.tag().unwrap_or("latest").to_string(),
                Format::Oci => name.store_name(),
            };
            let mut named = entry.clone();
            named["annotations"] = json!({
                CONTAINERD_NAME: name.store_name(),
                REF_NAME: ref_name,
            });
            manifests.push(named);
        }
    }
    let mut index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    if !left_out.is_empty() {
        index["annotations"] = json!({ BLOBS_LEFT_OUT: thin::annotation(left_out) });
    }
    index
}

/// The image of a target that carries its names in `manifest.json`: the
/// host's platform, else the first present.
fn named_image(target: &Target) -> Option<&Image> {
    target
        .host_image()
        .ok()
        .or_else(|| images_of(target).into_iter().next())
}

/// Docker's `manifest.json`: one item per image (per present platform),
/// with RepoTags on the host platform's image.
fn manifest_json(saved: &[Saved]) -> Vec<ManifestItem> {
    let mut items = Vec::new();
    for s in saved {
        let named = named_image(&s.target).map(|i| i.descriptor.digest().clone());
        for image in images_of(&s.target) {
            let tags: Vec<String> = if Some(image.descriptor.digest()) == named.as_ref() {
                // Full names, as skopeo writes them: Docker reads them the
                // same, and podman would put a short name under localhost/.
                s.names.iter().map(Reference::store_name).collect()
            } else {
                Vec::new()
            };
            items.push(ManifestItem {
                config: blob_path(image.manifest.config().digest()),
                repo_tags: (!tags.is_empty()).then_some(tags),
                layers: image
                    .manifest
                    .layers()
                    .iter()
                    .map(|l| blob_path(l.digest()))
                    .collect(),
            });
        }
    }
    items
}

/// Docker's legacy `repositories`: repository → tag → top layer.
fn repositories_json(saved: &[Saved]) -> Value {
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for s in saved {
        let Some(top) = named_image(&s.target).and_then(|i| i.manifest.layers().last()) else {
            continue;
        };
        for name in &s.names {
            if let Some(tag) = name.tag() {
                repositories
                    .entry(name.familiar_name())
                    .or_default()
                    .insert(tag.to_string(), top.digest().digest().to_string());
            }
        }
    }
    json!(repositories)
}
