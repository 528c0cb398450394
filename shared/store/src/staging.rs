//! Staged blobs: content that is hashed and written into the ingest area now
//! and made visible later, all together, or never. A program that must check
//! a whole input before it changes the store (img-load reading an archive
//! whose manifests come after its layers, from a pipe that cannot be
//! rewound) stages every file as it streams by, validates, and then commits
//! the blobs it needs, children before parents, before naming anything. When
//! it fails instead, dropping the staged blobs deletes their temporary files:
//! the store is as it was.
//!
//! Staged files are `blob-*` temporary files in `.img/ingest/`; the writer
//! lock keeps garbage collection away while they exist, and a crash leaves
//! only ingest files that the next sweep removes.
//!
//! Speed: a large blob is written back to disk in steps by a thread of its
//! own while it streams in, and synced before staging returns, so that the
//! disk works while the CPU hashes and no long fsync waits at the commit. It
//! is hashed on a second thread while the first reads and writes when a
//! core is free for it: always for a blob staged alone ([`Store::stage`]);
//! for one of several staged at once from several threads
//! ([`Store::stage_sharing`]), once another thread has run out of work.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::mpsc;

use tempfile::TempPath;

use super::writeback::Flusher;
use super::{set_readable, sync_dir, Store};
use img_core::digest::{self, Digest, Hasher};
use img_core::error::{Error, IoContext, Kind, Result};
use img_core::parallel::{self, Spare};

/// Bytes kept from the start of every staged blob, to tell compression and
/// JSON apart without reopening it.
pub(crate) const HEAD_LEN: usize = 8;

/// The copy buffer: large enough that hashing and disk writes dominate,
/// small enough to stay in the CPU's cache between the copy and the hash.
const BUFFER: usize = 256 << 10;

/// Buffers in flight between the copying and the hashing thread.
const BUFFERS: usize = 8;

/// A blob hashed and held in the ingest area, not yet visible.
#[derive(Debug)]
pub struct StagedBlob {
    /// The digest of the content.
    pub digest: Digest,
    /// The size of the content.
    pub size: u64,
    /// The first bytes of the content.
    pub head: Vec<u8>,
    /// The temporary file, or `None` when the store already held the blob.
    file: Option<TempPath>,
    /// Whether the temporary file is already on disk (fsynced).
    synced: bool,
}

impl StagedBlob {
    /// Open the staged content for reading (the stored blob, when the store
    /// already held it).
    pub fn open(&self, store: &Store) -> Result<File> {
        match &self.file {
            Some(path) => {
                File::open(path).io_context(|| format!("reopening staged {}", self.digest))
            }
            None => store.open_blob_unverified(&self.digest),
        }
    }

    /// Read the whole content (for manifests and configs), refusing content
    /// over `limit` bytes.
    pub fn read_small(&self, store: &Store, limit: u64, what: &str) -> Result<Vec<u8>> {
        if self.size > limit {
            return Err(Error::invalid(format!(
                "{what} is {} bytes, more than the {limit} bytes allowed for it",
                self.size
            )));
        }
        let mut bytes = Vec::with_capacity(self.size as usize);
        self.open(store)?
            .read_to_end(&mut bytes)
            .io_context(|| format!("reading {what}"))?;
        Ok(bytes)
    }
}

impl Store {
    /// Stream `source` into the ingest area, hashing it. With `expected`, the
    /// content must hash to that digest and have that size, or the staging
    /// fails with a DigestMismatch (and nothing is kept). When the store
    /// already holds the expected blob, the bytes are only hashed, not
    /// written. Without `expected`, exactly `size` bytes must arrive.
    pub fn stage(
        &self,
        source: impl Read,
        size: u64,
        expected: Option<&Digest>,
    ) -> Result<StagedBlob> {
        // Staged alone, a large blob has a core for its hashing.
        self.stage_sharing(source, size, expected, &Spare::new(1))
    }

