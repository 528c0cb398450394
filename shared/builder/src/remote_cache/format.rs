//! BuildKit's cache format, with img's step keys in it.
//!
//! A cache is an OCI image manifest whose config has the media type
//! `application/vnd.buildkit.cacheconfig.v0` and whose layers are the
//! cached layers, each annotated with its uncompressed digest
//! (`containerd.io/uncompressed`) and creation time (`buildkit/createdat`).
//! The config (BuildKit's `CacheConfig`) lists the layer chains (`layers`:
//! a blob and the index of the layer below it, -1 for none) and the
//! records: a key (`digest`), the records it was made from (`inputs`), and
//! the layer chain of what it made (`layers`: an index into the chains).
//!
//! img's records are keyed by img's step keys (see `cache.rs`), so a
//! record names the whole chain of steps that made it, and its one input
//! is the step before. What BuildKit keeps elsewhere and img needs to go on
//! from a hit rides along under names BuildKit ignores: `io.img.step` in a
//! record (the step's image config without its history and diff_ids, its
//! history as indices into the config's `io.img.history` table, how the
//! step was keyed, and for a step found by a second key the key it goes on
//! from), so the image config of every cached step is exact and a build
//! whose every step hits gives the same image ID. A record of a step whose
//! layers are not in the cache (another stage's, with `mode=min`) lists
//! their descriptors in `io.img.step` instead of results: it gives the key
//! to go on from, and its layers are fetched from nowhere.
//!
//! An inline cache (`type=inline`) is the records alone, in the image
//! config (see `inline.rs`).
//!
//! [`decode`] checks every index and digest: a cache that does not hold
//! together is refused whole.

use std::collections::{BTreeMap, HashMap, HashSet};

use oci_spec::image::Descriptor;
use serde_json::{json, Value};

use crate::cache::How;

use img_core::digest::{self, Digest};
use img_core::error::{Error, Kind, Result};

/// The media type of BuildKit's cache config.
pub(crate) const CACHE_CONFIG: &str = "application/vnd.buildkit.cacheconfig.v0";
/// The layer annotation with the uncompressed digest (the diff_id).
pub const UNCOMPRESSED: &str = "containerd.io/uncompressed";
/// The layer annotation with the layer's creation time.
pub(crate) const CREATED_AT: &str = "buildkit/createdat";
/// The image config key of an inline cache.
pub(crate) const INLINE_KEY: &str = "moby.buildkit.cache.v0";
pub use super::wire::{
    CacheConfig, CacheInput, CacheLayer, CacheMount, CacheRecord, CacheResult, StepInfo,
};

/// What a record's time is when its config has none.
const EPOCH: &str = "1970-01-01T00:00:00Z";

/// A step to export.
#[derive(Debug, Clone)]
pub struct ExportStep {
    /// Its key.
    pub key: Digest,
    /// The key it started from (`None` for a base).
    pub parent: Option<Digest>,
    /// The image config after it.
    pub config: Value,
    /// The layers after it.
    pub layers: Vec<Descriptor>,
    /// How it was keyed.
    pub how: Option<How>,
    /// Whether its layers go into the cache (else only its key and config).
    pub with_layers: bool,
    /// For a second key of a step: the step's own key.
    pub same_as: Option<Digest>,
}

/// A cached step, as a cache gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The key its state goes on from.
    pub key: Digest,
    /// The key it started from.
    pub parent: Option<Digest>,
    /// The image config after it, exactly as it was.
    pub config: Value,
    /// The layers after it.
    pub layers: Vec<Descriptor>,
    /// How it was keyed, when the cache says.
    pub how: Option<How>,
}

/// What a cache holds: its steps by key, and the blobs it can give.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Every step, by every key it is found by.
    pub steps: HashMap<Digest, Step>,
    /// The layer blobs of the cache.
    pub blobs: HashMap<Digest, Descriptor>,
    /// The contents of cache mounts, by id.
    pub cache_mounts: HashMap<String, Descriptor>,
}

/// A cache that does not hold together.
pub(super) fn broken(what: impl std::fmt::Display) -> Error {
    Error::new(Kind::Remote, format!("the cache is malformed: {what}"))
}

