//! New layers compressed off the build's critical path.
//!
//! A step's change is written as a plain tar into its step directory,
//! hashed on the way (the diff_id the next step's config needs), and its
//! upper directory becomes the layer's snapshot at once; gzip, which costs
//! more than everything else a COPY of many files does, runs on a thread
//! of its own while the next steps run. Until the build settles, a state
//! names such a layer by a placeholder: the plain tar's descriptor (its
//! digest is the diff_id), which no blob in the store has. The next steps
//! need only the snapshot; [`LayerCompression::settle`] waits for every
//! compression and gives the gzip descriptor of each placeholder, which
//! the builder puts into the image and into the cache entries written
//! meanwhile. The gzip blob is the one the synchronous path wrote (same tar,
//! same compressor and level), so digests and image IDs do not depend on
//! when a layer was compressed.
//!
//! A cache entry written with a placeholder names a blob the store lacks,
//! so a build killed before it settled leaves entries that are misses,
//! never wrong hits.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Seek, SeekFrom};
use std::path::Path;
use std::thread::{Scope, ScopedJoinHandle};

use oci_spec::image::{Descriptor, MediaType};

use img_core::digest::{Digest, DigestWriter};
use img_core::error::{Error, IoContext, Result};
use img_layers::compression::{Compression, Compressor, BUFFER};
use img_layers::create::Options as LayerOptions;
use img_layers::upper;
use img_store::Store;

/// The layers of one build being compressed, each by a thread of `scope`.
pub struct LayerCompression<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    store: &'scope Store,
    /// Compressions under way, by the placeholder's digest (the diff_id).
    running: HashMap<Digest, ScopedJoinHandle<'scope, Result<Descriptor>>>,
    /// Compressions done: placeholder digest → the gzip blob's descriptor.
    done: HashMap<Digest, Descriptor>,
}

impl<'scope, 'env> LayerCompression<'scope, 'env> {
    /// Compress into `store`, on threads of `scope`.
    pub fn new(scope: &'scope Scope<'scope, 'env>, store: &'scope Store) -> Self {
        LayerCompression {
            scope,
            store,
            running: HashMap::new(),
            done: HashMap::new(),
        }
    }

    /// Another set on the same threads' scope and store, for a stage built
    /// beside this one; [`LayerCompression::absorb`] takes it back.
    pub fn fork(&self) -> Self {
        LayerCompression::new(self.scope, self.store)
    }

