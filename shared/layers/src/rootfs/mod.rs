//! Unpacking an image: its layers written into one directory as the image's
//! root filesystem, each path written once — the version the image shows
//! after all its layers, never one that a higher layer replaces or
//! deletes — with the layers decompressed in parallel, each exactly once.
//!
//! Every layer is read by a worker of its own (as many workers as cores,
//! the top layers first). Whether an entry is part of the image depends only
//! on the layers above its own ([`facts`]): the top layer's entries are
//! written where they belong at once; a lower layer's entries are written
//! there as soon as every layer above it has been read, and before that a
//! regular file's content is written into a staging directory of the
//! destination and moved into place (or removed) once its fate is known,
//! so that reading a lower layer never waits for a higher one. Whiteouts and
//! opaque markers only decide; nothing is ever deleted from the tree.
//!
//! Hard links are made last, once every file is in place. A link whose
//! target a higher layer replaced keeps the content the target had in the
//! link's own layer (what applying the layers in order gives): that content
//! is read again from its layer and written under the link's path.
//!
//! Everything is made through the destination's [`Root`] and directory
//! handles ([`crate::place`], which also makes the entries of the store's
//! snapshots: one layer each, in overlay form): nothing driven by a layer's
//! content reaches outside it. Each entry is checked ([`check::entry`]) as it is read.

mod facts;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use facts::{Above, Facts};

use crate::check;
use crate::flatten::LayerSource;
use crate::place::{Item, Place, Report};
use crate::whiteout::{self, Kind as Whiteout};
use img_core::confine::Root;
use img_core::error::{Error, Result};

/// Entries of a lower layer kept waiting for the layers above (their
/// content staged) before its worker waits too: bounds memory.
const MAX_PENDING: usize = 32 * 1024;

/// How to unpack.
#[derive(Debug, Clone)]
pub struct Options {
    /// Set each file's owner from the layer (needs root).
    pub preserve_owners: bool,
    /// Workers reading layers at once (at least 1).
    pub workers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            preserve_owners: rustix::process::geteuid().is_root(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
        }
    }
}

/// A hard link to be made once every file is in place.
struct Link {
    layer: usize,
    idx: usize,
    path: Vec<u8>,
    target: Vec<u8>,
}

/// What the workers share.
struct Shared<'p, 'r> {
    place: &'p Place<'r>,
    layers: &'p [&'p (dyn LayerSource + Sync)],
    state: Mutex<State>,
    changed: Condvar,
    /// The next layer to be read, counted from the top.
    next: AtomicUsize,
}

#[derive(Default)]
struct State {
    /// Each layer's facts, once it was read to its end.
    facts: Vec<Option<Arc<Facts>>>,
    failed: bool,
    links: Vec<Link>,
}

/// An entry waiting for the layers above its own.
struct Pending {
    item: Item,
    staged: Option<OsString>,
    idx: usize,
}

/// Unpack `layers` (bottom first) into the directory `root`, which should
/// be empty.
pub fn unpack(
    layers: &[&(dyn LayerSource + Sync)],
    root: &Root,
    options: &Options,
) -> Result<Report> {
    let staging_name = OsString::from(format!(".img-unpack-{}", random_hex()?));
    root.top().create_dir(&staging_name)?;
    let staging = root.top().open_dir(&staging_name)?;
    let place = Place::new(root, Some(staging), options.preserve_owners);
    let shared = Shared {
        place: &place,
        layers,
        state: Mutex::new(State {
            facts: vec![None; layers.len()],
            ..State::default()
        }),
        changed: Condvar::new(),
        next: AtomicUsize::new(0),
    };
    let workers = options.workers.clamp(1, layers.len().max(1));
    let outcome = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| scope.spawn(|| shared.work()))
            .collect();
        let mut outcome = Ok(());
        for handle in handles {
            let result = handle
                .join()
                .unwrap_or_else(|_| Err(Error::invalid("an unpacking thread panicked")));
            if outcome.is_ok() {
                outcome = result;
            }
        }
        outcome
    });
    let outcome = outcome
        .and_then(|()| shared.links())
        .and_then(|()| place.finish_dirs());
    let removed = root.top().remove(&staging_name);
    outcome?;
    removed?;
    Ok(place.report())
}

fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 8];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty())
        .map_err(|e| img_core::confine::os_error("getting random bytes".into(), e))?;
    Ok(hex::encode(bytes))
}

impl Shared<'_, '_> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Read layers, top first, until none is left or one failed.
    fn work(&self) -> Result<()> {
        loop {
            let taken = self.next.fetch_add(1, Ordering::SeqCst);
            if taken >= self.layers.len() {
                return Ok(());
            }
            let layer = self.layers.len() - 1 - taken;
            if let Err(e) = self.read(layer) {
                self.lock().failed = true;
                self.changed.notify_all();
                return Err(e.context(self.layers[layer].describe()));
            }
        }
    }

    /// The layers above `layer`, when all were read; an error when
    /// another worker failed.
    fn above(&self, layer: usize, wait: bool) -> Result<Option<Above>> {
        let mut state = self.lock();
        loop {
            if state.failed {
                return Err(Error::invalid("stopped: another layer failed"));
            }
            let above: Option<Vec<Arc<Facts>>> = state.facts[layer + 1..].iter().cloned().collect();
            if let Some(above) = above {
                return Ok(Some(Above::new(above)));
            }
            if !wait {
                return Ok(None);
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Read one layer, writing what the image shows of it.
    fn read(&self, layer: usize) -> Result<()> {
        let mut archive = tar::Archive::new(self.layers[layer].open()?);
        let mut facts = Facts::default();
        let mut pending: Vec<Pending> = Vec::new();
        let mut above = self.above(layer, false)?;
        let mut buffer = Vec::new();
        for (idx, entry) in archive.entries().map_err(check::bad_tar)?.enumerate() {
            let mut entry = entry.map_err(check::bad_tar)?;
            let Some(checked) = check::entry(&entry)? else {
                continue;
            };
            match whiteout::classify(&checked.path)? {
                Whiteout::Remove(target) => {
                    facts.whiteout(target);
                    continue;
                }
                Whiteout::Opaque(dir) => {
                    facts.opaque(dir);
                    continue;
                }
                Whiteout::Meta => continue,
                Whiteout::Entry => {}
            }
            let item = Item::of(&mut entry, checked.path, checked.hard_link)?;
            facts.entry(idx, &item.path, item.is_dir(), item.hard_link.as_deref());
            if above.is_none() {
                let wait = pending.len() >= MAX_PENDING;
                above = self.above(layer, wait)?;
                if let Some(above) = &above {
                    self.settle(layer, std::mem::take(&mut pending), above)?;
                }
            }
            match &above {
                Some(above) => {
                    if !above.hides(&item.path, item.is_dir()) {
                        self.keep(layer, idx, item, &mut entry, &mut buffer)?;
                    }
                }
                None => {
                    let staged = if item.is_file() {
                        Some(self.place.stage(&item, &mut entry, &mut buffer)?)
                    } else {
                        None
                    };
                    pending.push(Pending { item, staged, idx });
                }
            }
        }
        // The rest of the stream (padding after the end blocks) is read
        // too, so that a verifying reader checks its digest.
        io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(check::bad_tar)?;
        if above.is_none() {
            if let Some(above) = self.above(layer, true)? {
                self.settle(layer, pending, &above)?;
            }
        }
        let mut state = self.lock();
        state.facts[layer] = Some(Arc::new(facts));
        drop(state);
        self.changed.notify_all();
        Ok(())
    }

    /// Write (or drop) the entries that waited for the layers above.
    fn settle(&self, layer: usize, pending: Vec<Pending>, above: &Above) -> Result<()> {
        for p in pending {
            let hidden = above.hides(&p.item.path, p.item.is_dir());
            match (&p.staged, hidden) {
                (Some(staged), true) => self.place.discard(staged)?,
                (Some(staged), false) => self.place.adopt(&p.item, staged)?,
                (None, true) => {}
                (None, false) => {
                    self.keep(layer, p.idx, p.item, &mut io::empty(), &mut Vec::new())?
                }
            }
        }
        Ok(())
    }

    /// Write an entry the image shows (a hard link: later).
    fn keep(
        &self,
        layer: usize,
        idx: usize,
        item: Item,
        content: &mut dyn Read,
        buffer: &mut Vec<u8>,
    ) -> Result<()> {
        if let Some(target) = item.hard_link {
            self.lock().links.push(Link {
                layer,
                idx,
                path: item.path,
                target,
            });
            return Ok(());
        }
        self.place.make(&item, content, buffer)
    }

    /// Make the hard links, lowest layer first, each in its layer's order.
    fn links(&self) -> Result<()> {
        let (mut links, facts) = {
            let mut state = self.lock();
            let facts: Vec<Arc<Facts>> = state.facts.iter().flatten().cloned().collect();
            (std::mem::take(&mut state.links), facts)
        };
        if links.is_empty() {
            return Ok(());
        }
        if facts.len() != self.layers.len() {
            return Err(Error::invalid("a layer was not read to its end"));
        }
        links.sort_by_key(|l| (l.layer, l.idx));
        // Content written again under a link's path: (layer, entry) → path.
        let mut copies: HashMap<(usize, usize), Vec<u8>> = HashMap::new();
        for link in &links {
            let above = Above::new(facts[link.layer + 1..].to_vec());
            if !above.touches(&link.target) {
                self.place.hard_link(&link.path, &link.target)?;
                continue;
            }
            let source = version(&facts, &link.target, link.layer, link.idx)?;
            if let Some(copy) = copies.get(&source) {
                self.place.hard_link(&link.path, copy)?;
                continue;
            }
            self.copy_entry(source, &link.path)?;
            copies.insert(source, link.path.clone());
        }
        Ok(())
    }

    /// Write entry `idx` of `layer` again, under `path`.
    fn copy_entry(&self, (layer, idx): (usize, usize), path: &[u8]) -> Result<()> {
        let what = self.layers[layer].describe();
        let mut archive = tar::Archive::new(self.layers[layer].open()?);
        for (at, entry) in archive.entries().map_err(check::bad_tar)?.enumerate() {
            let mut entry = entry.map_err(check::bad_tar)?;
            if at != idx {
                continue;
            }
            let item = Item::of(&mut entry, path.to_vec(), None)?;
            return self.place.make(&item, &mut entry, &mut Vec::new());
        }
        Err(Error::invalid(format!(
            "{what} changed while it was unpacked"
        )))
    }
}

/// The entry (layer, index) that `target` was when entry `idx` of `layer`
/// (a hard link) was read, following links to links: what applying the
/// layers in order would have linked.
fn version(
    facts: &[Arc<Facts>],
    target: &[u8],
    layer: usize,
    idx: usize,
) -> Result<(usize, usize)> {
    let mut target = target.to_vec();
    let mut layer = layer;
    let mut before = idx;
    // Each step goes down a layer or back in one: it ends.
    loop {
        let found = facts[layer]
            .files
            .get(&target)
            .and_then(|at| at.iter().rev().find(|k| **k < before).copied());
        if let Some(at) = found {
            match facts[layer].links.get(&at) {
                Some(next) => {
                    target = next.clone();
                    before = at;
                    continue;
                }
                None => return Ok((layer, at)),
            }
        }
        if layer == 0 || Above::new(vec![facts[layer].clone()]).masked(&target) {
            return Err(Error::invalid(format!(
                "a hard link points to {}, which no layer below it has",
                String::from_utf8_lossy(&target).escape_debug()
            )));
        }
        layer -= 1;
        before = usize::MAX;
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