    /// Like [`Store::stage`], for one of several blobs staged at once from
    /// several threads: a large blob is hashed on the copying thread, and on
    /// a thread of its own only once `spare` has a core for it (when the
    /// other stagers have run out of work).
    pub fn stage_sharing(
        &self,
        mut source: impl Read,
        size: u64,
        expected: Option<&Digest>,
        spare: &Spare,
    ) -> Result<StagedBlob> {
        self.hold_writer_lock()?;
        if let Some(want) = expected {
            digest::ensure_sha256(want)?;
        }
        let skip_write = expected.is_some_and(|d| self.has_blob(d));
        let mut file = if skip_write {
            None
        } else {
            let dir = self.state_dir().join("ingest");
            Some(
                tempfile::Builder::new()
                    .prefix("blob-")
                    .tempfile_in(&dir)
                    .io_context(|| format!("creating a temporary blob in {}", dir.display()))?,
            )
        };
        let mut head = Vec::with_capacity(HEAD_LEN);
        // One byte past the declared size is read, so that a source that
        // runs on is noticed without reading all of it.
        let mut limited = (&mut source).take(size.saturating_add(1));
        let large = size > PARALLEL_ABOVE;
        let spare = large.then_some(spare);
        let hasher = copy(&mut limited, file.as_mut(), &mut head, spare, large)?;
        let got = hasher.size();
        let digest = hasher.digest();
        if got != size {
            let what = expected.map_or_else(|| "content".to_string(), |d| d.to_string());
            return Err(Error::new(
                Kind::InvalidInput,
                format!("{what}: got {got} bytes where {size} were declared (truncated or corrupt input)"),
            ));
        }
        if let Some(want) = expected {
            if &digest != want {
                return Err(Error::digest_mismatch(want, &digest));
            }
        }
        // A large blob is synced now, with most of it already written back:
        // little is left to wait for, and several blobs staged at once from
        // several threads are synced side by side rather than at the commit.
        let synced = large && file.is_some();
        if let (true, Some(f)) = (synced, &file) {
            f.as_file()
                .sync_all()
                .io_context(|| format!("syncing blob {digest}"))?;
        }
        Ok(StagedBlob {
            digest,
            size,
            head,
            file: file.map(|f| f.into_temp_path()),
            synced,
        })
    }

    /// Make staged blobs visible under their digests, in the order given
    /// (children before parents): the files are synced (side by side, so
    /// that the file system commits them together) and then linked in that
    /// order, and the blob directory is synced once. Blobs the store already
    /// holds are left as they are. The staged blobs stay valid for reading.
    pub fn commit_staged(&self, blobs: &[&StagedBlob]) -> Result<()> {
        let fresh: Vec<(&StagedBlob, &TempPath)> = blobs
            .iter()
            .filter_map(|b| b.file.as_ref().map(|path| (*b, path)))
            .filter(|(b, _)| !self.blob_path(&b.digest).is_file())
            .collect();
        let unsynced: Vec<&(&StagedBlob, &TempPath)> =
            fresh.iter().filter(|(b, _)| !b.synced).collect();
        parallel::map(
            &unsynced,
            SYNC_THREADS,
            &Spare::default(),
            |(blob, path)| {
                File::open(path)
                    .and_then(|f| f.sync_all())
                    .io_context(|| format!("syncing blob {}", blob.digest))
            },
        )?;
        let mut linked = false;
        for (blob, path) in fresh {
            set_readable(path)?;
            // A hard link keeps the staged file valid for later reads and
            // makes the blob appear whole, atomically.
            match std::fs::hard_link(path, self.blob_path(&blob.digest)) {
                Ok(()) => linked = true,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(format!("storing blob {}", blob.digest), e)),
            }
        }
        if linked {
            sync_dir(&self.blob_dir())?;
        }
        Ok(())
    }
}

/// Threads syncing staged blobs at once: they wait on the disk, not the CPU.
const SYNC_THREADS: usize = 8;

/// Blobs larger than this are written back in steps, synced when staged,
/// and hashed on a second thread when a core is free: below, threads and
/// syncs cost more than they save.
const PARALLEL_ABOVE: u64 = 8 << 20;

fn read_some(source: &mut impl Read, buf: &mut [u8]) -> Result<usize> {
    img_core::cancel::check()?;
    loop {
        match source.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading blob content", e)),
        }
    }
}

