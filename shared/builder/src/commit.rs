//! `img-commit`: a new image made of an image and changes, as `docker
//! commit` makes one from a container. The changes are a layer tar (as
//! `docker diff` would list it, with `.wh.` whiteouts for removed paths) and
//! Dockerfile instructions applied to the config; a commit of instructions
//! alone adds a history entry marked `empty_layer`.
//!
//! The new config is built as Docker's `NewChildImage` builds it: the base's
//! platform fields, its runtime config with the changes applied, its
//! diff_ids plus the new layer's, its history plus one entry (author,
//! comment, `created_by`), `created` now (or `$SOURCE_DATE_EPOCH`), the
//! author at the top level; the base's own `comment` is not inherited, and
//! Docker's `container`, `container_config` and `docker_version` are not
//! written (there is no container yet, and OCI has no such fields).
//!
//! Invariants: nothing is named unless the layer was a complete tar whose
//! paths stay inside the root (ingest stores only verified blobs), and the
//! base's layer blobs are shared, never copied.

use std::io::Read;

use oci_spec::image::{Descriptor, MediaType};
use serde_json::{json, Map, Value};

use img_container::Container;
use img_core::error::{Error, Result, ResultExt};
use img_core::image::{self, Image, Target};
use img_core::platform::Platform;
use img_core::reference::Reference;
use img_dockerfile::change;
use img_layers::{create, ingest, upper, Compression};
use img_store::compose::{self, ManifestFormat};
use img_store::ImageArg;
use img_store::Store;

/// The Docker media type of a non-distributable gzip layer.
pub(crate) const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// The program's name as history entries record it.
const PROGRAM: &str = "img-commit";

/// What to commit besides the base image.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The name to give the new image, if any.
    pub reference: Option<Reference>,
    /// Dockerfile instructions applied to the config (`--change`).
    pub changes: Vec<String>,
    /// The commit message: the new history entry's comment.
    pub message: Option<String>,
    /// The author: the config's `author` and the history entry's.
    pub author: Option<String>,
    /// For a multi-platform base, the platform whose image to start from
    /// (the host's when `None`).
    pub platform: Option<Platform>,
    /// What the history entry says made the layer (a container's command);
    /// `img-commit` and the changes when `None`.
    pub created_by: Option<String>,
}

/// Check the changes alone, before anything is read or stored: bad usage
/// changes nothing.
pub fn check_changes(changes: &[String]) -> Result<()> {
    change::apply_all(&mut Map::new(), changes)
}

/// Commit `base` plus the layer tar read from `layer` (none: a commit of
/// config changes only); returns the new image and its record.
pub fn commit(
    store: &Store,
    base: &ImageArg,
    layer: Option<&mut dyn Read>,
    options: &Options,
) -> Result<(Target, Descriptor)> {
    check_changes(&options.changes)?;
    let what = || format!("committing onto {}", base.display());
    let found = base.resolve(store).with_context(what)?;
    let image = &found
        .target
        .image_for(options.platform.as_ref())
        .with_context(what)?
        .clone();
    // An incomplete base (a blob removed meanwhile) fails before the layer
    // is read, not after it is stored.
    for descriptor in image.manifest.layers() {
        if !store.has_blob(descriptor.digest()) {
            return Err(Error::not_found(format!(
                "image {} is incomplete: layer {} is missing (pull or load it again)",
                image.descriptor.digest(),
                descriptor.digest()
            )))
            .with_context(what);
        }
    }
    let mut runtime = base_runtime(image);
    change::apply_all(&mut runtime, &options.changes)?;
    // Everything that may fail without reading the layer fails before it
    // is stored.
    let created = compose::creation_time()?;
    let mut config = child_config(image, runtime, created, options.author.as_deref())?;
    let added = match layer {
        Some(reader) => {
            let ingested = ingest::ingest(store, reader)
                .with_context(|| format!("{}: reading the layer", what()))?;
            // A tar with no entries changes no file: like Docker's commit of
            // an unchanged container, it adds no layer, only history.
            (ingested.entries > 0).then_some(ingested)
        }
        None => None,
    };
    let format = manifest_format(image, added.as_ref().map(|l| l.compression));
    let mut history = json!({
        "created": compose::timestamp(created),
        "created_by": options
            .created_by
            .clone()
            .unwrap_or_else(|| created_by(&options.changes)),
    });
    if let Some(author) = &options.author {
        history["author"] = json!(author);
    }
    if let Some(message) = &options.message {
        history["comment"] = json!(message);
    }
    let mut layers: Vec<Descriptor> = image
        .manifest
        .layers()
        .iter()
        .map(|d| layer_as(d, format))
        .collect();
    match &added {
        Some(layer) => {
            compose::add_layer(&mut config, &layer.diff_id, history)?;
            let mut descriptor = layer.descriptor.clone();
            descriptor.set_media_type(new_layer_media_type(layer.compression, format));
            layers.push(descriptor);
        }
        None => {
            history["empty_layer"] = json!(true);
            compose::add_history(&mut config, history)?;
        }
    }
    let target = compose::write_image_as(store, &config, &layers, format).with_context(what)?;
    let record = compose::name(store, &target, options.reference.as_ref())?;
    Ok((target, record))
}

