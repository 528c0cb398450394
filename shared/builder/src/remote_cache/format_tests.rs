use std::collections::BTreeMap;

use oci_spec::image::{Descriptor, MediaType};
use serde_json::{json, Value};

use super::*;
use img_core::digest;

fn layer(name: &str) -> (Descriptor, Digest) {
    let blob = digest::of_bytes(format!("blob {name}").as_bytes());
    let diff_id = digest::of_bytes(format!("tar {name}").as_bytes());
    (
        Descriptor::new(MediaType::ImageLayerGzip, 100, blob),
        diff_id,
    )
}

fn how(instruction: &str) -> How {
    How {
        instruction: instruction.into(),
        text: digest::of_bytes(instruction.as_bytes()),
        inputs: BTreeMap::from([("files".to_string(), digest::of_bytes(b"x"))]),
    }
}

/// A state after `layers` made by steps named `steps` (one history entry
/// each; a step named `ENV…` makes no layer).
fn config(layers: &[&(Descriptor, Digest)], steps: &[&str]) -> Value {
    let history: Vec<Value> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut h =
                json!({"created": format!("2026-11-0{}T00:00:00Z", i + 1), "created_by": s});
            if s.starts_with("ENV") {
                h["empty_layer"] = json!(true);
            }
            h
        })
        .collect();
    json!({
        "architecture": "amd64", "os": "linux",
        "created": format!("2026-11-0{}T00:00:00Z", steps.len()),
        "config": {"Env": [format!("STEPS={}", steps.len())]},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|(_, d)| d.to_string()).collect::<Vec<_>>()},
        "history": history,
    })
}

fn step(
    key: &str,
    parent: Option<&str>,
    layers: &[&(Descriptor, Digest)],
    steps: &[&str],
) -> ExportStep {
    ExportStep {
        key: digest::of_bytes(key.as_bytes()),
        parent: parent.map(|p| digest::of_bytes(p.as_bytes())),
        config: config(layers, steps),
        layers: layers.iter().map(|(d, _)| d.clone()).collect(),
        how: Some(how(key)),
        with_layers: true,
        same_as: None,
    }
}

fn chain() -> Vec<ExportStep> {
    let (a, b) = (layer("a"), layer("b"));
    vec![
        step("copy", Some("base"), &[&a], &["COPY a"]),
        step("env", Some("copy"), &[&a], &["COPY a", "ENV x"]),
        step("run", Some("env"), &[&a, &b], &["COPY a", "ENV x", "RUN b"]),
    ]
}

#[test]
fn a_chain_round_trips_exactly() {
    let steps = chain();
    let encoded = encode(&steps, &[]).unwrap();
    // Base record plus three steps; two layer chains; two blobs.
    assert_eq!(encoded.config.records.len(), 4);
    assert_eq!(encoded.config.layers.len(), 2);
    assert_eq!(encoded.layers.len(), 2);
    let annotations = encoded.layers[0].annotations().clone().unwrap();
    assert_eq!(annotations[UNCOMPRESSED], layer("a").1.to_string());
    assert_eq!(annotations[CREATED_AT], "2026-11-01T00:00:00Z");
    // Shared history is stored once.
    assert_eq!(encoded.config.history.len(), 3);
    // Through JSON, as it travels.
    let bytes = serde_json::to_vec(&encoded.config).unwrap();
    let parsed: CacheConfig = serde_json::from_slice(&bytes).unwrap();
    let table = decode(&parsed, &encoded.layers).unwrap();
    for s in &steps {
        let found = &table.steps[&s.key];
        assert_eq!(found.config, s.config, "the config comes back exactly");
        assert_eq!(found.layers, s.layers);
        assert_eq!(found.parent, s.parent);
        assert_eq!(found.how, s.how);
    }
    // The same steps give the same bytes (a re-export changes nothing).
    let mut shuffled = steps.clone();
    shuffled.reverse();
    let again = serde_json::to_vec(&encode(&shuffled, &[]).unwrap().config).unwrap();
    assert_eq!(bytes, again);
}

#[test]
fn buildkit_field_names_and_zero_parents() {
    let encoded = encode(&chain(), &[]).unwrap();
    let v: Value = serde_json::to_value(&encoded.config).unwrap();
    assert_eq!(v["layers"][0]["parent"], -1);
    assert!(
        v["layers"][1].get("parent").is_none(),
        "BuildKit leaves out a 0 parent"
    );
    let run = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["digest"] == digest::of_bytes(b"run").to_string())
        .unwrap();
    assert_eq!(run["layers"][0]["layer"], 1);
    assert!(run["layers"][0]["createdAt"].is_string());
    assert!(run["inputs"][0][0]["link"].is_number());
    assert!(run["io.img.step"]["config"]["rootfs"]
        .get("diff_ids")
        .is_none());
}