/// Copy `source` into `file` (when given), hashing it, keeping its first
/// bytes in `head`. The hashing moves to a second thread (buffers go to the
/// hasher after they are written and come back to be filled again) as soon
/// as `spare` has a core for it, which it gives back at the end. With
/// `writeback`, the file is written back to disk in steps by a thread of
/// its own while the copy goes on.
fn copy(
    source: &mut impl Read,
    file: Option<&mut tempfile::NamedTempFile>,
    head: &mut Vec<u8>,
    spare: Option<&Spare>,
    writeback: bool,
) -> Result<Hasher> {
    std::thread::scope(|scope| {
        let flusher = match &file {
            Some(f) if writeback => Some(Flusher::start(scope, f.as_file())?),
            _ => None,
        };
        let mut out = Out {
            file,
            flusher,
            head,
        };
        let copied = copy_inline(scope, source, &mut out, spare);
        let flushed = match out.flusher.take() {
            Some(flusher) => flusher.finish(),
            None => Ok(()),
        };
        let hasher = copied?;
        flushed.map(|()| hasher)
    })
}

/// Where copied bytes go: the staged file, its writeback, its head.
struct Out<'a, 'scope> {
    file: Option<&'a mut tempfile::NamedTempFile>,
    flusher: Option<Flusher<'scope>>,
    head: &'a mut Vec<u8>,
}

impl Out<'_, '_> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(bytes)
                .io_context(|| "writing a staged blob".into())?;
        }
        if let Some(flusher) = self.flusher.as_mut() {
            flusher.wrote(bytes.len());
        }
        Ok(())
    }
}

/// Hash on this thread, until a core is spare for [`copy_aside`].
fn copy_inline<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    source: &mut impl Read,
    out: &mut Out<'_, 'scope>,
    spare: Option<&Spare>,
) -> Result<Hasher> {
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; BUFFER];
    loop {
        if let Some(spare) = spare.filter(|s| s.take()) {
            let hashed = copy_aside(scope, source, out, hasher);
            spare.give();
            return hashed;
        }
        let n = read_some(source, &mut buf)?;
        if n == 0 {
            return Ok(hasher);
        }
        hasher.update(&buf[..n]);
        out.put(&buf[..n])?;
    }
}