/// Commit what `container` changed — its writable layer, kept
/// uncompressed as Docker's store keeps it until img-push gzips it (see
/// `img_layers::outbound`) — onto the image it was made from. The history entry says
/// the container's command made it, as Docker's does. A running container
/// is not paused: what it writes during the commit may or may not be in it.
pub fn commit_container(
    store: &Store,
    container: &Container,
    options: &Options,
) -> Result<(Target, Descriptor)> {
    let upper = img_container::Containers::of(store)
        .dir_of(&container.id)
        .upper();
    let (reader, writer) =
        std::io::pipe().map_err(|e| Error::io("making a pipe for the layer", e))?;
    let producer = std::thread::spawn(move || -> Result<()> {
        upper::write_layer(&upper, writer, create::Options::default())?;
        Ok(())
    });
    let mut options = options.clone();
    options.created_by = Some(container.command.join(" "));
    let base = ImageArg::Query(container.image.to_string());
    // The layer's end is where the writer stopped: its error (a name no
    // layer may hold) must fail the commit before anything is named.
    let mut layer = Produced {
        reader: Some(reader),
        producer: Some(producer),
    };
    commit(store, &base, Some(&mut layer), &options).with_context(|| {
        format!(
            "committing container {} ({})",
            container.name,
            container.short_id()
        )
    })
}

/// The read end of a layer a thread writes: at its end, the thread's
/// outcome, so that a layer cut short by an error is never taken whole.
struct Produced {
    reader: Option<std::io::PipeReader>,
    producer: Option<std::thread::JoinHandle<Result<()>>>,
}

impl Read for Produced {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match &mut self.reader {
            Some(reader) => reader.read(buf)?,
            None => 0,
        };
        if n == 0 {
            if let Some(producer) = self.producer.take() {
                producer
                    .join()
                    .unwrap_or_else(|_| Err(Error::invalid("the layer writer panicked")))
                    .map_err(Error::into_io)?;
            }
        }
        Ok(n)
    }
}

impl Drop for Produced {
    fn drop(&mut self) {
        // Reading stopped early: closing the pipe ends the writer, which is
        // waited for so that no thread outlives the commit.
        drop(self.reader.take());
        if let Some(producer) = self.producer.take() {
            let _ = producer.join();
        }
    }
}

/// The base's runtime config (Cmd, Env, …), to which the changes apply.
fn base_runtime(image: &Image) -> Map<String, Value> {
    image
        .config_json
        .get("config")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// The new image's config, without its new layer and history entry yet.
fn child_config(
    base: &Image,
    runtime: Map<String, Value>,
    created: chrono::DateTime<chrono::Utc>,
    author: Option<&str>,
) -> Result<Value> {
    let mut config = Map::new();
    for field in ["architecture", "os", "variant", "os.version", "os.features"] {
        if let Some(value) = base.config_json.get(field).filter(|v| !v.is_null()) {
            config.insert(field.into(), value.clone());
        }
    }
    if !config.contains_key("variant") {
        // An index's platform entry may carry the variant the config lacks.
        if let Some(variant) = base.config.variant() {
            config.insert("variant".into(), json!(variant));
        }
    }
    config.insert("created".into(), json!(compose::timestamp(created)));
    if let Some(author) = author {
        config.insert("author".into(), json!(author));
    }
    config.insert("config".into(), Value::Object(runtime));
    let diff_ids = base
        .config_json
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| {
            Error::invalid(format!(
                "the config of image {} has no rootfs.diff_ids list",
                base.id()
            ))
        })?;
    config.insert(
        "rootfs".into(),
        json!({"type": "layers", "diff_ids": diff_ids}),
    );
    let history = match base.config_json.get("history") {
        Some(Value::Array(list)) => list.clone(),
        _ => Vec::new(),
    };
    config.insert("history".into(), Value::Array(history));
    Ok(Value::Object(config))
}

