//! Every cache a build step is looked up in, as the builder sees them: the
//! store's own (`cache.rs`) first, then each `--cache-from` in order
//! (`remote_cache`); and the record of the steps this build went through,
//! for `--cache-to`.
//!
//! A hit from an imported cache gives the step's config and layer
//! descriptors; its layers are fetched only when something needs them
//! ([`StepCache::ensure_layers`]). A hit whose layers no cache holds (a
//! stage exported as keys only, with `mode=min`) lets the build go on past
//! steps it need not make; when a step after it must be made after all,
//! its layers cannot be had, [`StepCache::restart`] says why, and the
//! builder starts over taking only hits whose layers can be had — which
//! the steps made meanwhile, now in the store's cache, also are.
//!
//! With a `--cache-from`, every step says whether it hit the store's cache
//! or which imported one, and a miss says why: the step before was made
//! anew, or no cache holds a step made from the same state, or one does
//! but with another instruction, or with the same instruction and other
//! inputs (named: the files it copies, the build arguments, …).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use oci_spec::image::Descriptor;

use super::cache::{self, How, StepKey};
use super::remote_cache::fetch::{Fetcher, Unfetched};
use super::remote_cache::format::{ExportStep, Table, INLINE_KEY};
use super::remote_cache::{export, import, inline, Export, Import, Location, Mode};
use super::state::State;
use img_core::digest::{self, Digest};
use img_core::error::{Error, Kind, Result};
use img_core::progress::Progress;
use img_core::reference::Reference;
use img_registry::transport::options::ClientOptions;
use img_store::Store;

/// Where a hit was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The store's own cache.
    Local,
    /// The imported cache of this label.
    Imported(String),
}

/// A step found in a cache.
#[derive(Debug, Clone)]
pub(crate) struct Hit {
    /// The state the step made.
    pub state: State,
    /// Where.
    pub found: Found,
}

/// One step this build went through.
#[derive(Debug, Clone)]
struct Journaled {
    /// The key it was found or made by.
    key: Digest,
    parent: Digest,
    state: State,
    /// How it was keyed (unknown for the state a second key found).
    how: Option<How>,
}

/// The caches of one build.
pub(crate) struct StepCache<'a> {
    store: &'a Store,
    /// `--no-cache`: nothing is looked up (steps are still recorded).
    no_cache: bool,
    caches: Vec<(String, Table)>,
    fetcher: Fetcher<'a>,
    /// Whether misses are explained (a `--cache-from` was given).
    explain: bool,
    /// The store's entries that say how they were keyed, read on the first
    /// miss explained.
    local_keyed: Option<Vec<(Digest, How)>>,
    /// Whether hits whose layers no cache gives are taken.
    layerless_hits: bool,
    /// Why the build must start over, once a hit's layers could not be had.
    restart: Option<String>,
    journal: Vec<Journaled>,
    /// The keys of steps made (not found) in this build.
    made: HashSet<Digest>,
    /// Images the build started from and caches it read, whose
    /// repositories may hold layers an export sends.
    sources: Vec<Reference>,
    /// The `RUN --mount=type=cache` directories the build's steps name.
    cache_mounts: BTreeMap<String, PathBuf>,
    progress: &'a dyn Progress,
}

