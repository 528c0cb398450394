//! The image a build stage has made so far: its config (every field, as it
//! will be written) and its layers, plus the cache key that names how it was
//! made. Each instruction turns one state into the next.

use chrono::{DateTime, Utc};
use oci_spec::image::Descriptor;
use serde_json::{json, Map, Value};

use img_core::digest::{self, Digest};
use img_core::error::Result;
use img_core::image::Image;
use img_core::platform::Platform;
use img_store::compose;
use img_store::Store;

/// A stage's image so far.
#[derive(Debug, Clone)]
pub struct State {
    /// The image config, as it would be written.
    pub config: Value,
    /// The layers (blobs in the store), bottom first.
    pub layers: Vec<Descriptor>,
    /// What made it: the base and every instruction since, hashed (see
    /// `cache.rs`).
    pub key: Digest,
}

impl State {
    /// The state of `FROM scratch`: no layers, an empty config for the
    /// host's platform with BuildKit's working directory `/` (the default
    /// PATH every stage gets is added by the builder).
    pub fn scratch(platform: &Platform) -> Result<State> {
        let mut config = compose::empty_config(platform, chrono::DateTime::UNIX_EPOCH);
        // Docker's scratch config has no creation time of its own.
        if let Some(object) = config.as_object_mut() {
            object.remove("created");
        }
        compose::runtime_config(&mut config)?.insert("WorkingDir".into(), json!("/"));
        Ok(State {
            config,
            layers: Vec::new(),
            key: digest::of_bytes(b"FROM scratch"),
        })
    }

    /// The state of `FROM image`.
    pub fn from_image(image: &Image) -> State {
        State {
            config: image.config_json.clone(),
            layers: image
                .manifest
                .layers()
                .iter()
                .map(crate::commit::as_oci_layer)
                .collect(),
            key: digest::of_bytes(format!("FROM {}", image.descriptor.digest()).as_bytes()),
        }
    }

    /// The `config` object (Cmd, Env, …), made when missing.
    pub fn runtime(&mut self) -> Result<&mut Map<String, Value>> {
        compose::runtime_config(&mut self.config)
    }

    /// The `config` object, read only (`{}` when missing).
    pub fn runtime_value(&self) -> Value {
        self.config
            .get("config")
            .filter(|c| c.is_object())
            .cloned()
            .unwrap_or_else(|| json!({}))
    }

    /// Give a config with no PATH Docker's default one, as BuildKit gives
    /// every stage (a `FROM scratch` stage included).
    pub fn default_path(&mut self) -> Result<()> {
        let runtime = self.runtime()?;
        let mut env = img_core::json::strings(runtime.get("Env"));
        if !env.iter().any(|e| e.split('=').next() == Some("PATH")) {
            env.push(format!("PATH={}", img_container::process::DEFAULT_PATH));
            runtime.insert("Env".into(), json!(env));
        }
        Ok(())
    }

    /// The layers' diff_ids, bottom first.
    pub fn diff_ids(&self) -> Result<Vec<Digest>> {
        compose::diff_ids(&self.config)
    }

    /// The layers unpacked (the store's snapshots, made when missing),
    /// top first, as an overlay stacks them.
    pub fn snapshots(&self, store: &Store) -> Result<Vec<std::path::PathBuf>> {
        img_layers::unpack::snapshots_of(
            &img_store::Snapshots::of(store),
            &self.layers,
            &self.diff_ids()?,
        )
    }

    /// A step that changed only the config: its history entry, made at
    /// `created`, marked `empty_layer` as Docker marks it.
    pub fn add_empty_step(&mut self, created_by: &str, created: DateTime<Utc>) -> Result<()> {
        compose::add_history(&mut self.config, history(created_by, true, created))
    }

    /// A step that added a layer, made at `created`.
    pub fn add_layer_step(
        &mut self,
        layer: Descriptor,
        diff_id: &Digest,
        created_by: &str,
        created: DateTime<Utc>,
    ) -> Result<()> {
        compose::add_layer(
            &mut self.config,
            diff_id,
            history(created_by, false, created),
        )?;
        self.layers.push(layer);
        Ok(())
    }

    /// The config as it is written (sorted keys), and the image ID it
    /// gives (its digest), as the builder prints it after each step.
    pub fn image_id(&self) -> Result<Digest> {
        Ok(digest::of_bytes(&img_core::json::canonical(&self.config)?))
    }

    /// Stamp the config's creation time (the time of the last step, as
    /// Docker does).
    pub fn stamp(&mut self, created: DateTime<Utc>) {
        if let Some(object) = self.config.as_object_mut() {
            object.insert("created".into(), json!(compose::timestamp(created)));
        }
    }
}

/// A history entry made at `created`.
fn history(created_by: &str, empty: bool, created: DateTime<Utc>) -> Value {
    let mut entry = json!({
        "created": compose::timestamp(created),
        "created_by": created_by,
        "comment": "buildkit.dockerfile.v0",
    });
    if empty {
        entry["empty_layer"] = json!(true);
    }
    entry
}