#[test]
fn steps_without_layers_keep_their_descriptors() {
    let mut steps = chain();
    steps[2].with_layers = false;
    let encoded = encode(&steps, &[]).unwrap();
    assert_eq!(
        encoded.layers.len(),
        1,
        "only the layers of steps with layers"
    );
    let table = decode(&encoded.config, &encoded.layers).unwrap();
    let run = &table.steps[&steps[2].key];
    assert_eq!(run.layers, steps[2].layers);
    assert_eq!(run.config, steps[2].config);
    assert!(!table.blobs.contains_key(layer("b").0.digest()));
}

#[test]
fn a_second_key_goes_on_from_the_first() {
    let mut steps = chain();
    let alias = ExportStep {
        key: digest::of_bytes(b"copy-from-stage"),
        same_as: Some(steps[0].key.clone()),
        how: Some(how("COPY --from=build a")),
        ..steps[0].clone()
    };
    steps.push(alias.clone());
    let encoded = encode(&steps, &[]).unwrap();
    let table = decode(&encoded.config, &encoded.layers).unwrap();
    let found = &table.steps[&alias.key];
    assert_eq!(found.key, steps[0].key);
    assert_eq!(found.config, steps[0].config);
    assert_eq!(found.how, alias.how);
}

#[test]
fn inline_caches_index_the_image() {
    let steps = chain();
    let last = &steps[2];
    let text = crate::remote_cache::inline::encode(&steps, &last.config, &last.layers).unwrap();
    let table = crate::remote_cache::inline::decode(&text, &last.config, &last.layers).unwrap();
    for s in &steps {
        let found = &table.steps[&s.key];
        assert_eq!(found.config, s.config);
        assert_eq!(found.layers, s.layers);
    }
    // A step that is not on the image's way is left out.
    let other = step("other", Some("base"), &[&layer("c")], &["COPY c"]);
    let text = crate::remote_cache::inline::encode(
        &[steps[0].clone(), other.clone()],
        &last.config,
        &last.layers,
    )
    .unwrap();
    let table = crate::remote_cache::inline::decode(&text, &last.config, &last.layers).unwrap();
    assert!(table.steps.contains_key(&steps[0].key));
    assert!(!table.steps.contains_key(&other.key));
}

#[test]
fn malformed_caches_are_refused_whole() {
    let encoded = encode(&chain(), &[]).unwrap();
    // A layer blob missing from the manifest.
    assert!(decode(&encoded.config, &encoded.layers[..1]).is_err());
    // A manifest layer without its diff_id.
    let mut bare = encoded.layers.clone();
    bare[0].set_annotations(None);
    assert!(decode(&encoded.config, &bare).is_err());
    // A parent out of range, a loop, a link out of range, a history index
    // out of range, a result out of range.
    let mut c = encoded.config.clone();
    c.layers[1].parent = 7;
    assert!(decode(&c, &encoded.layers).is_err());
    let mut c = encoded.config.clone();
    c.layers[0].parent = 1;
    c.layers[1].parent = 0;
    assert!(decode(&c, &encoded.layers).is_err());
    let mut c = encoded.config.clone();
    c.records[1].inputs = vec![vec![CacheInput {
        selector: String::new(),
        link: 99,
    }]];
    assert!(decode(&c, &encoded.layers).is_err());
    let mut c = encoded.config.clone();
    for r in &mut c.records {
        if let Some(s) = &mut r.step {
            s.history = Some(vec![42]);
        }
    }
    assert!(decode(&c, &encoded.layers).is_err());
    let mut c = encoded.config.clone();
    for r in &mut c.records {
        for res in &mut r.results {
            res.layer = 9;
        }
    }
    assert!(decode(&c, &encoded.layers).is_err());
    assert!(crate::remote_cache::inline::decode("not base64!", &json!({}), &[]).is_err());
}

#[test]
fn cache_mounts_ride_along_as_blobs() {
    let (blob, diff_id) = layer("go-build");
    let encoded = encode(&chain(), &[("go".into(), blob.clone(), diff_id)]).unwrap();
    assert_eq!(encoded.layers.len(), 3);
    let table = decode(&encoded.config, &encoded.layers).unwrap();
    assert_eq!(table.cache_mounts["go"].digest(), blob.digest());
    assert!(decode(&encoded.config, &encoded.layers[..2]).is_err());
}