/// The diff_ids of a config (`rootfs.diff_ids`).
pub(super) fn diff_ids(config: &Value) -> Option<Vec<Digest>> {
    config
        .pointer("/rootfs/diff_ids")?
        .as_array()?
        .iter()
        .map(|d| d.as_str().and_then(|d| digest::parse(d).ok()))
        .collect()
}

/// When each layer of `config` was made: the `created` of the history
/// entries that made layers, else the config's own.
fn layer_times(config: &Value, layers: usize) -> Vec<String> {
    let own = config
        .get("created")
        .and_then(Value::as_str)
        .unwrap_or(EPOCH)
        .to_string();
    let mut times: Vec<String> = config
        .get("history")
        .and_then(Value::as_array)
        .map(|h| {
            h.iter()
                .filter(|e| e.get("empty_layer").and_then(Value::as_bool) != Some(true))
                .map(|e| {
                    e.get("created")
                        .and_then(Value::as_str)
                        .unwrap_or(&own)
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    times.resize(layers, own);
    times
}

/// A layer descriptor as img keeps it: without the cache's annotations.
pub(super) fn plain(descriptor: &Descriptor) -> Descriptor {
    let mut out = descriptor.clone();
    let rest: Option<HashMap<String, String>> = descriptor.annotations().as_ref().map(|a| {
        a.iter()
            .filter(|(k, _)| k.as_str() != UNCOMPRESSED && k.as_str() != CREATED_AT)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    });
    out.set_annotations(rest.filter(|a| !a.is_empty()));
    out
}

/// `config` split for a record: the rest, and its history as indexes into
/// `table` (entries added to it as first seen).
fn split_config(
    config: &Value,
    strip_diff_ids: bool,
    table: &mut Vec<Value>,
    seen: &mut HashMap<String, usize>,
) -> (Value, Option<Vec<usize>>) {
    let mut rest = config.clone();
    let history = rest
        .as_object_mut()
        .and_then(|o| o.remove("history"))
        .and_then(|h| match h {
            Value::Array(entries) => Some(entries),
            _ => None,
        })
        .map(|entries| {
            entries
                .into_iter()
                .map(|entry| {
                    let text = entry.to_string();
                    *seen.entry(text).or_insert_with(|| {
                        table.push(entry);
                        table.len() - 1
                    })
                })
                .collect()
        });
    if strip_diff_ids {
        if let Some(rootfs) = rest.get_mut("rootfs").and_then(Value::as_object_mut) {
            rootfs.remove("diff_ids");
        }
    }
    (rest, history)
}

/// What [`encode`] makes: the config, and the layer descriptors of the
/// cache manifest (annotated), bottom layers first.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The cache config.
    pub config: CacheConfig,
    /// The manifest's layers.
    pub layers: Vec<Descriptor>,
}

/// The cache of `steps` (a base they start from gets a record of its own)
/// and of the cache mounts `mounts` (id, tar blob, its diff_id).
pub fn encode(steps: &[ExportStep], mounts: &[(String, Descriptor, Digest)]) -> Result<Encoded> {
    let mut steps: Vec<&ExportStep> = steps.iter().collect();
    // Of two records of one key, the one that says how it was keyed.
    steps.sort_by(|a, b| (a.key.as_ref(), a.how.is_none()).cmp(&(b.key.as_ref(), b.how.is_none())));
    steps.dedup_by(|a, b| a.key == b.key);
    let known: HashSet<&Digest> = steps.iter().map(|s| &s.key).collect();
    let mut keys: Vec<Digest> = steps.iter().map(|s| s.key.clone()).collect();
    for step in &steps {
        if let Some(parent) = step.parent.as_ref().filter(|p| !known.contains(p)) {
            keys.push(parent.clone());
        }
    }
    keys.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
    keys.dedup();
    let index: HashMap<&Digest, usize> = keys.iter().enumerate().map(|(i, k)| (k, i)).collect();

    let mut config = CacheConfig::default();
    let mut chains: HashMap<(i64, Digest), usize> = HashMap::new();
    let mut manifest_layers: Vec<Descriptor> = Vec::new();
    let mut in_manifest: HashSet<Digest> = HashSet::new();
    let mut seen_history = HashMap::new();
    let mut records: BTreeMap<usize, CacheRecord> = BTreeMap::new();
    for step in &steps {
        let ids = diff_ids(&step.config).unwrap_or_default();
        if ids.len() != step.layers.len() {
            return Err(Error::invalid(format!(
                "step {}: its config lists {} diff_ids for {} layers",
                step.key,
                ids.len(),
                step.layers.len()
            )));
        }
        let mut results = Vec::new();
        let with_layers = step.with_layers && !step.layers.is_empty();
        if with_layers {
            let times = layer_times(&step.config, step.layers.len());
            let mut parent = -1i64;
            for ((layer, diff_id), time) in step.layers.iter().zip(&ids).zip(&times) {
                let at = *chains
                    .entry((parent, layer.digest().clone()))
                    .or_insert_with(|| {
                        config.layers.push(CacheLayer {
                            blob: layer.digest().clone(),
                            parent,
                        });
                        config.layers.len() - 1
                    });
                if in_manifest.insert(layer.digest().clone()) {
                    let mut annotated = plain(layer);
                    let mut annotations = annotated.annotations().clone().unwrap_or_default();
                    annotations.insert(UNCOMPRESSED.into(), diff_id.to_string());
                    annotations.insert(CREATED_AT.into(), time.clone());
                    annotated.set_annotations(Some(annotations));
                    manifest_layers.push(annotated);
                }
                parent = at as i64;
            }
            results.push(CacheResult {
                layer: parent as usize,
                created_at: step
                    .config
                    .get("created")
                    .and_then(Value::as_str)
                    .unwrap_or(EPOCH)
                    .to_string(),
            });
        }
        let (rest, history) = split_config(
            &step.config,
            with_layers,
            &mut config.history,
            &mut seen_history,
        );
        let info = StepInfo {
            config: Some(rest),
            history,
            layers: (!with_layers).then(|| step.layers.iter().map(plain).collect()),
            how: step.how.clone(),
            same_as: step.same_as.clone(),
        };
        let inputs = step
            .parent
            .as_ref()
            .map(|p| {
                vec![vec![CacheInput {
                    selector: String::new(),
                    link: index[p],
                }]]
            })
            .unwrap_or_default();
        records.insert(
            index[&step.key],
            CacheRecord {
                results,
                digest: step.key.clone(),
                inputs,
                step: Some(info),
            },
        );
    }
    for (i, key) in keys.iter().enumerate() {
        records.entry(i).or_insert_with(|| CacheRecord {
            results: Vec::new(),
            digest: key.clone(),
            inputs: Vec::new(),
            step: None,
        });
    }
    config.records = records.into_values().collect();
    for (id, blob, diff_id) in mounts {
        if in_manifest.insert(blob.digest().clone()) {
            let mut annotated = plain(blob);
            annotated.set_annotations(Some(HashMap::from([(
                UNCOMPRESSED.to_string(),
                diff_id.to_string(),
            )])));
            manifest_layers.push(annotated);
        }
        config.cache_mounts.push(CacheMount {
            id: id.clone(),
            blob: blob.digest().clone(),
        });
    }
    Ok(Encoded {
        config,
        layers: manifest_layers,
    })
}

/// The steps of the cache `config` whose layer blobs are `blobs` (the
/// cache manifest's layers, annotated with their diff_ids).
pub fn decode(config: &CacheConfig, blobs: &[Descriptor]) -> Result<Table> {
    let mut by_digest: HashMap<Digest, (Descriptor, Digest)> = HashMap::new();
    for blob in blobs {
        digest::ensure_sha256(blob.digest()).map_err(broken)?;
        let diff_id = blob
            .annotations()
            .as_ref()
            .and_then(|a| a.get(UNCOMPRESSED))
            .and_then(|d| digest::parse(d).ok())
            .ok_or_else(|| {
                broken(format!(
                    "layer {} has no {UNCOMPRESSED} annotation",
                    blob.digest()
                ))
            })?;
        by_digest.insert(blob.digest().clone(), (plain(blob), diff_id));
    }
    decode_with(config, &by_digest, &config.history)
}

pub(super) fn decode_with(
    config: &CacheConfig,
    blobs: &HashMap<Digest, (Descriptor, Digest)>,
    history: &[Value],
) -> Result<Table> {
    // Every chain, bottom first, checked for loops and missing blobs.
    let mut chains: Vec<Vec<(Descriptor, Digest)>> = Vec::with_capacity(config.layers.len());
    for start in 0..config.layers.len() {
        let mut chain = Vec::new();
        let mut at = start as i64;
        while at >= 0 {
            let layer = config
                .layers
                .get(at as usize)
                .ok_or_else(|| broken(format!("layer {start} has a parent out of range")))?;
            if chain.len() > config.layers.len() {
                return Err(broken(format!("layer {start}'s parents loop")));
            }
            let found = blobs
                .get(&layer.blob)
                .ok_or_else(|| broken(format!("layer blob {} is not in the cache", layer.blob)))?;
            chain.push(found.clone());
            at = layer.parent;
        }
        chain.reverse();
        chains.push(chain);
    }
    let mut table = Table {
        blobs: blobs
            .iter()
            .map(|(d, (descriptor, _))| (d.clone(), descriptor.clone()))
            .collect(),
        ..Table::default()
    };
    for mount in &config.cache_mounts {
        let (descriptor, _) = blobs.get(&mount.blob).ok_or_else(|| {
            broken(format!(
                "cache mount {:?}'s blob is not in the cache",
                mount.id
            ))
        })?;
        table
            .cache_mounts
            .insert(mount.id.clone(), descriptor.clone());
    }
    let mut aliases = Vec::new();
    for record in &config.records {
        let parent = match record.inputs.first().and_then(|i| i.first()) {
            Some(input) => Some(
                config
                    .records
                    .get(input.link)
                    .ok_or_else(|| broken(format!("record {} links out of range", record.digest)))?
                    .digest
                    .clone(),
            ),
            None => None,
        };
        let Some(info) = &record.step else {
            // A base's record, or one of BuildKit's own.
            continue;
        };
        if let Some(same_as) = &info.same_as {
            aliases.push((
                record.digest.clone(),
                same_as.clone(),
                parent,
                info.how.clone(),
            ));
            continue;
        }
        let mut config_value = info
            .config
            .clone()
            .filter(Value::is_object)
            .ok_or_else(|| broken(format!("record {} has no image config", record.digest)))?;
        if let Some(indexes) = &info.history {
            let entries = indexes
                .iter()
                .map(|&i| {
                    history.get(i).cloned().ok_or_else(|| {
                        broken(format!("record {} names history entry {i}", record.digest))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            config_value["history"] = Value::Array(entries);
        }
        let layers = match (record.results.first(), &info.layers) {
            (Some(result), _) => {
                let chain = chains.get(result.layer).ok_or_else(|| {
                    broken(format!(
                        "record {} names layer {} out of range",
                        record.digest, result.layer
                    ))
                })?;
                let ids: Vec<Value> = chain.iter().map(|(_, id)| json!(id.to_string())).collect();
                match config_value
                    .get_mut("rootfs")
                    .and_then(Value::as_object_mut)
                {
                    Some(rootfs) => {
                        rootfs.insert("diff_ids".into(), Value::Array(ids));
                    }
                    None => config_value["rootfs"] = json!({"type": "layers", "diff_ids": ids}),
                }
                chain.iter().map(|(d, _)| d.clone()).collect()
            }
            (None, Some(layers)) => {
                for layer in layers {
                    digest::ensure_sha256(layer.digest()).map_err(broken)?;
                }
                layers.clone()
            }
            (None, None) => Vec::new(),
        };
        if diff_ids(&config_value).map_or(!layers.is_empty(), |ids| ids.len() != layers.len()) {
            return Err(broken(format!(
                "record {}'s config does not list its layers",
                record.digest
            )));
        }
        table.steps.insert(
            record.digest.clone(),
            Step {
                key: record.digest.clone(),
                parent,
                config: config_value,
                layers,
                how: info.how.clone(),
            },
        );
    }
    for (key, same_as, parent, how) in aliases {
        if let Some(step) = table.steps.get(&same_as).cloned() {
            table.steps.insert(
                key,
                Step {
                    parent,
                    how,
                    ..step
                },
            );
        }
    }
    Ok(table)
}

#[cfg(test)]
#[path = "format_tests.rs"]
mod tests;
