//! `img-inspect`: an image described as the object `docker image inspect`
//! prints, with Docker's field names and order. `Config` is the image
//! config's `config` object as stored, every field kept (Docker's own
//! extensions such as `Healthcheck` included). For a multi-platform index the
//! object describes the host platform's image, with the index's digest as `Id`
//! as Docker's containerd image store shows it.

use std::collections::BTreeSet;

use gotmpl::Value;
use serde::Serialize;

use crate::template;
use img_core::error::Result;
use img_core::image::{Image, Target};
use img_core::reference::Reference;
use img_store::{Resolved, Store};

/// What `docker image inspect` prints for one image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    /// The image ID (config digest; index digest for a multi-platform image).
    pub id: String,
    /// The names, familiar form (`busybox:latest`).
    pub repo_tags: Vec<String>,
    /// `name@sha256:…` of the manifest (or index) for each repository.
    pub repo_digests: Vec<String>,
    /// Always empty: img keeps no parent chain.
    pub parent: String,
    /// The config's `comment`.
    pub comment: String,
    /// The config's creation time, as stored.
    pub created: String,
    /// The config's `docker_version`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    /// The config's `author`.
    pub author: String,
    /// The config's `config` object.
    pub config: serde_json::Value,
    /// CPU architecture.
    pub architecture: String,
    /// Architecture variant, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Operating system.
    pub os: String,
    /// The bytes the image's blobs occupy in the store.
    pub size: u64,
    /// The layers' diff IDs.
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    /// Local metadata.
    pub metadata: Metadata,
    /// The manifest (or index) descriptor.
    pub descriptor: serde_json::Value,
}

/// `RootFS` of an inspect object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Diff IDs, bottom layer first.
    pub layers: Vec<String>,
}

/// `Metadata` of an inspect object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    /// When the image was last tagged; img does not record it, so Go's zero time.
    pub last_tag_time: String,
}

/// Describe the image `found` as `docker image inspect` does.
pub fn inspect(store: &Store, found: &Resolved) -> Result<ImageInspect> {
    let target = &found.target;
    let image = target.host_image()?;
    let names = store.names_of(target.digest())?;
    let text = |key: &str| {
        image
            .config_json
            .get(key)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    Ok(ImageInspect {
        id: target.id().to_string(),
        repo_tags: repo_tags(&names),
        repo_digests: repo_digests(&names, target),
        parent: String::new(),
        comment: text("comment"),
        created: text("created"),
        docker_version: image
            .config_json
            .get("docker_version")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        author: text("author"),
        config: image
            .config_json
            .get("config")
            .filter(|c| !c.is_null())
            .cloned()
            .unwrap_or_else(|| serde_json::json!({})),
        architecture: image.config.architecture().to_string(),
        variant: image.config.variant().clone(),
        os: image.config.os().to_string(),
        size: size_of(target, image),
        root_fs: RootFs {
            kind: "layers".into(),
            layers: image
                .config
                .rootfs()
                .diff_ids()
                .iter()
                .map(|d| d.to_string())
                .collect(),
        },
        metadata: Metadata {
            last_tag_time: "0001-01-01T00:00:00Z".into(),
        },
        descriptor: serde_json::to_value(target.descriptor()).unwrap_or_default(),
    })
}

fn size_of(target: &Target, image: &Image) -> u64 {
    match target {
        Target::Image(_) => target.content_size(),
        Target::Index(_) => image.content_size(),
    }
}

/// Familiar `name:tag` of every tagged name, sorted.
pub fn repo_tags(names: &[Reference]) -> Vec<String> {
    let tags: BTreeSet<String> = names
        .iter()
        .filter(|n| n.tag().is_some())
        .map(Reference::familiar)
        .collect();
    tags.into_iter().collect()
}

/// `name@digest` for each repository that names the image, sorted.
pub fn repo_digests(names: &[Reference], target: &Target) -> Vec<String> {
    let digests: BTreeSet<String> = names
        .iter()
        .map(|n| {
            format!(
                "{}@{}",
                n.familiar_name(),
                n.digest().unwrap_or(target.digest())
            )
        })
        .collect();
    digests.into_iter().collect()
}

/// The JSON array `docker image inspect` prints: 4-space indents, a
/// newline at the end.
pub fn to_json_array(images: &[ImageInspect]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    images
        .serialize(&mut serializer)
        .map_err(|e| img_core::Error::invalid(format!("encoding JSON: {e}")))?;
    out.push(b'\n');
    Ok(out)
}

/// The inspect object as template data. Fields a Go struct always has are
/// filled in where the config leaves them out, so that `{{.Config.Entrypoint}}`
/// prints `[]` and `{{.Config.Labels}}` prints `map[]`, as Docker does.
pub fn template_data(inspect: &ImageInspect) -> Result<Value> {
    let data = template::data(inspect)?;
    let Value::Map(top) = &data else {
        return Ok(data);
    };
    let mut config = top.get("Config").cloned().unwrap_or(Value::Nil);
    let present = |config: &Value, key: &str| match config {
        Value::Map(m) => m.get(key).is_some_and(|v| !matches!(v, Value::Nil)),
        _ => false,
    };
    let empty_list = || Value::List(Vec::new().into());
    let empty_map = || Value::Map(Default::default());
    let empty_text = || Value::String("".into());
    for (key, zero) in [
        ("Cmd", empty_list()),
        ("Entrypoint", empty_list()),
        ("Env", empty_list()),
        ("OnBuild", empty_list()),
        ("Shell", empty_list()),
        ("ExposedPorts", empty_map()),
        ("Volumes", empty_map()),
        ("Labels", empty_map()),
        ("User", empty_text()),
        ("WorkingDir", empty_text()),
        ("StopSignal", empty_text()),
        ("ArgsEscaped", Value::Bool(false)),
    ] {
        if !present(&config, key) {
            config = template::with_key(&config, key, zero);
        }
    }
    let mut data = template::with_key(&data, "Config", config);
    for key in ["Variant", "DockerVersion"] {
        if !present(&data, key) {
            data = template::with_key(&data, key, empty_text());
        }
    }
    Ok(data)
}
