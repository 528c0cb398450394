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
//! layer descriptors. An entry whose layer blobs garbage collection
//! removed since is a miss. Entries are written atomically; they hold no
//! content, only digests.

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
/// layers are still in the store.
pub fn lookup(store: &Store, key: &Digest) -> Option<State> {
    let bytes = fs::read(path(store, key)).ok()?;
    let entry: Entry = serde_json::from_slice(&bytes).ok()?;
    if !entry.layers.iter().all(|l| store.has_blob(l.digest())) {
        return None;
    }
    Some(State {
        config: entry.config,
        layers: entry.layers,
        key: key.clone(),
    })
}

/// Remember `state` as what the step `state.key` made.
pub fn save(store: &Store, state: &State) -> Result<()> {
    let dir = store.state_dir().join(CACHE);
    fs::create_dir_all(&dir).io_context(|| format!("creating {}", dir.display()))?;
    let entry = Entry {
        config: state.config.clone(),
        layers: state.layers.clone(),
    };
    let bytes = serde_json::to_vec(&entry)
        .map_err(|e| img_core::error::Error::invalid(format!("encoding a cache entry: {e}")))?;
    img_store::write_atomic(&dir, &path(store, &state.key), &bytes)
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
}
