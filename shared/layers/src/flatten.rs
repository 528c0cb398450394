//! Flattening a stack of layers into one root filesystem tar, streamed in
//! two passes over the layers and never unpacked to disk.
//!
//! Pass 1 reads the layers' headers top layer first and decides, for each
//! entry of each layer, whether it is part of the result: an entry is hidden
//! when a higher layer has the same path (the higher one wins), deletes it
//! or an ancestor (`.wh.` whiteout), makes an ancestor opaque
//! (`.wh..wh..opq`), or replaces an ancestor directory by a non-directory.
//! Pass 2 reads the layers bottom first and writes the entries kept, so that
//! directories come before their contents. Memory holds one byte per entry
//! and the set of paths, never file contents.
//!
//! Two cases need more than a yes or no:
//! * a directory present in several layers is written once, where it first
//!   appears, with the metadata of its highest version;
//! * a hard link whose target was replaced by a higher layer still shares
//!   the content the target had in the link's own layer (what unpacking the
//!   layers in order gives): that content is written under the link's path
//!   where the old target was, and further links to it point there.

use std::collections::HashMap;
use std::io::{self, Read, Write};

use super::tarout::{self, EntryMeta};
use super::whiteout::{self, Kind as Whiteout};
use img_core::error::{Error, Result};
use img_core::path;

/// One layer of the stack: something that can be read twice.
pub trait LayerSource {
    /// A reader of the layer's uncompressed tar.
    fn open(&self) -> Result<Box<dyn Read + '_>>;
    /// How to name the layer in errors.
    fn describe(&self) -> String;
    /// A seekable reader of the uncompressed tar, when the layer is stored
    /// uncompressed: pass 1 then seeks past contents instead of reading
    /// them. Pass 2 still reads (and verifies) everything.
    fn open_seekable(&self) -> Result<Option<Box<dyn ReadSeek + '_>>> {
        Ok(None)
    }
}

/// A reader that can also seek.
pub trait ReadSeek: Read + io::Seek {}

impl<T: Read + io::Seek> ReadSeek for T {}

const DIR: u8 = 1;
const NONDIR: u8 = 2;
const WHITEOUT: u8 = 4;
const OPAQUE: u8 = 8;

const SKIP: u8 = 0;
const EMIT: u8 = 1;
const SPECIAL: u8 = 2;

/// What pass 2 does with an entry beyond writing it as it is.
enum Special {
    /// Write this content under another path (a hard link's own path).
    Rename(Vec<u8>),
    /// A directory written here with a higher layer's metadata.
    Header(Box<EntryMeta>),
    /// A hard link, pointing to another path.
    Relink(Vec<u8>),
}

/// The decisions of pass 1.
struct Plan {
    actions: Vec<Vec<u8>>,
    special: HashMap<(usize, usize), Special>,
}

/// Write the flattened root filesystem of `layers` (bottom first) to `out`.
pub fn flatten<W: Write>(layers: &[&dyn LayerSource], mut out: W) -> Result<W> {
    let plan = plan(layers)?;
    let mut plan = plan;
    for (i, layer) in layers.iter().enumerate() {
        let what = || layer.describe();
        let mut archive = tar::Archive::new(layer.open()?);
        let entries = archive.entries().map_err(|e| bad(&what(), e))?;
        for (idx, entry) in entries.enumerate() {
            let mut entry = entry.map_err(|e| bad(&what(), e))?;
            let code = plan.actions[i].get(idx).copied().unwrap_or(SKIP);
            if code == SKIP {
                continue;
            }
            let raw = entry.path_bytes().into_owned();
            let Some(at) = path::clean(&raw)? else {
                continue;
            };
            let link = entry
                .link_name_bytes()
                .map(|l| l.into_owned())
                .filter(|_| entry.header().entry_type() == tar::EntryType::Link)
                .map(|l| path::clean_link(&l))
                .transpose()?;
            let symlink = entry
                .link_name_bytes()
                .map(|l| l.into_owned())
                .filter(|_| entry.header().entry_type() == tar::EntryType::Symlink);
            let mut meta = EntryMeta::of(&mut entry)?;
            let size = if meta.header.entry_type().is_file() {
                entry.size()
            } else {
                0
            };
            let (name, target) = match plan.special.remove(&(i, idx)) {
                None => (at, link.or(symlink)),
                Some(Special::Rename(to)) => (to, None),
                Some(Special::Header(upper)) => {
                    meta = *upper;
                    (at, None)
                }
                Some(Special::Relink(to)) => (at, Some(to)),
            };
            tarout::write_entry(&mut out, &meta, &name, target.as_deref(), size, &mut entry)
                .map_err(|e| e.context(what()))?;
        }
        drain(archive.into_inner()).map_err(|e| bad(&what(), e))?;
    }
    tarout::finish(&mut out)?;
    Ok(out)
}

