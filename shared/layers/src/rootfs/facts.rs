//! What one layer says about paths, and the rules that decide, from the
//! layers above an entry's own, whether the entry is part of the image's
//! root filesystem: the OCI image spec's rules, as [`crate::flatten`]
//! applies them to a tar stream.
//!
//! An entry is hidden when a higher layer has the same path (the higher one
//! wins), deletes it or an ancestor (`.wh.` whiteout), makes an ancestor
//! opaque (`.wh..wh..opq`), or puts a non-directory where an ancestor is.
//! A directory is the exception: a higher layer that only has things
//! *inside* it leaves its metadata to the highest layer that has the
//! directory's own entry.

use std::collections::HashMap;
use std::sync::Arc;

use img_core::path;

/// The path has an entry that is a directory.
const DIR: u8 = 1;
/// The path has an entry that is not a directory.
const NONDIR: u8 = 2;
/// The path is a proper ancestor of an entry (a directory, implicitly).
const ANCESTOR: u8 = 4;
/// A whiteout deletes the path from the layers below.
const WHITEOUT: u8 = 8;
/// The directory is opaque: its children in the layers below are hidden.
const OPAQUE: u8 = 16;

/// The paths of one layer, complete once the layer was read to its end.
#[derive(Debug, Default)]
pub struct Facts {
    flags: HashMap<Vec<u8>, u8>,
    root_opaque: bool,
    /// Every entry index of each path of a regular file or hard link, in
    /// order: where a hard link's content may have to come from.
    pub files: HashMap<Vec<u8>, Vec<usize>>,
    /// Hard links of the layer: entry index → target.
    pub links: HashMap<usize, Vec<u8>>,
}

impl Facts {
    fn get(&self, p: &[u8]) -> u8 {
        self.flags.get(p).copied().unwrap_or(0)
    }

    /// The entry `idx` at `p` (a directory when `is_dir`); a later entry
    /// of the same path replaces what an earlier one said of it.
    pub fn entry(&mut self, idx: usize, p: &[u8], is_dir: bool, hard_link: Option<&[u8]>) {
        for a in path::ancestors(p) {
            *self.flags.entry(a.to_vec()).or_insert(0) |= ANCESTOR;
        }
        let f = self.flags.entry(p.to_vec()).or_insert(0);
        *f = (*f & !(DIR | NONDIR)) | if is_dir { DIR } else { NONDIR };
        if !is_dir {
            self.files.entry(p.to_vec()).or_default().push(idx);
        }
        if let Some(target) = hard_link {
            self.links.insert(idx, target.to_vec());
        }
    }

    /// A whiteout of `p`.
    pub fn whiteout(&mut self, p: Vec<u8>) {
        *self.flags.entry(p).or_insert(0) |= WHITEOUT;
    }

    /// An opaque marker in `dir` (`None`: the root).
    pub fn opaque(&mut self, dir: Option<&[u8]>) {
        match dir {
            Some(d) => *self.flags.entry(d.to_vec()).or_insert(0) |= OPAQUE,
            None => self.root_opaque = true,
        }
    }

    /// Whether this layer deletes `p` from the layers below: a whiteout of
    /// it or an ancestor, an opaque ancestor, or a non-directory in an
    /// ancestor's place.
    fn masks(&self, p: &[u8]) -> bool {
        self.root_opaque
            || self.get(p) & WHITEOUT != 0
            || path::ancestors(p).any(|a| self.get(a) & (WHITEOUT | OPAQUE | NONDIR) != 0)
    }
}

/// The complete facts of every layer above one layer.
pub struct Above {
    layers: Vec<Arc<Facts>>,
}

impl Above {
    /// The layers above, in any order.
    pub fn new(layers: Vec<Arc<Facts>>) -> Above {
        Above { layers }
    }

    /// Whether a higher layer deletes `p`.
    pub fn masked(&self, p: &[u8]) -> bool {
        self.layers.iter().any(|l| l.masks(p))
    }

    /// Whether the entry at `p` (a directory when `is_dir`) is not the
    /// version the image shows; a directory's own entry is, unless a
    /// higher layer has an entry of the same path.
    pub fn hides(&self, p: &[u8], is_dir: bool) -> bool {
        let over = if is_dir {
            DIR | NONDIR
        } else {
            DIR | NONDIR | ANCESTOR
        };
        self.masked(p) || self.layers.iter().any(|l| l.get(p) & over != 0)
    }

    /// Whether a higher layer has anything at `p` or deletes it: the
    /// version of `p` a lower layer's hard link shares is not the one shown.
    pub fn touches(&self, p: &[u8]) -> bool {
        self.masked(p) || self.layers.iter().any(|l| l.get(p) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn above(layers: Vec<Facts>) -> Above {
        Above::new(layers.into_iter().map(Arc::new).collect())
    }

    #[test]
    fn higher_entries_whiteouts_and_opaque_dirs_hide_lower_ones() {
        let mut top = Facts::default();
        top.entry(0, b"etc/passwd", false, None);
        top.whiteout(b"usr/share/doc".to_vec());
        top.opaque(Some(b"var/cache"));
        top.entry(1, b"lib", false, None);
        let above = above(vec![top]);
        assert!(above.hides(b"etc/passwd", false));
        assert!(!above.hides(b"etc/group", false));
        // Only inside: the directory's own entry keeps its metadata.
        assert!(!above.hides(b"etc", true));
        assert!(above.hides(b"etc", false));
        assert!(above.hides(b"usr/share/doc", true));
        assert!(above.hides(b"usr/share/doc/x/y", false));
        assert!(!above.hides(b"usr/share/docs", false));
        assert!(!above.hides(b"var/cache", true));
        assert!(above.hides(b"var/cache/apt", true));
        assert!(above.hides(b"lib/libc.so", false));
        assert!(above.hides(b"lib", true));
    }

    #[test]
    fn a_root_opaque_marker_hides_everything_below() {
        let mut top = Facts::default();
        top.opaque(None);
        assert!(above(vec![top]).hides(b"anything", true));
    }

    #[test]
    fn the_last_entry_of_a_path_in_a_layer_says_what_it_is() {
        let mut top = Facts::default();
        top.entry(0, b"a", false, None);
        top.entry(1, b"a", true, None);
        let above = above(vec![top]);
        assert!(!above.masked(b"a/b"));
        assert!(above.hides(b"a", true));
    }
}
