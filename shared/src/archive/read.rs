//! Reading an archive's tar stream into the store's ingest area: every
//! regular file is staged (hashed as it streams, `blobs/sha256/HEX` verified
//! against HEX), symbolic and hard links are recorded to be followed inside
//! the archive, and any path that leaves the archive's root is refused. The
//! whole input may be gzip- or zstd-compressed.

use std::collections::HashMap;
use std::io::Read;

use crate::digest::{self, Digest};
use crate::error::{Error, Kind, Result, ResultExt};
use crate::layer::{compression, path};
use crate::store::{StagedBlob, Store};

/// Link hops followed before a path is declared a loop.
const MAX_LINKS: usize = 32;

/// The files of an archive, staged.
pub struct StagedArchive {
    files: HashMap<Vec<u8>, StagedBlob>,
    links: HashMap<Vec<u8>, Vec<u8>>,
}

impl StagedArchive {
    /// The file at `raw` (a path as `manifest.json` gives it), links followed.
    pub fn file(&self, raw: &str) -> Result<Option<&StagedBlob>> {
        let Some(mut at) = path::clean(raw.as_bytes())? else {
            return Ok(None);
        };
        for _ in 0..MAX_LINKS {
            if let Some(blob) = self.files.get(&at) {
                return Ok(Some(blob));
            }
            match self.links.get(&at) {
                Some(target) => at = target.clone(),
                None => return Ok(None),
            }
        }
        Err(Error::invalid(format!(
            "archive path {raw} is a loop of links"
        )))
    }

    /// The blob `digest` from `blobs/sha256/`.
    pub fn blob(&self, digest: &Digest) -> Result<Option<&StagedBlob>> {
        digest::ensure_sha256(digest)?;
        self.file(&format!("blobs/sha256/{}", digest.digest()))
    }

    /// Whether the archive holds a file at `raw`.
    pub fn has(&self, raw: &str) -> bool {
        matches!(self.file(raw), Ok(Some(_)))
    }
}

/// Stream the archive from `input` into the ingest area.
pub fn stage(store: &Store, input: impl Read) -> Result<StagedArchive> {
    let malformed = |e: std::io::Error| retype(Error::io("reading the archive".to_string(), e));
    let (_, decoded) = compression::decompress(input)?;
    let mut archive = tar::Archive::new(decoded);
    let mut staged = StagedArchive {
        files: HashMap::new(),
        links: HashMap::new(),
    };
    for entry in archive.entries().map_err(malformed)? {
        let mut entry = entry.map_err(malformed)?;
        let raw = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        let Some(at) = path::clean(&raw)? else {
            continue;
        };
        let name = String::from_utf8_lossy(&at).into_owned();
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let expected = blob_digest(&name);
                let size = entry.size();
                let blob = store
                    .stage(&mut entry, size, expected.as_ref())
                    .map_err(retype)
                    .with_context(|| format!("archive entry {name}"))?;
                staged.links.remove(&at);
                staged.files.insert(at, blob);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                let target = if kind == tar::EntryType::Symlink && !link.starts_with(b"/") {
                    // Relative to the link's directory.
                    let dir = path::parent(&at).unwrap_or_default();
                    [dir, b"/", &link].concat()
                } else {
                    link
                };
                let target = path::clean(&target)?.ok_or_else(|| {
                    Error::invalid(format!("archive entry {name} links to the archive's root"))
                })?;
                staged.files.remove(&at);
                staged.links.insert(at, target);
            }
            // Directories, and anything an image archive has no use for.
            _ => {}
        }
    }
    Ok(staged)
}

/// The digest a path under `blobs/sha256/` promises.
fn blob_digest(name: &str) -> Option<Digest> {
    let hex = name.strip_prefix("blobs/sha256/")?;
    digest::parse(&format!("sha256:{hex}")).ok()
}

/// An I/O error while reading an archive is the archive's fault (a
/// truncated or corrupt stream: bad input, exit 2), unless the operating
/// system itself failed (a disk error, a full disk: exit 1).
fn retype(error: Error) -> Error {
    if error.kind() != Kind::Io {
        return error;
    }
    let source = std::error::Error::source(&error).and_then(|s| s.downcast_ref::<std::io::Error>());
    match source {
        Some(io) if io.raw_os_error().is_none() => Error::invalid(format!(
            "{error}: {} (the archive is truncated or corrupt)",
            crate::layer::one_line(io)
        )),
        _ => error,
    }
}