/// Read a layer to its end, so that a verifying reader checks its digest.
fn drain(mut reader: impl Read) -> io::Result<u64> {
    io::copy(&mut reader, &mut io::sink())
}

fn bad(what: &str, e: io::Error) -> Error {
    let kind = img_core::error::kind_of(&e).unwrap_or(img_core::Kind::InvalidInput);
    let kind = if kind == img_core::Kind::Io && e.raw_os_error().is_none() {
        img_core::Kind::InvalidInput
    } else {
        kind
    };
    Error::new(
        kind,
        format!("{what}: not a valid layer tar: {}", super::one_line(&e)),
    )
}

/// The paths of the layers above the one being read.
#[derive(Default)]
struct Above {
    flags: HashMap<Vec<u8>, u8>,
    root_opaque: bool,
}

impl Above {
    fn get(&self, p: &[u8]) -> u8 {
        self.flags.get(p).copied().unwrap_or(0)
    }

    /// Deleted or masked from above: a whiteout of the path or an ancestor,
    /// an opaque ancestor, or an ancestor that is no longer a directory.
    fn masked(&self, p: &[u8]) -> bool {
        self.root_opaque
            || self.get(p) & WHITEOUT != 0
            || path::ancestors(p).any(|a| self.get(a) & (WHITEOUT | OPAQUE | NONDIR) != 0)
    }

    /// Not the version the result shows.
    fn hidden(&self, p: &[u8]) -> bool {
        self.masked(p) || self.get(p) & (DIR | NONDIR) != 0
    }
}

/// What pass 1 learns of one layer's entry.
struct Seen {
    idx: usize,
    is_dir: bool,
}

/// Pass 1's state across layers.
struct Planner {
    above: Above,
    plan: Plan,
    /// The highest kept version of each directory: where it is written.
    dirs: HashMap<Vec<u8>, (usize, usize, EntryMeta)>,
    /// Hard link targets to be written under a link's path, by target
    /// path, waiting for a lower layer that has the target.
    pending: HashMap<Vec<u8>, Vec<u8>>,
}

/// Pass 1: decide every entry, top layer first. Uncompressed layers are
/// read by seeking past file contents.
fn plan(layers: &[&dyn LayerSource]) -> Result<Plan> {
    let mut planner = Planner {
        above: Above::default(),
        plan: Plan {
            actions: vec![Vec::new(); layers.len()],
            special: HashMap::new(),
        },
        dirs: HashMap::new(),
        pending: HashMap::new(),
    };
    for i in (0..layers.len()).rev() {
        let what = layers[i].describe();
        if let Some(reader) = layers[i].open_seekable()? {
            let mut archive = tar::Archive::new(reader);
            let entries = archive.entries_with_seek().map_err(|e| bad(&what, e))?;
            planner.layer(i, &what, entries)?;
        } else {
            let mut archive = tar::Archive::new(layers[i].open()?);
            let entries = archive.entries().map_err(|e| bad(&what, e))?;
            planner.layer(i, &what, entries)?;
            drain(archive.into_inner()).map_err(|e| bad(&what, e))?;
        }
    }
    Ok(planner.plan)
}

