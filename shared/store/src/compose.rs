//! Composing new images from parts in the store: a config (JSON, every field
//! kept) and layer blobs already stored become an image — config blob, then
//! OCI manifest, then (optionally) a name, in that order, so the store never
//! names an incomplete image. Used by img-import, and by every program that
//! makes images from layers (commit, build).

use chrono::{DateTime, SecondsFormat, Utc};
use oci_spec::image::{Descriptor, MediaType};
use serde_json::{json, Map, Value};

use crate::Store;
use img_core::digest::Digest;
use img_core::error::{Error, Result};
use img_core::image::Target;
use img_core::platform::Platform;
use img_core::record;
use img_core::reference::Reference;

/// The creation time for a new image: `$SOURCE_DATE_EPOCH` when set (for
/// reproducible images, as BuildKit honours it), else now.
pub fn creation_time() -> Result<DateTime<Utc>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.is_empty() => text
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "SOURCE_DATE_EPOCH={text:?} is not a number of seconds since 1970"
                ))
            }),
        _ => Ok(Utc::now()),
    }
}

/// Format a time as configs carry it (RFC 3339, UTC).
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The config of an image with no layers yet, for `platform`.
pub fn empty_config(platform: &Platform, created: DateTime<Utc>) -> Value {
    let mut config = json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "created": timestamp(created),
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    });
    if let Some(variant) = &platform.variant {
        config["variant"] = json!(variant);
    }
    config
}

/// The `config` object of an image config (Cmd, Env, …), created if absent.
pub fn runtime_config(config: &mut Value) -> Result<&mut Map<String, Value>> {
    let object = config
        .as_object_mut()
        .ok_or_else(|| Error::invalid("an image config must be a JSON object"))?;
    let slot = object
        .entry("config")
        .or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
        .ok_or_else(|| Error::invalid("the image config's \"config\" field is not an object"))
}

/// The diff_ids an image config lists (`rootfs.diff_ids`), bottom first;
/// none when it lists none.
pub fn diff_ids(config: &Value) -> Result<Vec<Digest>> {
    config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|ids| {
            ids.iter()
                .map(|d| img_core::digest::parse(d.as_str().unwrap_or_default()))
                .collect::<Result<Vec<_>>>()
        })
        .unwrap_or_else(|| Ok(Vec::new()))
}

/// Add a layer's diff_id and its history entry to a config.
pub fn add_layer(config: &mut Value, diff_id: &Digest, history: Value) -> Result<()> {
    let diff_ids = config
        .pointer_mut("/rootfs/diff_ids")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| Error::invalid("the image config has no rootfs.diff_ids list"))?;
    diff_ids.push(json!(diff_id.to_string()));
    add_history(config, history)
}

/// Add a history entry (a layer's, or an empty layer's with
/// `"empty_layer": true`).
pub fn add_history(config: &mut Value, history: Value) -> Result<()> {
    let object = config
        .as_object_mut()
        .ok_or_else(|| Error::invalid("an image config must be a JSON object"))?;
    let entries = object.entry("history").or_insert_with(|| json!([]));
    match entries.as_array_mut() {
        Some(list) => {
            list.push(history);
            Ok(())
        }
        None => Err(Error::invalid("the image config's history is not a list")),
    }
}

/// The media types of a new image's manifest and config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    /// OCI image manifest and config.
    Oci,
    /// Docker schema 2 manifest and config (for images made from a Docker
    /// base, whose layers keep their Docker media types, as BuildKit does).
    Docker,
}

impl ManifestFormat {
    /// The manifest media type.
    pub fn manifest_media_type(self) -> MediaType {
        match self {
            ManifestFormat::Oci => MediaType::ImageManifest,
            ManifestFormat::Docker => MediaType::Other(img_core::image::DOCKER_MANIFEST.into()),
        }
    }

    /// The config media type.
    pub fn config_media_type(self) -> MediaType {
        match self {
            ManifestFormat::Oci => MediaType::ImageConfig,
            ManifestFormat::Docker => MediaType::Other(img_core::image::DOCKER_CONFIG.into()),
        }
    }
}

/// Store `config` and an OCI manifest listing `layers` (already stored);
/// returns the new image. The config is written with sorted keys, so equal
/// configs give equal image IDs.
pub fn write_image(store: &Store, config: &Value, layers: &[Descriptor]) -> Result<Target> {
    write_image_as(store, config, layers, ManifestFormat::Oci)
}

/// [`write_image`] with the manifest and config media types of `format`.
pub fn write_image_as(
    store: &Store,
    config: &Value,
    layers: &[Descriptor],
    format: ManifestFormat,
) -> Result<Target> {
    let diff_ids = config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if diff_ids != layers.len() {
        return Err(Error::invalid(format!(
            "the config lists {diff_ids} diff_ids for {} layers",
            layers.len()
        )));
    }
    for layer in layers {
        if !store.has_blob_for_write(layer.digest())? {
            return Err(Error::not_found(format!(
                "layer {} is not in the store",
                layer.digest()
            )));
        }
    }
    let config_bytes = img_core::json::canonical(config)?;
    let (config_digest, config_size) = store.write_blob(&config_bytes)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": format.manifest_media_type().to_string(),
        "config": {
            "mediaType": format.config_media_type().to_string(),
            "digest": config_digest.to_string(),
            "size": config_size,
        },
        "layers": layers,
    });
    let manifest_bytes = img_core::json::canonical(&manifest)?;
    let (digest, size) = store.write_blob(&manifest_bytes)?;
    store.load_target(&Descriptor::new(format.manifest_media_type(), size, digest))
}

/// Name a new image (moving the name as img-tag does), or keep it as an
/// unnamed image; returns its record.
pub fn name(store: &Store, target: &Target, reference: Option<&Reference>) -> Result<Descriptor> {
    let descriptor = target.descriptor().clone();
    store.update_index(|index| {
        match reference {
            Some(r) => {
                index.set_name(r, &descriptor);
            }
            None => index.add_unnamed(&descriptor),
        }
        Ok(())
    })?;
    Ok(record::for_target(target, reference))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composes_an_image_from_a_layer() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let layer_bytes = vec![0u8; 1024];
        let (digest, size) = store.write_blob(&layer_bytes).unwrap();
        let layer = Descriptor::new(MediaType::ImageLayer, size, digest.clone());
        let created = DateTime::from_timestamp(0, 0).unwrap();
        let mut config = empty_config(&Platform::parse("linux/arm/v7").unwrap(), created);
        add_layer(&mut config, &digest, json!({"created": timestamp(created)})).unwrap();
        runtime_config(&mut config)
            .unwrap()
            .insert("Cmd".into(), json!(["sh"]));
        let target = write_image(&store, &config, &[layer]).unwrap();
        let Target::Image(image) = &target else {
            panic!("an image")
        };
        assert_eq!(image.manifest.layers().len(), 1);
        assert_eq!(image.platform().to_string(), "linux/arm/v7");
        let record = name(&store, &target, Some(&Reference::parse("x:1").unwrap())).unwrap();
        assert_eq!(record.digest(), target.digest());
        assert!(store.resolve("x:1").is_ok());
        // the same config and layers give the same image
        let again = write_image(&store, &config, image.manifest.layers()).unwrap();
        assert_eq!(again.digest(), target.digest());
    }
}
