//! JSON that img writes into the store. Keys are sorted (serde_json's map is
//! a BTreeMap), so the same content always gives the same bytes and digest,
//! whatever order the in-memory maps hold their keys in.

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
    serde_json::to_vec(&tree).map_err(|e| Error::invalid(format!("encoding JSON: {e}")))
}
