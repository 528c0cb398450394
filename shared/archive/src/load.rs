//! `img-load`: an archive into the store. Read and stage everything, check
//! every image, then commit blobs and names (see the module docs of
//! [`crate`]). A layer the archive lacks is taken from the store
//! when it is there (a thin archive); when it is not, nothing is loaded and
//! the error names every missing blob with the images that need it.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};

use super::legacy;
use super::read::{self, StagedArchive};
use super::thin;
use super::CONTAINERD_NAME;
use img_core::digest::Digest;
use img_core::error::{Error, Kind, Result, ResultExt};
use img_core::image::{is_index, is_manifest, nested_index, Target, DOCKER_CONFIG};
use img_core::record::REF_NAME;
use img_core::reference::Reference;
use img_layers::check;
use img_store::{StagedBlob, Store, MAX_METADATA_SIZE};

/// An image that was loaded.
#[derive(Debug)]
pub struct Loaded {
    /// The image as now stored.
    pub target: Target,
    /// The names it was given.
    pub names: Vec<Reference>,
    /// Names that pointed at another image before, with that image's ID.
    pub replaced: Vec<(Reference, Digest)>,
}

/// One image of the archive, checked and ready to commit.
struct Plan<'a> {
    /// Its manifest or index.
    top: Descriptor,
    /// Blobs from the archive, children before parents.
    blobs: Vec<&'a StagedBlob>,
    /// Its layers (among `blobs`).
    layers: Vec<&'a StagedBlob>,
    /// A manifest img wrote for a legacy image, committed after `blobs`.
    made: Option<StagedBlob>,
    /// Names to give it.
    names: Vec<Reference>,
    /// Config digests of its images.
    configs: Vec<Digest>,
    /// Layers neither the archive nor the store has.
    missing: Vec<Digest>,
}

/// Load every image of the archive read from `input`.
pub fn load(store: &Store, input: impl Read) -> Result<Vec<Loaded>> {
    read::stage(store, input)
        .and_then(|staged| load_staged(store, &staged))
        .map_err(damaged)
        .map_err(|e| store.out_of_space(e, "loading the archive", None))
}

/// Load every image of the archive in `file`, from its current position.
/// An uncompressed archive is read out of order, several files at once (see
/// [`read::stage_file`]); a compressed one as a stream.
pub fn load_file(store: &Store, file: File) -> Result<Vec<Loaded>> {
    if read::is_compressed(&file)? {
        return load(store, BufReader::with_capacity(READ_BUFFER, file));
    }
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    read::stage_file(store, &file)
        .and_then(|staged| load_staged(store, &staged))
        .map_err(damaged)
        .map_err(|e| {
            let doing = format!(
                "loading an archive of {}",
                img_core::format::human_size_precision(size, 4)
            );
            store.out_of_space(e, &doing, None)
        })
}

/// The archive is the user's input: a blob in it that does not hash to its
/// name makes it a bad archive (exit 2), not a failed load.
fn damaged(error: Error) -> Error {
    error.mismatch_as_input("the archive")
}

/// The read buffer for a compressed archive file.
const READ_BUFFER: usize = 1 << 20;

fn load_staged(store: &Store, staged: &StagedArchive) -> Result<Vec<Loaded>> {
    let items = legacy::items(store, staged)?;
    let (mut plans, left_out) = match staged.file("index.json")? {
        Some(index) => oci_plans(store, staged, index)?,
        None => (Vec::new(), HashSet::new()),
    };
    if let Some(items) = &items {
        for item in items {
            let config = legacy::config_digest(staged, item);
            let covered = plans
                .iter_mut()
                .find(|p| config.as_ref().is_some_and(|c| p.configs.contains(c)));
            if let Some(plan) = covered {
                // The OCI half has the image; manifest.json may add names.
                if plan.names.is_empty() {
                    for tag in item.repo_tags.iter().flatten() {
                        plan.names
                            .push(Reference::parse(tag).context("manifest.json RepoTags")?);
                    }
                }
                continue;
            }
            plans.push(legacy_plan(store, staged, item)?);
        }
    }
    if plans.is_empty() {
        if items.is_none() && !staged.has("index.json") {
            return Err(Error::invalid(
                "not an image archive: it has neither manifest.json nor index.json \
                 (to make an image from a root filesystem tar, use img-import)",
            ));
        }
        return Err(Error::invalid("the archive holds no image"));
    }
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for plan in &plans {
        for digest in &plan.missing {
            let needed_by = missing.entry(digest.to_string()).or_default();
            if plan.names.is_empty() {
                needed_by.push(format!("image {}", plan.top.digest()));
            }
            needed_by.extend(plan.names.iter().map(Reference::familiar));
        }
    }
    if !missing.is_empty() {
        return Err(thin::missing_error(&missing, &left_out));
    }
    let plans = merge(plans);
    check_layers(store, staged, &plans)?;
    commit(store, plans)
}

