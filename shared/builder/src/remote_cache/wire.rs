//! BuildKit's `CacheConfig` as it travels (the JSON of a cache's config
//! blob), with img's additions under names BuildKit ignores; what the
//! records mean, and how they are made and read, is in `format.rs`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cache::How;
use img_core::digest::Digest;
use oci_spec::image::Descriptor;

/// BuildKit's `CacheConfig`, plus img's history table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct CacheConfig {
    /// The layer chains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<CacheLayer>,
    /// The records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<CacheRecord>,
    /// img: the history entries the records' configs index.
    #[serde(
        rename = "io.img.history",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub history: Vec<Value>,
    /// img: the contents of `RUN --mount=type=cache` directories
    /// (`cache-mounts=true`), each a layer blob of the manifest.
    #[serde(
        rename = "io.img.cacheMounts",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub cache_mounts: Vec<CacheMount>,
}

/// The contents of one cache mount.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheMount {
    /// The mount's `id` (its target when it has none).
    pub id: String,
    /// The tar of its directory, a layer blob of the manifest.
    pub blob: Digest,
}

/// One layer of a chain.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheLayer {
    /// The layer blob.
    pub blob: Digest,
    /// The chain below it, -1 for none (BuildKit leaves a 0 out).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub parent: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheRecord {
    /// What it made: layer chains.
    #[serde(rename = "layers", default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<CacheResult>,
    /// The key.
    pub digest: Digest,
    /// The records it was made from, by input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Vec<CacheInput>>,
    /// img: what the step made and how it was keyed.
    #[serde(
        rename = "io.img.step",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub step: Option<StepInfo>,
}

/// A record's result: the chain ending at `layer`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheResult {
    /// The index of the top layer's chain.
    pub layer: usize,
    /// When it was made.
    #[serde(rename = "createdAt")]
    pub created_at: String,
}

/// A link to an input record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CacheInput {
    /// BuildKit's selector (img writes none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// The index of the record.
    pub link: usize,
}

/// img's part of a record.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct StepInfo {
    /// The image config after the step, without `history` (see
    /// `history`) and, when the record has results, without
    /// `rootfs.diff_ids` (the layers' annotations give them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    /// The config's history, as indexes into the history table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<usize>>,
    /// The layers, for a record without results (their blobs are not in
    /// this cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<Descriptor>>,
    /// How the step was keyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub how: Option<How>,
    /// For a step found by a second key: the key its state goes on from
    /// (a record of this cache).
    #[serde(rename = "sameAs", default, skip_serializing_if = "Option::is_none")]
    pub same_as: Option<Digest>,
}
