//! An inline cache (`type=inline`): the records of BuildKit's cache config
//! alone, as JSON in base64 under `moby.buildkit.cache.v0` in the image
//! config, as BuildKit writes it. Their layer indexes count the image's own
//! layers (each on the one before) and their history indexes the image's own
//! history, so only the steps on the way to the image can be in it.

use std::collections::HashMap;

use oci_spec::image::Descriptor;
use serde_json::Value;

use super::format::{
    self, broken, decode_with, diff_ids, plain, CacheConfig, CacheLayer, CacheRecord, ExportStep,
    Table, INLINE_KEY,
};
use img_core::digest;
use img_core::error::{Error, Result};

/// The inline cache of `steps` for the image made of `config` and
/// `layers`: the records of the steps whose layers are the image's first
/// layers (the others are left out), history indexing the image's own.
pub fn encode(steps: &[ExportStep], config: &Value, layers: &[Descriptor]) -> Result<String> {
    use base64::Engine as _;
    let history: Vec<Value> = config
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let fits = |s: &ExportStep| {
        s.layers.len() <= layers.len()
            && s.layers
                .iter()
                .zip(layers)
                .all(|(a, b)| a.digest() == b.digest())
            && s.config
                .get("history")
                .and_then(Value::as_array)
                .is_none_or(|h| {
                    h.len() <= history.len() && h.iter().zip(&history).all(|(a, b)| a == b)
                })
    };
    let kept: Vec<ExportStep> = steps
        .iter()
        .filter(|s| fits(s))
        .map(|s| ExportStep {
            with_layers: true,
            ..s.clone()
        })
        .collect();
    let mut encoded = format::encode(&kept, &[])?;
    // Layer chains are the image's layers in order: chain i is layer i on
    // chain i-1, as BuildKit reads an inline cache.
    let chain_of: HashMap<usize, usize> = encoded
        .config
        .layers
        .iter()
        .enumerate()
        .map(|(i, _)| (i, depth(&encoded.config.layers, i)))
        .collect();
    for record in &mut encoded.config.records {
        for result in &mut record.results {
            result.layer = chain_of[&result.layer];
        }
        if let Some(step) = &mut record.step {
            if let Some(h) = &mut step.history {
                // The table was built from these configs, whose history is
                // a prefix of the image's: index i is entry i.
                for (n, i) in h.iter_mut().enumerate() {
                    *i = n;
                }
            }
        }
    }
    let records = serde_json::to_vec(&encoded.config.records)
        .map_err(|e| Error::invalid(format!("encoding the inline cache: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(records))
}

/// How many layers lie below chain `i` (its position in the image).
fn depth(layers: &[CacheLayer], mut i: usize) -> usize {
    let mut n = 0;
    while layers[i].parent >= 0 && n <= layers.len() {
        i = layers[i].parent as usize;
        n += 1;
    }
    n
}

/// The steps of an inline cache (`records`, base64 JSON) in the image made
/// of `config` and `layers`.
pub fn decode(records: &str, config: &Value, layers: &[Descriptor]) -> Result<Table> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(records.trim())
        .map_err(|e| broken(format!("{INLINE_KEY} is not base64: {e}")))?;
    let records: Vec<CacheRecord> =
        serde_json::from_slice(&bytes).map_err(|e| broken(format!("{INLINE_KEY}: {e}")))?;
    let ids = diff_ids(config).unwrap_or_default();
    if ids.len() != layers.len() {
        return Err(broken(
            "the image's config and manifest list different layers",
        ));
    }
    let mut by_digest = HashMap::new();
    let mut chains = Vec::new();
    for (i, (layer, diff_id)) in layers.iter().zip(ids).enumerate() {
        digest::ensure_sha256(layer.digest()).map_err(broken)?;
        by_digest.insert(layer.digest().clone(), (plain(layer), diff_id));
        chains.push(CacheLayer {
            blob: layer.digest().clone(),
            parent: i as i64 - 1,
        });
    }
    let history: Vec<Value> = config
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let cache = CacheConfig {
        layers: chains,
        records,
        ..CacheConfig::default()
    };
    decode_with(&cache, &by_digest, &history)
}
