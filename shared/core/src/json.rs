//! JSON that img writes, encoded in one place. Into the store it goes
//! [`canonical`]: keys sorted (serde_json's map is a BTreeMap), so the same
//! content always gives the same bytes and digest, whatever order the
//! in-memory maps hold their keys in. Files laid out as another program
//! writes them (Docker's `manifest.json` in an archive) are [`encode`]d with
//! their fields in the order their type declares, and files people open by
//! hand are [`pretty`]. Where such a file is written, and how lastingly,
//! is the store's (`img_store::Replace`).

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// The strings of a JSON list (an image config's `Env`, `Cmd`, …); none
/// when it is missing or not a list.
pub fn strings(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Serialize `value` with sorted keys and no whitespace.
pub fn canonical(value: &impl Serialize) -> Result<Vec<u8>> {
    let tree =
        serde_json::to_value(value).map_err(|e| Error::invalid(format!("encoding JSON: {e}")))?;
    encode(&tree)
}

/// Serialize `value` with no whitespace, a struct's fields in the order
/// its type declares them.
pub fn encode(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::invalid(format!("encoding JSON: {e}")))
}

/// Serialize `value` indented for people to read (two spaces, a field a
/// line), a struct's fields in the order its type declares them: files
/// users and runtimes open by hand (a container's record, a runtime's
/// `config.json`, Docker's `config.json`).
pub fn pretty(value: &impl Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(value).map_err(|e| Error::invalid(format!("encoding JSON: {e}")))
}
