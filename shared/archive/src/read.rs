//! Reading an archive's tar stream into the store's ingest area: every
//! regular file is staged (hashed as it streams, `blobs/sha256/HEX` verified
//! against HEX), symbolic and hard links are recorded to be followed inside
//! the archive, and any path that leaves the archive's root is refused. The
//! whole input may be gzip- or zstd-compressed.
//!
//! An uncompressed archive in a regular file is read out of order: the tar
//! headers first (seeking past the contents), then the files' contents by
//! position, several at once on their own threads, largest first, so that
//! hashing, the one costly step (every byte must be verified), runs on every
//! core. A stream is read in order, one file after the other. Either way a
//! file that may be a layer is checked as one while it is staged
//! ([`super::precheck`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek};
use std::os::unix::fs::FileExt;

use img_core::digest::{self, Digest};
use img_core::error::{Error, Kind, Result, ResultExt};
use img_core::parallel::{self, Spare};
use img_core::path;
use img_layers::compression;
use img_store::{StagedBlob, Store};

use super::precheck::{self, Teed};

/// Link hops followed before a path is declared a loop.
const MAX_LINKS: usize = 32;

/// The files of an archive, staged.
pub struct StagedArchive {
    files: HashMap<Vec<u8>, StagedBlob>,
    links: HashMap<Vec<u8>, Vec<u8>>,
    /// Layer checks made while files were staged, by the files' digests.
    checked: HashMap<Digest, Result<u64>>,
}

impl StagedArchive {
    fn new() -> StagedArchive {
        StagedArchive {
            files: HashMap::new(),
            links: HashMap::new(),
            checked: HashMap::new(),
        }
    }

    /// Record a file (and its check as a layer, when it had one); a later
    /// entry of the same path replaces an earlier one, whatever it was.
    fn add_file(&mut self, at: Vec<u8>, blob: StagedBlob, check: Option<Result<u64>>) {
        self.links.remove(&at);
        if let Some(check) = check {
            self.checked.insert(blob.digest.clone(), check);
        }
        self.files.insert(at, blob);
    }

    /// What checking the staged blob `digest` as a layer gave while it was
    /// staged (the number of entries), when it was checked then.
    pub fn checked(&self, digest: &Digest) -> Option<Result<u64>> {
        self.checked.get(digest).map(precheck::again)
    }

    /// Record a link, replacing any earlier entry of the same path.
    fn add_link(&mut self, at: Vec<u8>, target: Vec<u8>) {
        self.files.remove(&at);
        self.links.insert(at, target);
    }

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

/// What one tar entry means to an archive reader.
enum Member {
    /// A regular file: its path, name (for messages), size, and the digest
    /// its path promises.
    File {
        at: Vec<u8>,
        name: String,
        size: u64,
        expected: Option<Digest>,
    },
    /// A symbolic or hard link, its target resolved within the archive.
    Link { at: Vec<u8>, target: Vec<u8> },
}

/// Read one entry's header: `None` for directories, the root, and anything
/// an image archive has no use for.
fn member<R: Read>(entry: &tar::Entry<'_, R>) -> Result<Option<Member>> {
    let raw = entry.path_bytes();
    let kind = entry.header().entry_type();
    let Some(at) = path::clean(&raw)? else {
        return Ok(None);
    };
    let name = String::from_utf8_lossy(&at).into_owned();
    Ok(match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous => Some(Member::File {
            expected: blob_digest(&name),
            size: entry.size(),
            at,
            name,
        }),
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
            Some(Member::Link { at, target })
        }
        _ => None,
    })
}

fn malformed(e: std::io::Error) -> Error {
    retype(Error::io("reading the archive".to_string(), e))
}

