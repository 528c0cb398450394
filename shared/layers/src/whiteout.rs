//! Whiteouts, exactly as the OCI image spec defines them: an entry
//! `DIR/.wh.NAME` says that `DIR/NAME` from the layers below is deleted, and
//! `DIR/.wh..wh..opq` says that `DIR` is opaque: every child it had in the
//! layers below is hidden (the directory itself stays). Both apply only to
//! lower layers, never to entries of their own layer. Other `.wh..wh.` names
//! are AUFS bookkeeping, ignored like Docker ignores them. Whiteout entries
//! are never themselves part of a root filesystem.

use img_core::path;

/// The prefix that marks a whiteout.
pub const PREFIX: &[u8] = b".wh.";
/// The name of the opaque-directory marker.
pub const OPAQUE: &[u8] = b".wh..wh..opq";
/// AUFS metadata names start with this (`.wh..wh.plnk`, `.wh..wh.aufs`).
const AUFS_META: &[u8] = b".wh..wh.";

/// What a (cleaned) entry path means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind<'a> {
    /// A regular entry of the tree.
    Entry,
    /// Deletes this path from the lower layers.
    Remove(Vec<u8>),
    /// Hides every lower child of this directory (`None`: the root).
    Opaque(Option<&'a [u8]>),
    /// AUFS bookkeeping: not part of the tree, no effect.
    Meta,
}

/// Classify a cleaned entry path.
pub fn classify(entry: &[u8]) -> Kind<'_> {
    let name = path::base_name(entry);
    if !name.starts_with(PREFIX) {
        return Kind::Entry;
    }
    let dir = path::parent(entry);
    if name == OPAQUE {
        return Kind::Opaque(dir);
    }
    if name.starts_with(AUFS_META) {
        return Kind::Meta;
    }
    let target = &name[PREFIX.len()..];
    if target.is_empty() {
        return Kind::Meta;
    }
    Kind::Remove(path::join(dir, target))
}

/// The whiteout entry name that deletes `target`.
pub fn whiteout_for(target: &[u8]) -> Vec<u8> {
    let name = [PREFIX, path::base_name(target)].concat();
    path::join(path::parent(target), &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_per_spec() {
        assert_eq!(classify(b"a/b"), Kind::Entry);
        assert_eq!(classify(b"a/.wh.b"), Kind::Remove(b"a/b".to_vec()));
        assert_eq!(classify(b".wh.top"), Kind::Remove(b"top".to_vec()));
        assert_eq!(classify(b"a/.wh..wh..opq"), Kind::Opaque(Some(b"a")));
        assert_eq!(classify(b".wh..wh..opq"), Kind::Opaque(None));
        assert_eq!(classify(b".wh..wh.plnk"), Kind::Meta);
        assert_eq!(whiteout_for(b"a/b"), b"a/.wh.b");
    }
}
