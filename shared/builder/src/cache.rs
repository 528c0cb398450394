//! The build cache: what each step made, found again by how it was made.
//!
//! A step's key is the hash of the key of the state it started from and of
//! everything that decides its result: the instruction with its variables
//! substituted, and for RUN the build arguments in effect, for COPY and ADD
//! a checksum of the files they read. The base's key is its manifest
//! digest; so a key names the whole chain of steps from the base, as
//! Docker's classic builder matches an image's parent and command.
//!
//! An entry (`ROOT/.img/build-cache/HEX.json`) keeps the state the step
//! made: the config (with its creation times, so a build whose every step
//! is cached gives the same image ID again, as Docker's does) and the
//! layer descriptors, and how the step was keyed ([`How`]: its parent, the
//! instruction, a digest of each input), which explains a later miss. An
//! entry may be an alias: a step found by a second key (a `COPY --from`
//! by the stage it copies from, before the files are read) names the key
//! its state goes on from. An entry whose layer blobs garbage collection
//! removed since is a miss. Entries are written atomically; they hold no
//! content, only digests.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use oci_spec::image::Descriptor;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::State;
use img_core::digest::{self, Digest};
use img_core::error::{IoContext, Result};
use img_store::Store;

const CACHE: &str = "build-cache";

#[derive(Serialize, Deserialize)]
struct Entry {
    config: Value,
    layers: Vec<Descriptor>,
    /// The key the state goes on from, when the entry is found by another
    /// key (an alias).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<Digest>,
    /// The key of the state the step started from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<Digest>,
    /// How the step was keyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    how: Option<How>,
}

/// What went into a step's key, kept to explain a miss: the instruction as
/// written, and digests of the instruction as keyed and of each other
/// input by name (`files`, `build arguments`, `mount /src`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct How {
    /// The instruction as written in the Dockerfile.
    pub instruction: String,
    /// The digest of the instruction as keyed (variables substituted).
    pub text: Digest,
    /// The digest of each other input, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inputs: BTreeMap<String, Digest>,
}

/// How a step is keyed, before its key is computed: the state it starts
/// from, the instruction as keyed, and what else decides its result, whole
/// (`extra`, as [`key`] takes it) and by name (for [`How`]).
#[derive(Debug, Clone)]
pub(crate) struct StepKey {
    /// The key of the state the step starts from.
    pub parent: Digest,
    /// The instruction with its variables substituted.
    pub text: String,
    /// Everything else that decides the result, as one string.
    pub extra: String,
    /// The instruction as written (for messages).
    pub instruction: String,
    /// The parts of `extra`, by name.
    pub inputs: Vec<(String, String)>,
}

impl StepKey {
    /// The step's key.
    pub fn key(&self) -> Digest {
        key(&self.parent, &self.text, &self.extra)
    }

    /// What went into the key, as entries keep it.
    pub fn how(&self) -> How {
        How {
            instruction: self.instruction.clone(),
            text: digest::of_bytes(self.text.as_bytes()),
            inputs: self
                .inputs
                .iter()
                .map(|(name, value)| (name.clone(), digest::of_bytes(value.as_bytes())))
                .collect(),
        }
    }
}

/// The key of the step `text` (plus `extra`, what else decides its
/// result) taken from `parent`.
pub fn key(parent: &Digest, text: &str, extra: &str) -> Digest {
    let mut input = Vec::new();
    for part in [parent.as_ref(), text, extra] {
        input.extend_from_slice(part.as_bytes());
        input.push(0);
    }
    digest::of_bytes(&input)
}

fn path(store: &Store, key: &Digest) -> PathBuf {
    store
        .state_dir()
        .join(CACHE)
        .join(format!("{}.json", key.digest()))
}

/// The state the step `key` made before, when it is cached and all its
/// layers are still in the store. Its key is the entry's own (an alias's
/// names the key the state goes on from).
pub fn lookup(store: &Store, key: &Digest) -> Option<State> {
    let bytes = fs::read(path(store, key)).ok()?;
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    if !entry.layers.iter().all(|l| store.has_blob(l.digest())) {
        return None;
    }
    Some(State {
        config: entry.config,
        layers: entry.layers,
        key: entry.key.unwrap_or_else(|| key.clone()),
    })
}