/// Stream the archive from `input` into the ingest area.
pub fn stage(store: &Store, input: impl Read) -> Result<StagedArchive> {
    let (_, decoded) = compression::decompress(input)?;
    let mut archive = tar::Archive::new(decoded);
    let mut staged = StagedArchive::new();
    for entry in archive.entries().map_err(malformed)? {
        let mut entry = entry.map_err(malformed)?;
        match member(&entry)? {
            Some(Member::File {
                at,
                name,
                size,
                expected,
            }) => {
                let mut teed = Teed::new(&mut entry, &name);
                let blob = store
                    .stage(&mut teed, size, expected.as_ref())
                    .map_err(retype)
                    .with_context(|| format!("archive entry {name}"))?;
                staged.add_file(at, blob, teed.finish());
            }
            Some(Member::Link { at, target }) => staged.add_link(at, target),
            None => {}
        }
    }
    Ok(staged)
}

/// Whether `file`, from its current position, holds a compressed stream
/// (which only [`stage`] reads).
pub fn is_compressed(file: &File) -> Result<bool> {
    let start = (&*file).stream_position().map_err(malformed)?;
    let (prefix, _) = compression::peek(Window::new(file, start, u64::MAX))?;
    Ok(compression::Compression::detect(&prefix) != compression::Compression::None)
}

/// Stage the uncompressed archive in `file` (from its current position):
/// the headers in one pass, then the files' contents on worker threads.
pub fn stage_file(store: &Store, file: &File) -> Result<StagedArchive> {
    let start = (&*file).stream_position().map_err(malformed)?;
    let mut members = Vec::new();
    // The tar reader counts positions from where it starts.
    let mut archive = tar::Archive::new(Window::new(file, start, u64::MAX));
    for entry in archive.entries_with_seek().map_err(malformed)? {
        let entry = entry.map_err(malformed)?;
        if let Some(m) = member(&entry)? {
            members.push((m, start.saturating_add(entry.raw_file_position())));
        }
    }
    let jobs: Vec<Job<'_>> = members
        .iter()
        .enumerate()
        .filter_map(|(index, (m, offset))| match m {
            Member::File {
                name,
                size,
                expected,
                ..
            } => Some(Job {
                index,
                name,
                offset: *offset,
                size: *size,
                expected: expected.as_ref(),
            }),
            Member::Link { .. } => None,
        })
        .collect();
    let mut blobs = stage_all(store, file, jobs)?;
    let mut staged = StagedArchive::new();
    for (index, (m, _)) in members.into_iter().enumerate() {
        match m {
            Member::File { at, .. } => {
                // Every file member had a job, and stage_all returns a blob
                // for every job or fails.
                if let Some((blob, check)) = blobs.remove(&index) {
                    staged.add_file(at, blob, check);
                }
            }
            Member::Link { at, target } => staged.add_link(at, target),
        }
    }
    Ok(staged)
}

/// One file of an archive to stage from its position.
struct Job<'a> {
    index: usize,
    name: &'a str,
    offset: u64,
    size: u64,
    expected: Option<&'a Digest>,
}

/// The most threads staging files at once: hashing is bound by the CPU, and
/// more threads than cores only take turns.
const MAX_WORKERS: usize = 4;

/// Stage every job, largest first (so that no large file is left to hash
/// alone at the end), one thread per core; returns the blobs (and their
/// checks as layers) by job index.
#[allow(clippy::type_complexity)]
fn stage_all(
    store: &Store,
    file: &File,
    mut jobs: Vec<Job<'_>>,
) -> Result<HashMap<usize, (StagedBlob, Option<Result<u64>>)>> {
    jobs.sort_by_key(|job| std::cmp::Reverse(job.size));
    // No core is spare while every thread has a file to stage; then the
    // threads that run out of files lend theirs to the hashing of the rest.
    let spare = Spare::default();
    let blobs = parallel::map(&jobs, parallel::cores(MAX_WORKERS), &spare, |job| {
        let mut content = Teed::new(Window::new(file, job.offset, job.size), job.name);
        let blob = store
            .stage_sharing(&mut content, job.size, job.expected, &spare)
            .map_err(retype)
            .with_context(|| format!("archive entry {}", job.name))?;
        Ok((blob, content.finish()))
    })?;
    Ok(jobs.iter().map(|j| j.index).zip(blobs).collect())
}