/// What the history entry says made the step: the program and its changes,
/// as a command line (`img-commit --change 'CMD ["sh"]'`). A commit of a
/// container will write the container's command, as Docker does.
pub fn created_by(changes: &[String]) -> String {
    let mut line = String::from(PROGRAM);
    for c in changes {
        line.push_str(" --change ");
        line.push_str(&shell_quote(c));
    }
    line
}

/// Quote `text` for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The new image's media types: Docker schema 2 when the base is a Docker
/// image (as BuildKit keeps them), except that a zstd layer has no Docker
/// media type, so with one the image becomes OCI; else OCI.
pub(crate) fn manifest_format(base: &Image, added: Option<Compression>) -> ManifestFormat {
    let docker = base.descriptor.media_type().to_string() == image::DOCKER_MANIFEST;
    if docker && added != Some(Compression::Zstd) {
        ManifestFormat::Docker
    } else {
        ManifestFormat::Oci
    }
}

/// A new layer's media type in an image of `format`.
fn new_layer_media_type(compression: Compression, format: ManifestFormat) -> MediaType {
    match (format, compression) {
        (ManifestFormat::Docker, Compression::Gzip) => {
            MediaType::Other(image::DOCKER_LAYER_GZIP.into())
        }
        (ManifestFormat::Docker, Compression::None) => MediaType::Other(image::DOCKER_LAYER.into()),
        _ => compression.oci_layer_media_type(),
    }
}

/// A base layer's descriptor in an image of `format`: unchanged, except
/// that Docker layer media types become their OCI equivalents in an OCI
/// image (same bytes, same compression).
/// A layer's descriptor as an OCI image lists it (Docker media types become
/// their OCI equivalents; the blob is the same).
pub(crate) fn as_oci_layer(descriptor: &Descriptor) -> Descriptor {
    layer_as(descriptor, ManifestFormat::Oci)
}

fn layer_as(descriptor: &Descriptor, format: ManifestFormat) -> Descriptor {
    let mut out = descriptor.clone();
    if format == ManifestFormat::Oci {
        let oci = match descriptor.media_type().to_string().as_str() {
            image::DOCKER_LAYER_GZIP => Some(MediaType::ImageLayerGzip),
            image::DOCKER_LAYER => Some(MediaType::ImageLayer),
            #[allow(deprecated)]
            DOCKER_FOREIGN_LAYER_GZIP => Some(MediaType::ImageLayerNonDistributableGzip),
            _ => None,
        };
        if let Some(media_type) = oci {
            out.set_media_type(media_type);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_by_quotes_the_changes() {
        assert_eq!(created_by(&[]), "img-commit");
        assert_eq!(
            created_by(&["CMD [\"sh\"]".into(), "LABEL a='b c'".into()]),
            r#"img-commit --change 'CMD ["sh"]' --change 'LABEL a='\''b c'\'''"#
        );
    }

    #[test]
    fn docker_layers_become_oci_in_an_oci_image() {
        let digest = img_core::digest::of_bytes(b"x");
        let docker = Descriptor::new(MediaType::Other(image::DOCKER_LAYER_GZIP.into()), 1, digest);
        assert_eq!(
            layer_as(&docker, ManifestFormat::Oci).media_type(),
            &MediaType::ImageLayerGzip
        );
        assert_eq!(
            layer_as(&docker, ManifestFormat::Docker).media_type(),
            docker.media_type()
        );
        assert_eq!(
            new_layer_media_type(Compression::Gzip, ManifestFormat::Docker).to_string(),
            image::DOCKER_LAYER_GZIP
        );
        assert_eq!(
            new_layer_media_type(Compression::None, ManifestFormat::Oci),
            MediaType::ImageLayer
        );
    }
}