/// Check every layer of the plans as a layer tar (see
/// [`img_layers::check`]), several at once: a hostile layer refuses the
/// whole archive before anything is committed. A layer checked while it
/// was staged is not read again.
fn check_layers(store: &Store, staged: &StagedArchive, plans: &[Plan<'_>]) -> Result<()> {
    let mut seen = HashSet::new();
    let layers: Vec<&StagedBlob> = plans
        .iter()
        .flat_map(|p| p.layers.iter().copied())
        .filter(|blob| seen.insert(&blob.digest))
        .collect();
    let threads = img_core::parallel::cores(MAX_CHECKS);
    img_core::parallel::map(&layers, threads, &Default::default(), |blob| {
        match staged.checked(&blob.digest) {
            Some(outcome) => outcome,
            None => check::file(blob.open(store)?),
        }
        .with_context(|| format!("layer {}", blob.digest))
    })?;
    Ok(())
}

/// The most layers checked at once.
const MAX_CHECKS: usize = 4;

/// The images `index.json` names, and the blobs it says are left out.
fn oci_plans<'a>(
    store: &Store,
    staged: &'a StagedArchive,
    index: &StagedBlob,
) -> Result<(Vec<Plan<'a>>, HashSet<String>)> {
    let bytes = index.read_small(store, MAX_METADATA_SIZE, "index.json")?;
    let index: ImageIndex = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("the archive's index.json is not valid: {e}")))?;
    let left_out = thin::declared(index.annotations().as_ref());
    let mut plans = Vec::new();
    for entry in index.manifests() {
        let what = format!("index.json entry {}", entry.digest());
        let mut plan = Plan {
            top: bare(entry),
            blobs: Vec::new(),
            layers: Vec::new(),
            made: None,
            names: names_of(entry).with_context(|| what.clone())?,
            configs: Vec::new(),
            missing: Vec::new(),
        };
        if !is_manifest(entry.media_type()) && !is_index(entry.media_type()) {
            return Err(Error::invalid(format!(
                "{what}: media type {} is neither an image manifest nor an index",
                entry.media_type()
            )));
        }
        walk(store, staged, entry, &mut plan).with_context(|| what.clone())?;
        plans.push(plan);
    }
    Ok((plans, left_out))
}

/// The name an index.json entry carries: containerd's full name, else the
/// OCI ref.name read as a reference (as the store reads its own index).
fn names_of(entry: &Descriptor) -> Result<Vec<Reference>> {
    let Some(annotations) = entry.annotations() else {
        return Ok(Vec::new());
    };
    if let Some(name) = annotations.get(CONTAINERD_NAME) {
        return Ok(vec![Reference::parse(name)?]);
    }
    // ref.name is often a bare tag that names nothing on its own; one that
    // is not a reference leaves the image unnamed rather than unloadable.
    Ok(annotations
        .get(REF_NAME)
        .and_then(|n| Reference::parse(n).ok())
        .into_iter()
        .collect())
}

/// A descriptor without annotations (names live in the store's index).
fn bare(d: &Descriptor) -> Descriptor {
    let mut plain = Descriptor::new(d.media_type().clone(), d.size(), d.digest().clone());
    plain.set_platform(d.platform().clone());
    plain
}

/// Check the manifest or index `d` and everything it references, adding
/// the blobs to the plan children first. An index lists image manifests:
/// one that lists an index is refused (see [`nested_index`]).
fn walk<'a>(
    store: &Store,
    staged: &'a StagedArchive,
    d: &Descriptor,
    plan: &mut Plan<'a>,
) -> Result<()> {
    let blob = present(staged, d)?;
    let bytes = blob.read_small(
        store,
        MAX_METADATA_SIZE,
        &format!("manifest {}", d.digest()),
    )?;
    if is_index(d.media_type()) {
        let index: ImageIndex = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("index {} is not valid: {e}", d.digest())))?;
        let mut any = false;
        for child in index.manifests() {
            // An index may list platforms the archive does not carry, as
            // the store keeps only the platforms it pulled.
            let Some(child_blob) = staged.blob(child.digest())? else {
                continue;
            };
            if is_index(child.media_type()) {
                let mut found = child.clone();
                if child_blob.digest == blob.digest {
                    // A link in the archive made the index list itself.
                    found.set_digest(d.digest().clone());
                }
                return Err(nested_index(d.digest(), &found, Kind::InvalidInput));
            }
            if is_manifest(child.media_type()) {
                walk(store, staged, child, plan)?;
                any = true;
            }
        }
        if !any {
            return Err(Error::invalid(format!(
                "index {} has none of its images in the archive",
                d.digest()
            )));
        }
    } else {
        let manifest: ImageManifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(format!("manifest {} is not valid: {e}", d.digest())))?;
        for layer in manifest.layers() {
            if staged.blob(layer.digest())?.is_some() {
                let blob = present(staged, layer)?;
                plan.blobs.push(blob);
                plan.layers.push(blob);
            } else if !in_store(store, layer)? {
                plan.missing.push(layer.digest().clone());
            }
        }
        let config = manifest.config();
        let config_blob = present(staged, config)?;
        if is_image_config(config.media_type()) {
            check_config(store, config_blob, config, manifest.layers().len())?;
        }
        plan.blobs.push(config_blob);
        plan.configs.push(config.digest().clone());
    }
    plan.blobs.push(blob);
    Ok(())
}