/// Copy on this thread and hash on another, from `hasher`'s state on.
fn copy_aside<'scope>(
    scope: &'scope std::thread::Scope<'scope, '_>,
    source: &mut impl Read,
    out: &mut Out<'_, 'scope>,
    mut hasher: Hasher,
) -> Result<Hasher> {
    let (full_tx, full_rx) = mpsc::sync_channel::<(Vec<u8>, usize)>(BUFFERS);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    for _ in 0..BUFFERS {
        // The receiver lives in this function: the send cannot fail.
        let _ = empty_tx.send(vec![0u8; BUFFER]);
    }
    let hashing = scope.spawn(move || {
        for (buf, n) in full_rx {
            hasher.update(&buf[..n]);
            // The copy may have stopped (an error); that is fine.
            let _ = empty_tx.send(buf);
        }
        hasher
    });
    let copied = (|| -> Result<()> {
        for mut buf in empty_rx.iter() {
            let n = read_some(source, &mut buf)?;
            if n == 0 {
                return Ok(());
            }
            out.put(&buf[..n])?;
            if full_tx.send((buf, n)).is_err() {
                break;
            }
        }
        Err(Error::new(Kind::Io, "the hashing thread stopped"))
    })();
    drop(full_tx);
    let hasher = hashing
        .join()
        .map_err(|_| Error::new(Kind::Io, "the hashing thread failed"))?;
    copied.map(|()| hasher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_blobs_are_invisible_until_committed() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let want = digest::of_bytes(b"hello");
        let staged = store.stage(&b"hello"[..], 5, Some(&want)).unwrap();
        assert!(!store.has_blob(&want));
        assert_eq!(staged.head, b"hello");
        store.commit_staged(&[&staged]).unwrap();
        assert!(store.has_blob(&want));
        assert_eq!(store.read_blob_by_digest(&want).unwrap(), b"hello");
        drop(staged);
        assert!(store.has_blob(&want), "dropping the stage keeps the blob");
        let ingest = std::fs::read_dir(store.state_dir().join("ingest")).unwrap();
        assert_eq!(ingest.count(), 0);
    }

    #[test]
    fn lies_and_truncation_are_refused_and_leave_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let want = digest::of_bytes(b"hello");
        let err = store.stage(&b"jello"[..], 5, Some(&want)).unwrap_err();
        assert_eq!(err.kind(), Kind::DigestMismatch);
        let err = store.stage(&b"hell"[..], 5, Some(&want)).unwrap_err();
        assert_eq!(err.kind(), Kind::InvalidInput);
        let err = store.stage(&b"hello!"[..], 5, None).unwrap_err();
        assert_eq!(err.kind(), Kind::InvalidInput);
        // large blobs take the two-thread path, with the same checks
        let big = vec![7u8; (PARALLEL_ABOVE + 3 * BUFFER as u64 + 5) as usize];
        let big_digest = digest::of_bytes(&big);
        let staged = store
            .stage(&big[..], big.len() as u64, Some(&big_digest))
            .unwrap();
        assert_eq!(staged.digest, big_digest);
        assert_eq!(staged.head, vec![7u8; HEAD_LEN]);
        let err = store
            .stage(&big[..big.len() - 1], big.len() as u64, Some(&big_digest))
            .unwrap_err();
        assert_eq!(err.kind(), Kind::InvalidInput);
        let mut lie = big.clone();
        lie[BUFFER * 2] = 8;
        let err = store
            .stage(&lie[..], big.len() as u64, Some(&big_digest))
            .unwrap_err();
        assert_eq!(err.kind(), Kind::DigestMismatch);
        drop(staged);
        let err = store.stage(&b"hello!"[..], 5, None).unwrap_err();
        assert_eq!(err.kind(), Kind::InvalidInput);
        let staged = store.stage(&b"other"[..], 5, None).unwrap();
        drop(staged);
        let ingest = std::fs::read_dir(store.state_dir().join("ingest")).unwrap();
        assert_eq!(ingest.count(), 0);
        assert!(store.reachable().unwrap().is_empty());
    }

    /// Gives `spare` a core once `after` bytes have been read.
    struct FreesACore<'a> {
        bytes: &'a [u8],
        after: usize,
        spare: &'a Spare,
    }

    impl Read for FreesACore<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.bytes.read(buf)?;
            if self.after < n {
                self.spare.give();
                self.after = usize::MAX;
            } else {
                self.after = self.after.saturating_sub(n);
            }
            Ok(n)
        }
    }

    #[test]
    fn hashing_moves_to_a_spare_core_midway_and_gives_it_back() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let big: Vec<u8> = (0..PARALLEL_ABOVE as usize + 5 * BUFFER + 3)
            .map(|i| (i % 251) as u8)
            .collect();
        let want = digest::of_bytes(&big);
        for (after, content) in [(0, &big), (3 * BUFFER, &big), (usize::MAX, &big)] {
            let spare = Spare::new(0);
            let source = FreesACore {
                bytes: content,
                after,
                spare: &spare,
            };
            let staged = store
                .stage_sharing(source, big.len() as u64, Some(&want), &spare)
                .unwrap();
            assert_eq!(staged.digest, want);
            assert_eq!(staged.head, big[..HEAD_LEN]);
            let freed = after != usize::MAX;
            assert_eq!(spare.take(), freed, "the core is given back");
            assert!(!spare.take(), "and only once");
        }
        let mut lie = big.clone();
        lie[BUFFER * 6] ^= 1;
        let spare = Spare::new(0);
        let source = FreesACore {
            bytes: &lie,
            after: 2 * BUFFER,
            spare: &spare,
        };
        let err = store
            .stage_sharing(source, big.len() as u64, Some(&want), &spare)
            .unwrap_err();
        assert_eq!(err.kind(), Kind::DigestMismatch);
    }
}
