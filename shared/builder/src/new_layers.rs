//! New layers stored off the build's critical path, uncompressed.
//!
//! A step's change is written as a plain tar straight into a new blob of
//! the store, hashed on the way (its digest is the diff_id the next step's
//! config needs), and its upper directory becomes the layer's snapshot at
//! once. The layer stays uncompressed, as Docker's and buildah's stores
//! keep theirs: gzip cost more than everything else a COPY of many files
//! does, and an image is compressed only when it leaves the machine
//! (`img_layers::outbound`: img-push, a build cache exported to a
//! registry). What remains is making the blob lasting (fsync, rename),
//! which runs on a thread of its own while the next steps run: until the
//! build settles, a state names a layer whose blob the store may not show
//! yet. The next steps need only the snapshot; [`NewLayers::settle`] waits
//! for every blob before the image is written.
//!
//! A cache entry written meanwhile names a blob the store may lack, so a
//! build killed before it settled leaves entries that are misses, never
//! wrong hits.

use std::collections::{HashMap, HashSet};
use std::io::BufWriter;
use std::path::Path;
use std::thread::{Scope, ScopedJoinHandle};

use oci_spec::image::{Descriptor, MediaType};

use img_core::digest::Digest;
use img_core::error::{Error, Result};
use img_layers::compression::BUFFER;
use img_layers::create::Options as LayerOptions;
use img_layers::upper;
use img_store::Store;

/// The layers one build made, each made lasting by a thread of `scope`.
pub struct NewLayers<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    store: &'scope Store,
    /// Blobs being made lasting, by digest (the diff_id).
    running: HashMap<Digest, ScopedJoinHandle<'scope, Result<()>>>,
    /// Blobs stored.
    done: HashSet<Digest>,
}

impl<'scope, 'env> NewLayers<'scope, 'env> {
    /// Store into `store`, on threads of `scope`.
    pub fn new(scope: &'scope Scope<'scope, 'env>, store: &'scope Store) -> Self {
        NewLayers {
            scope,
            store,
            running: HashMap::new(),
            done: HashSet::new(),
        }
    }

    /// Another set on the same threads' scope and store, for a stage built
    /// beside this one; [`NewLayers::absorb`] takes it back.
    pub fn fork(&self) -> Self {
        NewLayers::new(self.scope, self.store)
    }

    /// Take over what `other` (a [`NewLayers::fork`]) started.
    pub fn absorb(&mut self, other: Self) {
        for (digest, handle) in other.running {
            // The same tar twice gives the same blob: one is enough.
            if self.running.contains_key(&digest) || self.done.contains(&digest) {
                let _ = join(handle);
            } else {
                self.running.insert(digest, handle);
            }
        }
        self.done.extend(other.done);
    }

    /// The store the layers go into.
    pub fn store(&self) -> &'scope Store {
        self.store
    }

    /// Write the layer the overlay upper directory `upper` holds as a plain
    /// tar into a new blob and start making it lasting; returns its
    /// descriptor (its digest is the diff_id).
    pub fn store_layer(&mut self, upper: &Path, options: LayerOptions) -> Result<Descriptor> {
        let blob = self.store.ingest()?;
        let out = BufWriter::with_capacity(BUFFER, blob);
        let (out, _) = upper::write_layer(upper, out, options)?;
        let blob = out
            .into_inner()
            .map_err(|e| Error::io("writing a layer".to_string(), e.into_error()))?;
        let (diff_id, size) = blob.digest();
        let layer = Descriptor::new(MediaType::ImageLayer, size, diff_id.clone());
        if self.done.contains(&diff_id) || self.running.contains_key(&diff_id) {
            // The same change again (an empty layer, most often): the
            // same tar gives the same blob.
            return Ok(layer);
        }
        let expected = (diff_id.clone(), size);
        let handle = self
            .scope
            .spawn(move || blob.commit(Some((&expected.0, expected.1))).map(drop));
        self.running.insert(diff_id, handle);
        Ok(layer)
    }

    /// Whether the blob `digest` is still being made lasting.
    pub fn is_pending(&self, digest: &Digest) -> bool {
        self.running.contains_key(digest)
    }

    /// Wait until the blob `digest` (if this build made it) is stored.
    pub fn wait_for(&mut self, digest: &Digest) -> Result<()> {
        if let Some(handle) = self.running.remove(digest) {
            join(handle)?;
            self.done.insert(digest.clone());
        }
        Ok(())
    }

    /// Wait until every blob this build made is stored.
    pub fn settle(&mut self) -> Result<()> {
        let mut failed = None;
        for (digest, handle) in std::mem::take(&mut self.running) {
            match join(handle) {
                Ok(()) => {
                    self.done.insert(digest);
                }
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        failed.map_or(Ok(()), Err)
    }
}

fn join(handle: ScopedJoinHandle<'_, Result<()>>) -> Result<()> {
    handle
        .join()
        .unwrap_or_else(|_| Err(Error::invalid("a thread storing a layer panicked")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use img_core::digest::DigestWriter;

    /// A layer stored in the background is the plain tar the synchronous
    /// path hashes (its digest is the diff_id), whole in the store once
    /// settled, and the same change gives the same blob each time (a
    /// rebuild elsewhere gives the same manifest).
    #[test]
    fn new_layers_are_their_plain_tar_and_the_same_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path().join("upper");
        std::fs::create_dir_all(upper.join("app")).unwrap();
        std::fs::write(upper.join("app/a.txt"), "hello ".repeat(100_000)).unwrap();
        std::fs::write(upper.join("app/b.txt"), "other ".repeat(3)).unwrap();
        let sync_store = Store::open(dir.path().join("sync")).unwrap();
        let (_, sync_diff_id) =
            upper::store_layer(&sync_store, &upper, LayerOptions::default()).unwrap();
        let mut blobs = Vec::new();
        for name in ["one", "two"] {
            let store = Store::open(dir.path().join(name)).unwrap();
            let layer = std::thread::scope(|scope| {
                let mut layers = NewLayers::new(scope, &store);
                let layer = layers.store_layer(&upper, LayerOptions::default()).unwrap();
                // The same change again starts nothing new.
                let again = layers.store_layer(&upper, LayerOptions::default()).unwrap();
                assert_eq!(again, layer);
                layers.settle().unwrap();
                assert!(!layers.is_pending(layer.digest()));
                layer
            });
            assert_eq!(layer.digest(), &sync_diff_id);
            assert_eq!(layer.media_type(), &MediaType::ImageLayer);
            let mut tar = DigestWriter::new(std::io::sink());
            std::io::copy(&mut store.open_blob(&layer).unwrap(), &mut tar).unwrap();
            assert_eq!(tar.finish().1, sync_diff_id);
            // Nothing is left in the store's ingest directory.
            let ingest = dir.path().join(name).join(".img/ingest");
            assert_eq!(std::fs::read_dir(ingest).unwrap().count(), 0);
            blobs.push(layer);
        }
        assert_eq!(blobs[0], blobs[1]);
    }
}