fn is_image_config(media_type: &MediaType) -> bool {
    matches!(media_type, MediaType::ImageConfig) || media_type.to_string() == DOCKER_CONFIG
}

/// A config must parse and list one diff_id per layer.
fn check_config(store: &Store, blob: &StagedBlob, d: &Descriptor, layers: usize) -> Result<()> {
    let bytes = blob.read_small(store, MAX_METADATA_SIZE, &format!("config {}", d.digest()))?;
    let config: oci_spec::image::ImageConfiguration =
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::invalid(format!("config {} is not an image config: {e}", d.digest()))
        })?;
    let diff_ids = config.rootfs().diff_ids().len();
    if diff_ids != layers {
        return Err(Error::invalid(format!(
            "config {} lists {diff_ids} diff_ids for a manifest of {layers} layers",
            d.digest()
        )));
    }
    Ok(())
}

/// Whether the store holds a layer the archive lacks (a thin archive's,
/// see `thin.rs`), with its declared size; asked under the writer lock, so
/// that garbage collection keeps it until the image is named.
fn in_store(store: &Store, layer: &Descriptor) -> Result<bool> {
    Ok(store.has_blob_for_write(layer.digest())?
        && store.blob_size(layer.digest())? == layer.size())
}

/// The staged blob a descriptor names, present with the declared size.
fn present<'a>(staged: &'a StagedArchive, d: &Descriptor) -> Result<&'a StagedBlob> {
    let blob = staged.blob(d.digest())?.ok_or_else(|| {
        Error::invalid(format!(
            "the archive lacks blob {} ({})",
            d.digest(),
            d.media_type()
        ))
    })?;
    if blob.size != d.size() {
        return Err(Error::invalid(format!(
            "blob {} has {} bytes in the archive where {} are declared",
            d.digest(),
            blob.size,
            d.size()
        )));
    }
    Ok(blob)
}

/// A manifest.json image that index.json does not cover.
fn legacy_plan<'a>(
    store: &Store,
    staged: &'a StagedArchive,
    item: &super::ManifestItem,
) -> Result<Plan<'a>> {
    let image = legacy::check(store, staged, item)?;
    let digest = img_core::digest::of_bytes(&image.manifest);
    let size = image.manifest.len() as u64;
    let made = store.stage(&image.manifest[..], size, Some(&digest))?;
    let layers = image.layers;
    let mut blobs = layers.clone();
    blobs.push(image.config);
    Ok(Plan {
        top: Descriptor::new(MediaType::ImageManifest, size, digest),
        blobs,
        layers,
        made: Some(made),
        names: image.names,
        configs: vec![image.config.digest.clone()],
        missing: Vec::new(),
    })
}

/// One plan per image, with the names of every entry for it.
fn merge(plans: Vec<Plan<'_>>) -> Vec<Plan<'_>> {
    let mut merged: Vec<Plan<'_>> = Vec::new();
    for plan in plans {
        match merged
            .iter_mut()
            .find(|m| m.top.digest() == plan.top.digest())
        {
            Some(m) => {
                for n in plan.names {
                    if !m.names.contains(&n) {
                        m.names.push(n);
                    }
                }
            }
            None => merged.push(plan),
        }
    }
    merged
}

/// Commit every plan's blobs, then name the images in one index update.
fn commit(store: &Store, plans: Vec<Plan<'_>>) -> Result<Vec<Loaded>> {
    // One commit for all: the blobs are synced together, each plan's
    // children before its manifest.
    let mut committed = HashSet::new();
    let mut order: Vec<&StagedBlob> = Vec::new();
    for plan in &plans {
        for blob in plan.blobs.iter().copied().chain(plan.made.as_ref()) {
            if committed.insert(blob.digest.clone()) {
                order.push(blob);
            }
        }
    }
    store.commit_staged(&order)?;
    let mut loaded = Vec::new();
    for plan in &plans {
        let target = store.load_target(&plan.top)?;
        let mut replaced = Vec::new();
        let index = store.index()?;
        for name in &plan.names {
            if let Some(old) = index.find_name(name) {
                if old.digest() != target.digest() {
                    let id = store
                        .load_target(&old.descriptor)
                        .map(|t| t.id().clone())
                        .unwrap_or_else(|_| old.digest().clone());
                    // Docker tells only when the name moves to another
                    // image ID (a legacy archive of the same image gets
                    // another manifest here, not another ID).
                    if &id != target.id() {
                        replaced.push((name.clone(), id));
                    }
                }
            }
        }
        loaded.push(Loaded {
            target,
            names: plan.names.clone(),
            replaced,
        });
    }
    store.update_index(|index| {
        for image in &loaded {
            let descriptor = image.target.descriptor();
            if image.names.is_empty() {
                index.add_unnamed(descriptor);
            }
            for name in &image.names {
                index.set_name(name, descriptor);
            }
        }
        Ok(())
    })?;
    Ok(loaded)
}