impl Planner {
    /// Decide the entries of layer `i`, given everything above it.
    fn layer<R: Read>(&mut self, i: usize, what: &str, entries: tar::Entries<'_, R>) -> Result<()> {
        let mut seen: HashMap<Vec<u8>, Seen> = HashMap::new();
        let mut whiteouts = Vec::new();
        let mut opaques = Vec::new();
        // Links of this layer whose target is materialized: target → path.
        let mut relinks: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut actions = Vec::new();
        for (idx, entry) in entries.enumerate() {
            let mut entry = entry.map_err(|e| bad(what, e))?;
            actions.push(SKIP);
            let kind = entry.header().entry_type();
            if matches!(
                kind,
                tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
            ) {
                continue;
            }
            let raw = entry.path_bytes().into_owned();
            let Some(at) = path::clean(&raw).map_err(|e| e.context(what))? else {
                continue;
            };
            match whiteout::classify(&at).map_err(|e| e.context(what))? {
                Whiteout::Remove(t) => {
                    whiteouts.push(t);
                    continue;
                }
                Whiteout::Opaque(dir) => {
                    opaques.push(dir.map(<[u8]>::to_vec));
                    continue;
                }
                Whiteout::Meta => continue,
                Whiteout::Entry => {}
            }
            let is_dir = kind.is_dir();
            // A later entry of the same path in one layer replaces it.
            if let Some(earlier) = seen.remove(&at) {
                actions[earlier.idx] = SKIP;
                self.plan.special.remove(&(i, earlier.idx));
                if self
                    .dirs
                    .get(&at)
                    .is_some_and(|(l, x, _)| *l == i && *x == earlier.idx)
                {
                    self.dirs.remove(&at);
                }
            }
            if let Some(name) = self.pending.remove(&at) {
                if !is_dir && kind != tar::EntryType::Link {
                    actions[idx] = SPECIAL;
                    self.plan.special.insert((i, idx), Special::Rename(name));
                }
            } else if self.above.masked(&at) {
                // hidden: stays SKIP
            } else if self.above.get(&at) & (DIR | NONDIR) != 0 {
                if is_dir && self.above.get(&at) == DIR {
                    // Written here, with the highest version's metadata.
                    let meta = EntryMeta::of(&mut entry)?;
                    let upper = self.dirs.remove(&at);
                    let meta = match upper {
                        Some((l, x, upper_meta)) => {
                            self.plan.actions[l][x] = SKIP;
                            self.plan.special.remove(&(l, x));
                            actions[idx] = SPECIAL;
                            self.plan
                                .special
                                .insert((i, idx), Special::Header(Box::new(upper_meta.clone())));
                            upper_meta
                        }
                        None => {
                            actions[idx] = EMIT;
                            meta
                        }
                    };
                    self.dirs.insert(at.clone(), (i, idx, meta));
                }
            } else {
                actions[idx] = EMIT;
                if is_dir {
                    self.dirs
                        .insert(at.clone(), (i, idx, EntryMeta::of(&mut entry)?));
                }
                if kind == tar::EntryType::Link {
                    let target = entry
                        .link_name_bytes()
                        .map(|l| path::clean_link(&l))
                        .transpose()?
                        .unwrap_or_default();
                    if self.above.hidden(&target) {
                        // The target the link shares was replaced self.above.
                        match relinks.get(&target) {
                            Some(first) => {
                                actions[idx] = SPECIAL;
                                self.plan
                                    .special
                                    .insert((i, idx), Special::Relink(first.clone()));
                            }
                            None => {
                                actions[idx] = SKIP;
                                relinks.insert(target.clone(), at.clone());
                                match seen.get(&target) {
                                    Some(t) if !t.is_dir => {
                                        actions[t.idx] = SPECIAL;
                                        self.plan
                                            .special
                                            .insert((i, t.idx), Special::Rename(at.clone()));
                                    }
                                    _ => {
                                        self.pending.insert(target, at.clone());
                                    }
                                }
                            }
                        }
                    }
                }
            }
            seen.insert(at, Seen { idx, is_dir });
        }
        self.plan.actions[i] = actions;
        for (p, s) in seen {
            for a in path::ancestors(&p) {
                let f = self.above.flags.entry(a.to_vec()).or_insert(0);
                if *f & (DIR | NONDIR) == 0 {
                    *f |= DIR;
                }
            }
            *self.above.flags.entry(p).or_insert(0) |= if s.is_dir { DIR } else { NONDIR };
        }
        for t in whiteouts {
            *self.above.flags.entry(t).or_insert(0) |= WHITEOUT;
        }
        for d in opaques {
            match d {
                Some(d) => *self.above.flags.entry(d).or_insert(0) |= OPAQUE,
                None => self.above.root_opaque = true,
            }
        }
        Ok(())
    }
}