impl<'a> StepCache<'a> {
    /// The store's cache alone.
    pub fn new(store: &'a Store, no_cache: bool, progress: &'a dyn Progress) -> StepCache<'a> {
        StepCache {
            store,
            no_cache,
            caches: Vec::new(),
            fetcher: Fetcher::new(progress),
            explain: false,
            local_keyed: None,
            layerless_hits: true,
            restart: None,
            journal: Vec::new(),
            made: HashSet::new(),
            sources: Vec::new(),
            cache_mounts: BTreeMap::new(),
            progress,
        }
    }

    /// Read each of `specs` (a cache that cannot be read is a warning, and
    /// the build goes on without it).
    pub fn import(
        &mut self,
        specs: &[Import],
        options: &'a ClientOptions,
        progress: &'a dyn Progress,
    ) {
        if self.no_cache {
            // --no-cache: no step is looked up anywhere.
            return;
        }
        self.explain |= !specs.is_empty();
        for spec in specs {
            let label = spec.location.label();
            match import::import(spec, self.store, options, progress) {
                Ok(mut imported) => {
                    if !spec.cache_mounts {
                        imported.table.cache_mounts.clear();
                    }
                    progress.message(&format!(
                        "Importing cache from {label}: {} steps",
                        imported.table.steps.len()
                    ));
                    if let super::remote_cache::Location::Registry(r) = &spec.location {
                        self.sources.push(r.clone());
                    }
                    self.fetcher.add(
                        imported.label,
                        imported.origin,
                        imported.table.blobs.keys().cloned(),
                    );
                    self.caches.push((label, imported.table));
                }
                Err(e) => progress.warn(&format!(
                    "cache {label} could not be read: {e}; building without it"
                )),
            }
        }
    }

    /// Remember that the build starts from the image `reference` (its
    /// repository may hold layers an export sends).
    pub(crate) fn note_base(&mut self, reference: Reference) {
        if !self.sources.contains(&reference) {
            self.sources.push(reference);
        }
    }

    /// Remember that a step of the build names the cache mount `id`, kept
    /// in `dir`.
    pub(crate) fn note_cache_mount(&mut self, id: &str, dir: &Path) {
        self.cache_mounts.insert(id.to_string(), dir.to_path_buf());
    }

    /// The cache mounts the build's steps name: (id, directory).
    pub(crate) fn cache_mounts(&self) -> Vec<(String, PathBuf)> {
        self.cache_mounts
            .iter()
            .map(|(id, dir)| (id.clone(), dir.clone()))
            .collect()
    }

    /// Fill the empty cache mount `id` (kept in `dir`) from the first
    /// cache read with `cache-mounts=true` that holds it; a failure is a
    /// warning, and leaves the directory empty.
    pub(crate) fn fill_cache_mount(&self, id: &str, dir: &Path) {
        let empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
        if !empty {
            return;
        }
        let Some((label, blob)) = self
            .caches
            .iter()
            .find_map(|(label, t)| t.cache_mounts.get(id).map(|b| (label, b)))
        else {
            return;
        };
        self.progress
            .message(&format!(" ---> Filling cache mount {id} from {label}"));
        if let Err(e) = self.unpack_cache_mount(blob, dir) {
            self.progress.warn(&format!(
                "cache mount {id} could not be filled from {label}: {e}; the step runs with it empty"
            ));
        }
    }

    /// Unpack `blob` beside `dir`, then move what it holds into `dir`, so
    /// that a failure leaves `dir` as it was.
    fn unpack_cache_mount(&self, blob: &Descriptor, dir: &Path) -> Result<()> {
        self.fetcher
            .ensure(self.store, std::slice::from_ref(blob))
            .map_err(|u| Error::new(Kind::Remote, u.reason))?;
        let parent = dir.parent().unwrap_or(dir);
        let scratch = tempfile::Builder::new()
            .prefix("tmp-")
            .tempdir_in(parent)
            .map_err(|e| Error::io(format!("creating a directory in {}", parent.display()), e))?;
        let reader = std::io::BufReader::with_capacity(1 << 20, self.store.open_blob(blob)?);
        let (_, tar) = img_layers::compression::decompress(reader)?;
        img_layers::extract::apply(tar, scratch.path(), &Default::default())?;
        for entry in std::fs::read_dir(scratch.path())
            .map_err(|e| Error::io(format!("listing {}", scratch.path().display()), e))?
        {
            let entry = entry.map_err(|e| Error::io("listing a cache mount".to_string(), e))?;
            std::fs::rename(entry.path(), dir.join(entry.file_name()))
                .map_err(|e| Error::io(format!("filling {}", dir.display()), e))?;
        }
        Ok(())
    }

    /// The step `step` as a cache has it.
    pub fn lookup(&mut self, step: &StepKey) -> Option<Hit> {
        if self.no_cache {
            return None;
        }
        let key = step.key();
        if let Some(state) = cache::lookup(self.store, &key) {
            return Some(Hit {
                state,
                found: Found::Local,
            });
        }
        for (label, table) in &self.caches {
            let Some(found) = table.steps.get(&key) else {
                continue;
            };
            let obtainable = found
                .layers
                .iter()
                .all(|l| self.store.has_blob(l.digest()) || self.fetcher.offers(l.digest()));
            if !obtainable && !self.layerless_hits {
                continue;
            }
            let state = State {
                config: found.config.clone(),
                layers: found.layers.clone(),
                key: found.key.clone(),
            };
            // Kept in the store's cache too: once its layers are here, the
            // next build finds it without the import.
            let _ = cache::save_entry(
                self.store,
                &key,
                &state,
                Some(&step.parent),
                Some(&step.how()),
            );
            return Some(Hit {
                state,
                found: Found::Imported(label.clone()),
            });
        }
        None
    }

    /// Why `step` is in no cache, when misses are explained.
    pub(crate) fn explain_miss(&mut self, step: &StepKey) -> Option<String> {
        if !self.explain || self.no_cache {
            return None;
        }
        if self.made.contains(&step.parent) {
            return Some("the step before it was made anew".into());
        }
        let key = step.key();
        if self.caches.iter().any(|(_, t)| t.steps.contains_key(&key)) {
            return Some(
                "a cache holds it, but not layers that can be had (a stage exported with mode=min keeps only its keys; mode=max keeps its layers)"
                    .into(),
            );
        }
        let how = step.how();
        let store = self.store;
        let local = self
            .local_keyed
            .get_or_insert_with(|| cache::keyed_entries(store));
        let mut siblings: Vec<&How> = local
            .iter()
            .filter(|(parent, _)| parent == &step.parent)
            .map(|(_, h)| h)
            .collect();
        for (_, table) in &self.caches {
            siblings.extend(
                table
                    .steps
                    .values()
                    .filter(|s| s.parent.as_ref() == Some(&step.parent))
                    .filter_map(|s| s.how.as_ref()),
            );
        }
        if siblings.is_empty() {
            return Some(
                "no cache holds a step made from the same state (an earlier step or the base image differs)"
                    .into(),
            );
        }
        if let Some(same) = siblings.iter().find(|h| h.text == how.text) {
            let names: BTreeSet<&String> = how.inputs.keys().chain(same.inputs.keys()).collect();
            let changed: Vec<&str> = names
                .into_iter()
                .filter(|n| how.inputs.get(*n) != same.inputs.get(*n))
                .map(String::as_str)
                .collect();
            return Some(match changed.as_slice() {
                // The same key: an entry whose layers were removed since.
                [] => "its cached layers are gone (removed by img-prune or img-rm)".into(),
                some => format!("{} changed", some.join(" and ")),
            });
        }
        siblings.sort_by(|a, b| a.instruction.cmp(&b.instruction));
        Some(format!(
            "the instruction changed (the cache has `{}`)",
            siblings[0].instruction
        ))
    }

    /// Record that the step `step` gave `state`: found (by `step`'s key,
    /// maybe an alias of `state.key`) or `made` now, in which case the
    /// store's cache keeps it.
    pub fn record(&mut self, step: &StepKey, state: &State, made: bool) -> Result<()> {
        let key = step.key();
        let how = step.how();
        if made {
            self.made.insert(state.key.clone());
            cache::save_entry(self.store, &key, state, Some(&step.parent), Some(&how))?;
        }
        if key != state.key {
            // Found by a second key: the state's own key is a step of the
            // build too, and what the steps after it go on from.
            self.journal.push(Journaled {
                key: state.key.clone(),
                parent: step.parent.clone(),
                state: state.clone(),
                how: None,
            });
        }
        self.journal.push(Journaled {
            key,
            parent: step.parent.clone(),
            state: state.clone(),
            how: Some(how),
        });
        Ok(())
    }

    /// Record that `state` (found or made by its own key) is also what the
    /// step `alias` gives: the store's cache and exports find it by both.
    pub(crate) fn record_alias(&mut self, alias: &StepKey, state: &State) -> Result<()> {
        let key = alias.key();
        let how = alias.how();
        cache::save_entry(self.store, &key, state, Some(&alias.parent), Some(&how))?;
        self.journal.push(Journaled {
            key,
            parent: alias.parent.clone(),
            state: state.clone(),
            how: Some(how),
        });
        Ok(())
    }

    /// Put `state`'s layers into the store, fetching those it lacks from
    /// the caches. When one cannot be had, [`StepCache::restart`] says so.
    pub(crate) fn ensure_layers(&mut self, state: &State) -> Result<()> {
        self.ensure(&state.layers)
    }

    /// Put `layers` into the store, as [`StepCache::ensure_layers`].
    pub(crate) fn ensure(&mut self, layers: &[Descriptor]) -> Result<()> {
        match self.fetcher.ensure(self.store, layers) {
            Ok(_) => Ok(()),
            Err(Unfetched { digest, reason }) => {
                let why = format!(
                    "layer {} of a cached step could not be fetched: {reason}",
                    digest::short(&digest)
                );
                self.restart = Some(why.clone());
                Err(Error::new(Kind::NotFound, why))
            }
        }
    }

    /// Fetch one layer the store lacks from the caches.
    pub(crate) fn fetch_layer(&self, layer: &Descriptor) -> Result<()> {
        self.fetcher
            .ensure(self.store, std::slice::from_ref(layer))
            .map(|_| ())
            .map_err(|u| Error::new(Kind::NotFound, format!("layer {}: {}", u.digest, u.reason)))
    }

    /// Why the build must start over (taken: asked once per failure).
    pub fn restart(&mut self) -> Option<String> {
        let why = self.restart.take()?;
        self.layerless_hits = false;
        self.journal.clear();
        Some(why)
    }

    /// Put the inline cache into `state` (the image the last step
    /// `last_step` gave) when one of `specs` asks for it.
    pub(crate) fn write_inline(
        &self,
        specs: &[Export],
        last_step: &Digest,
        state: &mut State,
    ) -> Result<()> {
        if let Some(inline) = specs.iter().find(|c| c.location == Location::Inline) {
            let steps = self.steps_to_export(inline.mode, last_step);
            let records = inline::encode(&steps, &state.config, &state.layers)?;
            if let Some(config) = state.config.as_object_mut() {
                config.insert(INLINE_KEY.into(), serde_json::Value::String(records));
            }
        }
        Ok(())
    }

    /// Write the cache of the build whose last step was `last_step` where
    /// each of `specs` says (an inline cache is in the image already). A
    /// failure is an error unless the spec says `ignore-error=true`.
    pub fn export(
        &self,
        specs: &[Export],
        options: &ClientOptions,
        last_step: &Digest,
    ) -> Result<()> {
        let fetch = |layer: &Descriptor| self.fetch_layer(layer);
        let cache_mounts = self.cache_mounts();
        let sources = export::Sources {
            cache_mounts: &cache_mounts,
            mount_from: &self.sources,
            fetch: &fetch,
        };
        for spec in specs.iter().filter(|s| s.location != Location::Inline) {
            let steps = self.steps_to_export(spec.mode, last_step);
            let exported =
                export::export(spec, &steps, self.store, options, &sources, self.progress);
            if let Err(e) = exported {
                let e = e.context(format!(
                    "exporting the cache to {} (the image was built)",
                    spec.location.label()
                ));
                if !spec.ignore_error {
                    return Err(e);
                }
                self.progress.warn(&e.to_string());
            }
        }
        Ok(())
    }

    /// The steps to export for the image whose last step gave `target`:
    /// with `mode=max` all with their layers; with `mode=min` those on the
    /// way to `target` with their layers, the others as keys only.
    pub(crate) fn steps_to_export(&self, mode: Mode, target: &Digest) -> Vec<ExportStep> {
        let mut by_key: HashMap<&Digest, &Journaled> = HashMap::new();
        for j in &self.journal {
            if j.key == j.state.key {
                by_key.insert(&j.key, j);
            }
        }
        let mut way = HashSet::new();
        let mut at = Some(target);
        while let Some(key) = at {
            if !way.insert(key.clone()) {
                break;
            }
            at = by_key.get(key).map(|j| &j.parent);
        }
        self.journal
            .iter()
            .map(|j| ExportStep {
                key: j.key.clone(),
                parent: Some(j.parent.clone()),
                config: j.state.config.clone(),
                layers: j.state.layers.clone(),
                how: j.how.clone(),
                // Layers no cache gives (a hit exported as keys only) stay
                // out: the export keeps the key rather than failing.
                with_layers: (mode == Mode::Max || way.contains(&j.state.key))
                    && j.state.layers.iter().all(|l| {
                        self.store.has_blob(l.digest()) || self.fetcher.offers(l.digest())
                    }),
                same_as: (j.key != j.state.key).then(|| j.state.key.clone()),
            })
            .collect()
    }
}
