//! Whiteouts, exactly as the OCI image spec defines them: an entry
//! `DIR/.wh.NAME` says that `DIR/NAME` from the layers below is deleted, and
//! `DIR/.wh..wh..opq` says that `DIR` is opaque: every child it had in the
//! layers below is hidden (the directory itself stays). Both apply only to
//! lower layers, never to entries of their own layer. Other `.wh..wh.` names
//! are AUFS bookkeeping, ignored like Docker ignores them (with everything
//! under a top-level `.wh..wh.` directory). Whiteout entries are never
//! themselves part of a root filesystem.
//!
//! A whiteout names one plain entry of its own directory: `.wh.` alone,
//! `.wh..` and `.wh...` (which would delete the directory itself or its
//! parent) are refused, and so is any path below a whiteout-named
//! directory, which the spec says no filesystem can hold. Every reader of
//! layers classifies through [`classify`], so each refuses them alike.

use img_core::error::{Error, Result};
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

/// Classify a cleaned entry path; an error for a whiteout that names no
/// plain entry, or an entry below a whiteout.
pub fn classify(entry: &[u8]) -> Result<Kind<'_>> {
    if entry.starts_with(AUFS_META) && entry != OPAQUE {
        return Ok(Kind::Meta);
    }
    let dir = path::parent(entry);
    if let Some(marker) = dir
        .into_iter()
        .flat_map(|d| d.split(|b| *b == b'/'))
        .find(|part| part.starts_with(PREFIX))
    {
        return Err(Error::invalid(format!(
            "layer entry {:?} lies below the whiteout {:?}, which cannot hold entries",
            String::from_utf8_lossy(entry),
            String::from_utf8_lossy(marker)
        )));
    }
    let name = path::base_name(entry);
    if !name.starts_with(PREFIX) {
        return Ok(Kind::Entry);
    }
    if name == OPAQUE {
        return Ok(Kind::Opaque(dir));
    }
    if name.starts_with(AUFS_META) {
        return Ok(Kind::Meta);
    }
    let target = &name[PREFIX.len()..];
    if matches!(target, b"" | b"." | b"..") || target.contains(&b'/') {
        return Err(Error::invalid(format!(
            "layer entry {:?} is a whiteout of {:?}, which is not an entry of its directory; \
             refusing the layer",
            String::from_utf8_lossy(entry),
            String::from_utf8_lossy(target)
        )));
    }
    Ok(Kind::Remove(path::join(dir, target)))
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
        let ok = |p: &'static [u8]| classify(p).unwrap();
        assert_eq!(ok(b"a/b"), Kind::Entry);
        assert_eq!(ok(b"a/.wh.b"), Kind::Remove(b"a/b".to_vec()));
        assert_eq!(ok(b".wh.top"), Kind::Remove(b"top".to_vec()));
        assert_eq!(ok(b"a/.wh...b"), Kind::Remove(b"a/..b".to_vec()));
        assert_eq!(ok(b"a/.wh..wh..opq"), Kind::Opaque(Some(b"a")));
        assert_eq!(ok(b".wh..wh..opq"), Kind::Opaque(None));
        assert_eq!(ok(b".wh..wh.plnk"), Kind::Meta);
        assert_eq!(ok(b".wh..wh.plnk/12.34"), Kind::Meta);
        assert_eq!(whiteout_for(b"a/b"), b"a/.wh.b");
    }

    #[test]
    fn a_whiteout_names_one_plain_entry() {
        for bad in [
            &b".wh.."[..],
            b".wh...",
            b".wh.",
            b"dir/.wh...",
            b"r/.wh..",
            b"a/.wh.",
            b".wh.x/y",
            b"a/.wh..wh..opq/b",
            b"a/.wh.b/.wh.c",
        ] {
            let err = classify(bad).unwrap_err();
            assert_eq!(err.kind(), img_core::Kind::InvalidInput, "{bad:?}");
        }
    }
}
