//! `img-inspect`: an image described as the object `docker image inspect`
//! prints, as current Docker (API 1.52) has it: its fields in Docker's
//! order, `Comment`, `Created` and `Author` only when set (`Comment` is the
//! config's, else the last history entry's, as Docker shows a commit
//! message), `DockerVersion` only when the config has one, `Config` as
//! [`InspectConfig`] reads it, and the manifest's `Descriptor`. For a
//! multi-platform index the object describes the host platform's image,
//! with the index's digest as `Id` as Docker's containerd image store shows
//! it. Templates (`-f`) see the object as Docker's do ([`render`]).

use std::collections::{BTreeMap, BTreeSet};

use gotmpl::Value;
use serde::Serialize;

use crate::go_data::{self, Builder, GoData};
use crate::inspect_config::InspectConfig;
use img_core::error::Result;
use img_core::image::{Image, Target};
use img_core::reference::Reference;
use img_core::template::{self, Format};
use img_store::{Resolved, Store};

/// What `docker image inspect` prints for one image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    /// The image ID (config digest; index digest for a multi-platform image).
    #[serde(rename = "Id")]
    pub id: String,
    /// The names, familiar form (`busybox:latest`).
    pub repo_tags: Vec<String>,
    /// `name@sha256:…` of the manifest (or index) for each repository.
    pub repo_digests: Vec<String>,
    /// The config's `comment`, else the last history entry's.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub comment: String,
    /// The config's creation time, as stored.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created: String,
    /// The config's `docker_version`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    /// The config's `author`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub author: String,
    /// The config's `config` object, as Docker reads it.
    pub config: InspectConfig,
    /// CPU architecture.
    pub architecture: String,
    /// Architecture variant, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Operating system.
    pub os: String,
    /// Operating system version, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// The bytes the image's blobs occupy in the store (config and layers).
    pub size: u64,
    /// The layers' diff IDs.
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    /// Local metadata.
    pub metadata: Metadata,
    /// The manifest (or index) descriptor.
    pub descriptor: InspectDescriptor,
}

/// `RootFS` of an inspect object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Diff IDs, bottom layer first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
}

/// `Metadata` of an inspect object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    /// When the image was last tagged; img does not record it, so Go's zero time.
    pub last_tag_time: String,
}

/// Go's zero `time.Time`, as JSON and as `String()` prints it.
const ZERO_TIME: (&str, &str) = ("0001-01-01T00:00:00Z", "0001-01-01 00:00:00 +0000 UTC");

/// An OCI descriptor in the Go struct's field order.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectDescriptor {
    /// Media type.
    pub media_type: String,
    /// Digest.
    pub digest: String,
    /// Size in bytes.
    pub size: i64,
    /// URLs it may be fetched from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    /// Annotations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Embedded content (base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// The platform of a manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<InspectPlatform>,
    /// An artifact's type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

/// An OCI platform in the Go struct's field order.
#[derive(Debug, Clone, Serialize)]
pub struct InspectPlatform {
    /// CPU architecture.
    pub architecture: String,
    /// Operating system.
    pub os: String,
    /// Operating system version.
    #[serde(rename = "os.version", skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Required operating system features.
    #[serde(rename = "os.features", skip_serializing_if = "Option::is_none")]
    pub os_features: Option<Vec<String>>,
    /// Architecture variant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl InspectDescriptor {
    fn of(descriptor: &oci_spec::image::Descriptor) -> InspectDescriptor {
        InspectDescriptor {
            media_type: descriptor.media_type().to_string(),
            digest: descriptor.digest().to_string(),
            size: descriptor.size() as i64,
            urls: descriptor.urls().clone(),
            annotations: descriptor
                .annotations()
                .as_ref()
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
            data: descriptor.data().clone(),
            platform: descriptor.platform().as_ref().map(|p| InspectPlatform {
                architecture: p.architecture().to_string(),
                os: p.os().to_string(),
                os_version: p.os_version().clone(),
                os_features: p.os_features().clone(),
                variant: p.variant().clone(),
            }),
            artifact_type: descriptor.artifact_type().as_ref().map(|t| t.to_string()),
        }
    }
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
        comment: comment_of(image),
        created: text("created"),
        docker_version: Some(text("docker_version")).filter(|v| !v.is_empty()),
        author: text("author"),
        config: InspectConfig::read(image.config_json.get("config"))?,
        architecture: image.config.architecture().to_string(),
        variant: image.config.variant().clone().filter(|v| !v.is_empty()),
        os: image.config.os().to_string(),
        os_version: image.config.os_version().clone().filter(|v| !v.is_empty()),
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
            last_tag_time: ZERO_TIME.0.into(),
        },
        descriptor: InspectDescriptor::of(target.descriptor()),
    })
}