/// `len` bytes of `file` from `start`, read by position (so that several
/// threads read one file at once), positions counted from `start`.
struct Window<'a> {
    file: &'a File,
    start: u64,
    len: u64,
    at: u64,
}

impl<'a> Window<'a> {
    fn new(file: &'a File, start: u64, len: u64) -> Window<'a> {
        Window {
            file,
            start,
            len,
            at: 0,
        }
    }
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = usize::try_from(self.len.saturating_sub(self.at)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        // Past the end of any file: nothing there.
        let Some(position) = self.start.checked_add(self.at) else {
            return Ok(0);
        };
        let n = self.file.read_at(&mut buf[..want], position)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, to: std::io::SeekFrom) -> std::io::Result<u64> {
        let at = match to {
            std::io::SeekFrom::Start(n) => Some(n),
            std::io::SeekFrom::Current(d) => self.at.checked_add_signed(d),
            std::io::SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        self.at = at.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seeking before the archive",
            )
        })?;
        Ok(self.at)
    }
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
    if error.kind() != Kind::Io || img_store::is_disk_full(&error) {
        return error;
    }
    let source = std::error::Error::source(&error).and_then(|s| s.downcast_ref::<std::io::Error>());
    match source {
        Some(io) if io.raw_os_error().is_none() => Error::invalid(format!(
            "{error}: {} (the archive is truncated or corrupt)",
            img_layers::one_line(io)
        )),
        _ => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    /// A tar of `files`, preceded by `skip` bytes of something else.
    fn archive_file(skip: usize, files: &[(&str, &[u8])]) -> File {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, bytes) in files {
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_cksum();
            tar.append_data(&mut header, name, *bytes).unwrap();
        }
        let bytes = tar.into_inner().unwrap();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![b'x'; skip]).unwrap();
        file.write_all(&bytes).unwrap();
        file.seek(SeekFrom::Start(skip as u64)).unwrap();
        file
    }

    #[test]
    fn a_file_is_staged_from_its_position_out_of_order() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let big = vec![3u8; 9 << 20];
        let blob = digest::of_bytes(&big);
        let blob_path = format!("blobs/sha256/{}", blob.digest());
        let files: &[(&str, &[u8])] = &[
            ("manifest.json", b"[]"),
            (&blob_path, &big),
            ("a/b.json", b"{}"),
        ];
        let file = archive_file(700, files);
        assert!(!is_compressed(&file).unwrap());
        let staged = stage_file(&store, &file).unwrap();
        let read = |path: &str| {
            let blob = staged.file(path).unwrap().unwrap();
            blob.read_small(&store, 16 << 20, path).unwrap()
        };
        assert_eq!(read("manifest.json"), b"[]");
        assert_eq!(read("a/b.json"), b"{}");
        assert_eq!(staged.blob(&blob).unwrap().unwrap().size, big.len() as u64);

        // A blob that does not hash to its name fails, whichever thread
        // stages it, and leaves nothing in the ingest area.
        let mut lie = big.clone();
        lie[5 << 20] = 4;
        let file = archive_file(0, &[("a.json", b"{}"), (&blob_path, &lie)]);
        let err = stage_file(&store, &file).err().unwrap();
        assert_eq!(err.kind(), Kind::DigestMismatch, "{err}");
        // A truncated archive: the last file is cut short.
        let mut file = archive_file(0, files);
        let len = file.seek(SeekFrom::End(0)).unwrap();
        file.set_len(len - 3000).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        let err = stage_file(&store, &file).err().unwrap();
        assert_eq!(err.kind(), Kind::InvalidInput, "{err}");
        drop(staged);
        let ingest = std::fs::read_dir(store.state_dir().join("ingest")).unwrap();
        assert_eq!(ingest.count(), 0);
    }
}
