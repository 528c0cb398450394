//! The layers of cache hits, fetched only when a step needs them: a hit
//! gives a step's config and layer descriptors at once, and its layers
//! are downloaded when a later step is made on it, a stage copies from it,
//! or the image is written — so a build whose every step hits downloads the
//! final image's layers and nothing of the steps before.
//!
//! Each blob may be offered by several caches; they are asked in the
//! order of `--cache-from`, registries through the same endpoints,
//! credentials and TLS settings as img-pull, layout directories verified
//! as they are copied. A cache that fails once is warned about and not
//! asked again in this build.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use oci_spec::image::Descriptor;

use super::layout;
use img_core::digest::{self, Digest};
use img_core::error::{Error, Kind};
use img_core::format::human_size_precision;
use img_core::progress::Progress;
use img_registry::sources::Sources;
use img_store::Store;

/// Layers downloaded at once.
const CONCURRENCY: usize = 3;

/// Where a cache's blobs come from.
pub enum Origin<'a> {
    /// A registry (its endpoints: mirrors, then the registry).
    Registry(Sources<'a>),
    /// An OCI layout directory.
    Layout(PathBuf),
}

struct Source<'a> {
    label: String,
    origin: Origin<'a>,
    failed: AtomicBool,
}

/// Every cache's blobs, for the layers of hits.
pub struct Fetcher<'a> {
    sources: Vec<Source<'a>>,
    offered: HashMap<Digest, Vec<usize>>,
    progress: &'a dyn Progress,
}

/// A layer that no cache could give.
#[derive(Debug, Clone)]
pub struct Unfetched {
    /// The layer.
    pub digest: Digest,
    /// Why.
    pub reason: String,
}

impl<'a> Fetcher<'a> {
    /// No caches yet.
    pub fn new(progress: &'a dyn Progress) -> Fetcher<'a> {
        Fetcher {
            sources: Vec::new(),
            offered: HashMap::new(),
            progress,
        }
    }

    /// Offer the `blobs` of the cache `label`, from `origin`.
    pub fn add(
        &mut self,
        label: String,
        origin: Origin<'a>,
        blobs: impl IntoIterator<Item = Digest>,
    ) {
        let index = self.sources.len();
        self.sources.push(Source {
            label,
            origin,
            failed: AtomicBool::new(false),
        });
        for blob in blobs {
            self.offered.entry(blob).or_default().push(index);
        }
    }

    /// Whether a cache that has not failed offers `digest`.
    pub fn offers(&self, digest: &Digest) -> bool {
        self.usable(digest).next().is_some()
    }

    fn usable(&self, digest: &Digest) -> impl Iterator<Item = &Source<'a>> {
        self.offered
            .get(digest)
            .into_iter()
            .flatten()
            .map(|&i| &self.sources[i])
            .filter(|s| !s.failed.load(Ordering::Relaxed))
    }

    /// The labels of the caches that offer `digest`.
    pub fn labels_of(&self, digest: &Digest) -> Vec<&str> {
        self.usable(digest).map(|s| s.label.as_str()).collect()
    }

    /// Put every one of `layers` into `store`, downloading what it lacks;
    /// returns how many were downloaded, or the first layer no cache gave.
    pub fn ensure(
        &self,
        store: &Store,
        layers: &[Descriptor],
    ) -> std::result::Result<usize, Unfetched> {
        let mut missing: Vec<&Descriptor> = Vec::new();
        for layer in layers {
            if !store.has_blob(layer.digest())
                && !missing.iter().any(|m| m.digest() == layer.digest())
            {
                missing.push(layer);
            }
        }
        if missing.is_empty() {
            return Ok(0);
        }
        if let Some(none) = missing.iter().find(|l| !self.offers(l.digest())) {
            return Err(Unfetched {
                digest: none.digest().clone(),
                reason: "no cache that could be reached holds it".into(),
            });
        }
        let bytes: u64 = missing.iter().map(|l| l.size()).sum();
        let mut labels: Vec<&str> = missing
            .iter()
            .filter_map(|l| self.labels_of(l.digest()).first().copied())
            .collect();
        labels.dedup();
        self.progress.message(&format!(
            " ---> Fetching {} cached layer{} ({}) from {}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            human_size_precision(bytes, 3),
            labels.join(", ")
        ));
        let failure = std::sync::Mutex::new(None);
        let done = img_core::parallel::count_each(&missing, CONCURRENCY, |layer| {
            match self.fetch_one(store, layer) {
                Ok(()) => Ok(true),
                Err(reason) => {
                    if let Ok(mut f) = failure.lock() {
                        f.get_or_insert(Unfetched {
                            digest: layer.digest().clone(),
                            reason,
                        });
                    }
                    Err(Error::new(
                        Kind::Remote,
                        "a cached layer could not be fetched",
                    ))
                }
            }
        });
        self.progress.finish();
        match done {
            Ok(n) => Ok(n),
            Err(_) => Err(failure
                .into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Unfetched {
                    digest: missing[0].digest().clone(),
                    reason: "the download failed".into(),
                })),
        }
    }

    /// Fetch one layer from the first cache that gives it; a cache that
    /// fails is warned about and not asked again.
    fn fetch_one(&self, store: &Store, layer: &Descriptor) -> std::result::Result<(), String> {
        let id = digest::short(layer.digest()).to_string();
        let mut last = String::from("no cache holds it");
        for source in self.usable(layer.digest()) {
            let fetched = match &source.origin {
                Origin::Registry(sources) => {
                    let report = |n: u64| self.progress.bytes(&id, "Downloading", n, layer.size());
                    sources
                        .blob(store, layer, true, &report, &|| {})
                        .map(|_| ())
                }
                Origin::Layout(dir) => layout::copy_to_store(dir, store, layer),
            };
            match fetched {
                Ok(()) => {
                    self.progress.status(&id, "Download complete");
                    return Ok(());
                }
                Err(e) => {
                    if !source.failed.swap(true, Ordering::Relaxed) {
                        self.progress.warn(&format!(
                            "cache {}: {e}; not asking it again in this build",
                            source.label
                        ));
                    }
                    last = format!("{}: {e}", source.label);
                }
            }
        }
        Err(last)
    }
}