/// The config's `comment`, else the last history entry's: where `docker
/// commit -m` leaves its message, and where Docker finds it.
fn comment_of(image: &Image) -> String {
    let own = image.config_json.get("comment").and_then(|c| c.as_str());
    let last = || {
        image
            .config_json
            .get("history")
            .and_then(|h| h.as_array())
            .and_then(|h| h.last())
            .and_then(|entry| entry.get("comment"))
            .and_then(|c| c.as_str())
    };
    own.filter(|c| !c.is_empty())
        .or_else(last)
        .unwrap_or_default()
        .to_string()
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

/// Render `format` for one image as `docker inspect -f` does: on the Go
/// struct first (`{{.ID}}`, `{{.Descriptor.MediaType}}`, `{{.Config.Healthcheck.Interval}}`
/// as `30s`, `{{json .Config}}` in Docker's order), then on the JSON
/// object (`{{.Id}}`, `{{.Descriptor.mediaType}}`); see [`go_data`].
pub fn render(format: &Format, inspect: &ImageInspect) -> Result<String> {
    let raw = template::data(inspect)?;
    go_data::render_typed_then_raw(format, |missing| Ok(typed_data(inspect, missing)), &raw)
}

/// The Go struct Docker's CLI decodes (`image.InspectResponse`), as template
/// data; `missing` keys are added to its user maps.
fn typed_data(inspect: &ImageInspect, missing: &BTreeSet<String>) -> GoData {
    let mut b = Builder::new(missing);
    let text = |v: &str| Value::String(v.into());
    let config = inspect.config.template_data(&mut b);
    let root_fs = {
        let layers = b.strings(Some(&inspect.root_fs.layers));
        let fields = vec![("Type", text(&inspect.root_fs.kind)), ("Layers", layers)];
        b.object(fields, &inspect.root_fs)
    };
    let metadata = {
        let (json, printed) = ZERO_TIME;
        let time = b.time(printed, json);
        b.object(vec![("LastTagTime", time)], &inspect.metadata)
    };
    let descriptor = descriptor_data(&mut b, &inspect.descriptor);
    let fields = vec![
        ("ID", text(&inspect.id)),
        ("RepoTags", b.strings(Some(&inspect.repo_tags))),
        ("RepoDigests", b.strings(Some(&inspect.repo_digests))),
        ("Comment", text(&inspect.comment)),
        ("Created", text(&inspect.created)),
        ("Author", text(&inspect.author)),
        ("Config", config),
        ("Architecture", text(&inspect.architecture)),
        (
            "Variant",
            text(inspect.variant.as_deref().unwrap_or_default()),
        ),
        ("Os", text(&inspect.os)),
        (
            "OsVersion",
            text(inspect.os_version.as_deref().unwrap_or_default()),
        ),
        ("Size", Value::Int(inspect.size as i64)),
        ("GraphDriver", Value::Nil),
        ("RootFS", root_fs),
        ("Metadata", metadata),
        ("Descriptor", descriptor),
        ("Manifests", b.strings(None)),
        ("Identity", Value::Nil),
    ];
    let top = b.object(fields, inspect);
    b.finish(top)
}

/// An `ocispec.Descriptor` as template data.
fn descriptor_data(b: &mut Builder, d: &InspectDescriptor) -> Value {
    let text = |v: Option<&str>| Value::String(v.unwrap_or_default().into());
    let platform = match &d.platform {
        None => Value::Nil,
        Some(p) => {
            let features = b.strings(p.os_features.as_ref());
            let fields = vec![
                ("Architecture", text(Some(&p.architecture))),
                ("OS", text(Some(&p.os))),
                ("OSVersion", text(p.os_version.as_deref())),
                ("OSFeatures", features),
                ("Variant", text(p.variant.as_deref())),
            ];
            b.object(fields, p)
        }
    };
    let fields = vec![
        ("MediaType", text(Some(&d.media_type))),
        ("Digest", text(Some(&d.digest))),
        ("Size", Value::Int(d.size)),
        ("URLs", b.strings(d.urls.as_ref())),
        ("Annotations", b.string_map(d.annotations.as_ref())),
        // []byte: Go prints the bytes; base64 text is what img keeps.
        ("Data", text(d.data.as_deref())),
        ("Platform", platform),
        ("ArtifactType", text(d.artifact_type.as_deref())),
    ];
    b.object(fields, d)
}