    /// Take over what `other` (a [`LayerCompression::fork`]) started.
    pub fn absorb(&mut self, other: Self) {
        for (digest, handle) in other.running {
            // The same tar twice gives the same blob: one is enough.
            if self.running.contains_key(&digest) || self.done.contains_key(&digest) {
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
    /// tar into the new file `scratch` and start its compression into the
    /// store; returns the placeholder descriptor and the diff_id. `scratch`
    /// may be removed at once: the compression holds it open.
    pub fn store_layer(
        &mut self,
        upper: &Path,
        scratch: &Path,
        options: LayerOptions,
    ) -> Result<(Descriptor, Digest)> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(scratch)
            .io_context(|| format!("creating {}", scratch.display()))?;
        let out = DigestWriter::new(BufWriter::with_capacity(BUFFER, file));
        let (out, _) = upper::write_layer(upper, out, options)?;
        let (out, diff_id, size) = out.finish();
        let mut file = out
            .into_inner()
            .map_err(|e| Error::io(format!("writing {}", scratch.display()), e.into_error()))?;
        let placeholder = Descriptor::new(MediaType::ImageLayer, size, diff_id.clone());
        if self.done.contains_key(&diff_id) || self.running.contains_key(&diff_id) {
            // The same change again (an empty layer, most often): the
            // same tar gives the same blob.
            return Ok((placeholder, diff_id));
        }
        file.seek(SeekFrom::Start(0))
            .io_context(|| format!("reading {}", scratch.display()))?;
        let store = self.store;
        let handle = self.scope.spawn(move || gzip_into(store, file));
        self.running.insert(diff_id.clone(), handle);
        Ok((placeholder, diff_id))
    }

    /// Whether `digest` is a placeholder whose compression is not settled.
    pub fn is_pending(&self, digest: &Digest) -> bool {
        self.running.contains_key(digest)
    }

    /// Wait for the compression of the placeholder `digest`; its gzip
    /// descriptor (None when `digest` is no placeholder of this build).
    pub fn wait_for(&mut self, digest: &Digest) -> Result<Option<Descriptor>> {
        if let Some(handle) = self.running.remove(digest) {
            let descriptor = join(handle)?;
            self.done.insert(digest.clone(), descriptor);
        }
        Ok(self.done.get(digest).cloned())
    }

    /// Wait for every compression started; the gzip descriptor of every
    /// placeholder of the build, by the placeholder's digest.
    pub fn settle(&mut self) -> Result<&HashMap<Digest, Descriptor>> {
        let mut failed = None;
        for (digest, handle) in std::mem::take(&mut self.running) {
            match join(handle) {
                Ok(descriptor) => {
                    self.done.insert(digest, descriptor);
                }
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(&self.done),
        }
    }

    /// `layers` with every settled placeholder replaced by its gzip blob.
    pub fn resolve(&self, layers: &mut [Descriptor]) {
        for layer in layers {
            if let Some(gzip) = self.done.get(layer.digest()) {
                *layer = gzip.clone();
            }
        }
    }
}

fn join(handle: ScopedJoinHandle<'_, Result<Descriptor>>) -> Result<Descriptor> {
    handle
        .join()
        .unwrap_or_else(|_| Err(Error::invalid("a layer's compression thread panicked")))
}

/// Compress the plain tar in `file` into a gzip blob of `store` (Docker's
/// layer format, at gzip's default level).
fn gzip_into(store: &Store, file: File) -> Result<Descriptor> {
    let blob = store.ingest()?;
    let mut gzip = Compressor::new(Compression::Gzip, blob)?;
    std::io::copy(&mut BufReader::with_capacity(BUFFER, file), &mut gzip)
        .io_context(|| "compressing a layer".into())?;
    let blob = gzip.finish().io_context(|| "compressing a layer".into())?;
    let (digest, size) = blob.commit(None)?;
    Ok(Descriptor::new(
        Compression::Gzip.oci_layer_media_type(),
        size,
        digest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compress `upper` in the background into a new store; the
    /// placeholder, the diff_id and the blob it settled into.
    fn background(dir: &Path, upper: &Path, name: &str) -> (Descriptor, Digest, Descriptor) {
        let store = Store::open(dir.join(name)).unwrap();
        std::thread::scope(|scope| {
            let mut layers = LayerCompression::new(scope, &store);
            let scratch = dir.join(format!("{name}.tar"));
            let (placeholder, diff_id) = layers
                .store_layer(upper, &scratch, LayerOptions::default())
                .unwrap();
            std::fs::remove_file(&scratch).unwrap();
            assert!(layers.is_pending(&diff_id));
            // The same change again starts nothing new.
            let again = dir.join(format!("{name}-again.tar"));
            layers
                .store_layer(upper, &again, LayerOptions::default())
                .unwrap();
            let settled = layers.settle().unwrap().clone();
            assert_eq!(settled.len(), 1);
            assert!(!layers.is_pending(&diff_id));
            let blob = settled[&diff_id].clone();
            let mut list = vec![placeholder.clone()];
            layers.resolve(&mut list);
            assert_eq!(list, vec![blob.clone()]);
            // The blob is stored, gzip, and holds the tar of the diff_id.
            let reader = store.open_blob(&blob).unwrap();
            let (found, mut tar) = img_layers::compression::decompress(reader).unwrap();
            assert_eq!(found, Compression::Gzip);
            let mut tar_digest = DigestWriter::new(std::io::sink());
            std::io::copy(&mut tar, &mut tar_digest).unwrap();
            assert_eq!(tar_digest.finish().1, diff_id);
            (placeholder, diff_id, blob)
        })
    }

    /// A layer compressed in the background holds the tar the synchronous
    /// path hashes, its placeholder is that plain tar, and the same tar
    /// always gives the same blob (a rebuild elsewhere gives the same
    /// manifest).
    #[test]
    fn background_blobs_hold_the_diff_id_and_are_the_same_each_time() {
        let dir = tempfile::tempdir().unwrap();
        let upper = dir.path().join("upper");
        std::fs::create_dir_all(upper.join("app")).unwrap();
        std::fs::write(upper.join("app/a.txt"), "hello ".repeat(100_000)).unwrap();
        std::fs::write(upper.join("app/b.txt"), "other ".repeat(3)).unwrap();
        let sync_store = Store::open(dir.path().join("sync")).unwrap();
        let (_, sync_diff_id) =
            upper::store_layer(&sync_store, &upper, LayerOptions::default()).unwrap();
        let (placeholder, diff_id, blob) = background(dir.path(), &upper, "one");
        assert_eq!(diff_id, sync_diff_id);
        assert_eq!(placeholder.digest(), &diff_id);
        assert_eq!(placeholder.media_type(), &MediaType::ImageLayer);
        let (_, _, again) = background(dir.path(), &upper, "two");
        assert_eq!(again, blob);
    }
}