/// Remember `state` as what the step `state.key` made.
pub fn save(store: &Store, state: &State) -> Result<()> {
    save_entry(store, &state.key, state, None, None)
}

/// Remember `state` as what the step `key` made (an alias when `key` is
/// not `state.key`), started from `parent`, keyed as `how` says.
pub(crate) fn save_entry(
    store: &Store,
    key: &Digest,
    state: &State,
    parent: Option<&Digest>,
    how: Option<&How>,
) -> Result<()> {
    let dir = store.state_dir().join(CACHE);
    fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
    let entry = Entry {
        config: state.config.clone(),
        layers: state.layers.clone(),
        key: (key != &state.key).then(|| state.key.clone()),
        parent: parent.cloned(),
        how: how.cloned(),
    };
    img_store::write_json(&dir, &path(store, key), &entry)
}

/// Every entry that says how it was keyed: (parent, how), for explaining
/// misses. Entries that do not parse are passed over.
pub(crate) fn keyed_entries(store: &Store) -> Vec<(Digest, How)> {
    let Ok(dir) = fs::read_dir(store.state_dir().join(CACHE)) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| fs::read(e.path()).ok())
        .filter_map(|bytes| serde_json::from_slice::<Entry>(&bytes).ok())
        .filter_map(|entry| Some((entry.parent?, entry.how?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_chain_and_entries_need_their_layers() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let base = digest::of_bytes(b"FROM x");
        let a = key(&base, "RUN a", "");
        assert_eq!(a, key(&base, "RUN a", ""));
        assert_ne!(a, key(&base, "RUN b", ""));
        assert_ne!(a, key(&base, "RUN a", "X=1"));
        assert_ne!(key(&a, "RUN a", ""), key(&base, "RUN a", ""));
        // Parts cannot run into each other.
        assert_ne!(key(&base, "RUN a", "b"), key(&base, "RUN ab", ""));

        let (blob, size) = store.write_blob(b"layer").unwrap();
        let layer = Descriptor::new(oci_spec::image::MediaType::ImageLayer, size, blob.clone());
        let state = State {
            config: serde_json::json!({"config": {"Cmd": ["sh"]}}),
            layers: vec![layer],
            key: a.clone(),
        };
        assert!(lookup(&store, &a).is_none());
        save(&store, &state).unwrap();
        let found = lookup(&store, &a).unwrap();
        assert_eq!(found.config, state.config);
        std::fs::remove_file(store.blob_path(&blob)).unwrap();
        assert!(lookup(&store, &a).is_none(), "a removed layer makes a miss");
    }

    #[test]
    fn second_keys_go_on_from_the_first_and_entries_say_how() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let step = StepKey {
            parent: digest::of_bytes(b"FROM x"),
            text: "COPY a /".into(),
            extra: "sha256:files root".into(),
            instruction: "COPY --chown=root a /".into(),
            inputs: vec![("the files it copies".into(), "sha256:files".into())],
        };
        let state = State {
            config: serde_json::json!({}),
            layers: Vec::new(),
            key: step.key(),
        };
        let by_stage = key(&step.parent, &step.text, "from sha256:stage root");
        save_entry(
            &store,
            &by_stage,
            &state,
            Some(&step.parent),
            Some(&step.how()),
        )
        .unwrap();
        let found = lookup(&store, &by_stage).unwrap();
        assert_eq!(found.key, step.key(), "the second key names the first");
        let keyed = keyed_entries(&store);
        assert_eq!(keyed.len(), 1);
        assert_eq!(keyed[0].0, step.parent);
        assert_eq!(keyed[0].1.instruction, "COPY --chown=root a /");
        assert_eq!(
            keyed[0].1.inputs["the files it copies"],
            digest::of_bytes(b"sha256:files")
        );
        // An entry of the old form (no parent, no how) is still found.
        save(&store, &state).unwrap();
        assert_eq!(lookup(&store, &step.key()).unwrap().key, step.key());
        assert_eq!(keyed_entries(&store).len(), 1);
    }
}
