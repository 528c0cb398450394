//! A directory tree written as a layer tar (`img-layer create`, and the
//! entries `img-layer diff` emits), reproducibly: the same tree gives the
//! same bytes. Entries come depth first, each directory's children sorted
//! by name bytes; each carries its file's type, mode, owner and mtime
//! (seconds; clamped to a `--mtime` / `SOURCE_DATE_EPOCH` when asked, as
//! BuildKit's rewrite-timestamp does), never atime, ctime, user or group
//! names, which differ between machines. Symbolic links are stored, never
//! followed; a file with several hard links is stored once and then as hard
//! link entries naming the first path; device nodes and FIFOs are kept,
//! sockets skipped (they cannot be part of an image). Extended attributes in
//! the `user.`, `trusted.` and `security.` namespaces (file capabilities)
//! go into PAX `SCHILY.xattr.` records; `security.selinux` labels belong to
//! the host and are left out, as Docker does.
//!
//! A name that would make a whiteout of `.` or `..` in the layer (`.wh..`,
//! `.wh...`, `.wh.`, or anything under a `.wh.` directory) is refused, as
//! every reader of layers refuses it (see [`super::check`]).
//!
//! The tree is streamed: one directory listing is held at a time, plus the
//! first path of every multiply linked file.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::tarout::{self, EntryMeta};
use super::whiteout;
use img_core::error::{Error, IoContext, Result};
use img_core::path;

/// How entries are written.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Modification times later than this (seconds since the epoch) are
    /// written as this.
    pub clamp_mtime: Option<u64>,
    /// Files (device, inode) never written: the archive being written, when
    /// it lies inside the tree (GNU tar's "file is the archive; not dumped").
    pub exclude: Vec<(u64, u64)>,
}

impl Options {
    /// Also leave out what stdout writes into, when it is a regular file.
    pub fn excluding_stdout(mut self) -> Options {
        if let Ok(st) = rustix::fs::fstat(std::io::stdout()) {
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
            {
                self.exclude.push((st.st_dev, st.st_ino));
            }
        }
        self
    }
}

/// Refuse an output file inside the tree being archived: it would be read
/// while being written.
pub fn check_output_outside(output: Option<&Path>, trees: &[&Path]) -> Result<()> {
    let Some(output) = output.filter(|p| p.as_os_str() != "-") else {
        return Ok(());
    };
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Ok(dir) = fs::canonicalize(dir) else {
        return Ok(());
    };
    for tree in trees {
        if let Ok(tree) = fs::canonicalize(tree) {
            if dir.starts_with(&tree) {
                return Err(Error::invalid(format!(
                    "the output {} is inside {}, which is being archived: write it elsewhere",
                    output.display(),
                    tree.display()
                )));
            }
        }
    }
    Ok(())
}

/// What went into the tar.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Entries written (whiteouts included).
    pub entries: u64,
    /// Sockets left out.
    pub skipped_sockets: u64,
}

/// Writes tree entries into a tar stream, remembering hard links.
pub struct TreeWriter<W: Write> {
    out: W,
    options: Options,
    /// (device, inode) of multiply linked files written, and their path.
    links: HashMap<(u64, u64), Vec<u8>>,
    /// What was written so far.
    pub report: Report,
}

impl<W: Write> TreeWriter<W> {
    /// Write entries into `out`.
    pub fn new(out: W, options: Options) -> TreeWriter<W> {
        TreeWriter {
            out,
            options,
            links: HashMap::new(),
            report: Report::default(),
        }
    }

    /// Write the end-of-archive blocks and return the writer.
    pub fn finish(mut self) -> Result<(W, Report)> {
        tarout::finish(&mut self.out)?;
        Ok((self.out, self.report))
    }

    /// Write every entry under the directory `dir` (not `dir` itself), as
    /// paths relative to it.
    pub fn add_children(&mut self, dir: &Path, rel: Option<&[u8]>) -> Result<()> {
        for name in sorted_children(dir)? {
            let full = dir.join(&name);
            let child = path::join(rel, name.as_bytes());
            self.add_tree(&full, &child)?;
        }
        Ok(())
    }

    /// Write `full` as the entry `rel`, and, for a directory, everything
    /// under it.
    pub fn add_tree(&mut self, full: &Path, rel: &[u8]) -> Result<()> {
        let meta =
            fs::symlink_metadata(full).io_context(|| format!("reading {}", full.display()))?;
        if self.add(full, rel, &meta)? && meta.is_dir() {
            self.add_children(full, Some(rel))?;
        }
        Ok(())
    }

    /// Write the one entry `rel` for the file `full`; `false` when it was
    /// left out (a socket).
    pub fn add(&mut self, full: &Path, rel: &[u8], meta: &Metadata) -> Result<bool> {
        // A file named like a whiteout of `.` or `..` would be one in the
        // layer: what every reader refuses is never written.
        whiteout::classify(rel).map_err(|e| e.context(format!("{}", full.display())))?;
        let kind = meta.file_type();
        if self.options.exclude.contains(&(meta.dev(), meta.ino())) {
            return Ok(false);
        }
        if kind.is_socket() {
            self.report.skipped_sockets += 1;
            return Ok(false);
        }
        let mut header = tar::Header::new_ustar();
        header.set_mode(meta.mode() & 0o7777);
        header.set_uid(u64::from(meta.uid()));
        header.set_gid(u64::from(meta.gid()));
        let mtime = u64::try_from(meta.mtime()).unwrap_or(0);
        header.set_mtime(match self.options.clamp_mtime {
            Some(clamp) => mtime.min(clamp),
            None => mtime,
        });
        let entry = EntryMeta {
            header,
            pax: xattrs(full)?,
        };
        let mut entry = entry;
        let what = || format!("reading {}", full.display());
        if !kind.is_dir() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                entry.header.set_entry_type(tar::EntryType::Link);
                let first = first.clone();
                return self.write(&entry, rel, Some(&first), 0, io::empty());
            }
            self.links.insert(key, rel.to_vec());
        }
        if kind.is_dir() {
            entry.header.set_entry_type(tar::EntryType::Directory);
            self.write(&entry, rel, None, 0, io::empty())
        } else if kind.is_symlink() {
            entry.header.set_entry_type(tar::EntryType::Symlink);
            let target = fs::read_link(full).io_context(what)?;
            self.write(
                &entry,
                rel,
                Some(target.as_os_str().as_bytes()),
                0,
                io::empty(),
            )
        } else if kind.is_file() {
            entry.header.set_entry_type(tar::EntryType::Regular);
            // Never through a symbolic link swapped in since the walk saw
            // a regular file here.
            let file = fs::OpenOptions::new()
                .read(true)
                .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
                .open(full)
                .io_context(what)?;
            self.write(&entry, rel, None, meta.len(), file)
                .map_err(|e| e.context(format!("{} changed while being read", full.display())))
        } else {
            let node = if kind.is_fifo() {
                tar::EntryType::Fifo
            } else if kind.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            };
            entry.header.set_entry_type(node);
            if node != tar::EntryType::Fifo {
                let rdev = meta.rdev();
                entry
                    .header
                    .set_device_major(rustix::fs::major(rdev))
                    .and_then(|_| entry.header.set_device_minor(rustix::fs::minor(rdev)))
                    .io_context(|| format!("storing the device numbers of {}", full.display()))?;
            }
            self.write(&entry, rel, None, 0, io::empty())
        }
    }

    /// Write a whiteout entry deleting `target` from the layers below.
    pub fn whiteout(&mut self, target: &[u8]) -> Result<()> {
        self.marker(&whiteout::whiteout_for(target))
    }

    /// Write an opaque marker: every child `dir` has in the layers below
    /// is hidden.
    pub fn opaque(&mut self, dir: &[u8]) -> Result<()> {
        self.marker(&path::join(Some(dir), whiteout::OPAQUE))
    }

    /// An empty regular file whose name is the message (whiteouts).
    fn marker(&mut self, name: &[u8]) -> Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(0);
        let entry = EntryMeta {
            header,
            pax: Vec::new(),
        };
        self.write(&entry, name, None, 0, io::empty()).map(|_| ())
    }

    fn write(
        &mut self,
        entry: &EntryMeta,
        rel: &[u8],
        link: Option<&[u8]>,
        size: u64,
        data: impl io::Read,
    ) -> Result<bool> {
        tarout::write_entry(&mut self.out, entry, rel, link, size, data)?;
        self.report.entries += 1;
        Ok(true)
    }
}

/// The names in `dir`, sorted by their bytes.
pub fn sorted_children(dir: &Path) -> Result<Vec<OsString>> {
    let what = || format!("listing {}", dir.display());
    let mut names = Vec::new();
    for child in fs::read_dir(dir).io_context(what)? {
        names.push(child.io_context(what)?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// The extended attributes of `file` that belong in a layer, as PAX
/// records, sorted by name.
pub fn xattrs(file: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let mut names = vec![0u8; 4096];
    let len = loop {
        match rustix::fs::llistxattr(file, &mut names) {
            Ok(n) => break n,
            Err(rustix::io::Errno::RANGE) => names.resize(names.len() * 4, 0),
            // Not supported here: no attributes to keep.
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::io(
                    format!("listing extended attributes of {}", file.display()),
                    e.into(),
                ))
            }
        }
    };
    let mut records = Vec::new();
    for name in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        if !kept_xattr(name) {
            continue;
        }
        let Ok(key) = std::str::from_utf8(name) else {
            continue;
        };
        let mut value = vec![0u8; 256];
        let n = loop {
            match rustix::fs::lgetxattr(file, key, &mut value) {
                Ok(n) => break n,
                Err(rustix::io::Errno::RANGE) => value.resize(value.len() * 4, 0),
                // Removed since listed.
                Err(rustix::io::Errno::NODATA) => break usize::MAX,
                Err(e) => {
                    return Err(Error::io(
                        format!("reading extended attribute {key} of {}", file.display()),
                        e.into(),
                    ))
                }
            }
        };
        if n != usize::MAX {
            value.truncate(n);
            records.push((format!("SCHILY.xattr.{key}"), value));
        }
    }
    records.sort();
    Ok(records)
}

fn kept_xattr(name: &[u8]) -> bool {
    // overlayfs's own attributes (opaque directories, redirects) describe
    // how a directory of img's snapshots stacks, not the file.
    if name.starts_with(b"trusted.overlay.") {
        return false;
    }
    (name.starts_with(b"user.") || name.starts_with(b"trusted.") || name.starts_with(b"security."))
        && name != b"security.selinux"
}

/// Write the tree under `dir` as an uncompressed layer tar into `out`.
pub fn create<W: Write>(dir: &Path, out: W, options: Options) -> Result<(W, Report)> {
    check_dir(dir)?;
    let mut writer = TreeWriter::new(out, options);
    writer.add_children(dir, None)?;
    writer.finish()
}

/// Fail with a clear message unless `dir` is a directory.
pub fn check_dir(dir: &Path) -> Result<()> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::invalid(format!(
            "{} is not a directory",
            dir.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::invalid(format!(
            "{}: no such directory",
            dir.display()
        ))),
        Err(e) => Err(Error::io(format!("reading {}", dir.display()), e)),
    }
}

/// A tar stream made by `body`, compressed as asked, going where
/// [`img_core::output::write_tar`] sends it.
struct Compressed<F> {
    compression: super::Compression,
    body: F,
}

impl<F: FnOnce(&mut dyn Write) -> Result<()>> img_core::output::TarJob for Compressed<F> {
    fn write<S: img_core::output::Sink>(self, out: S) -> Result<S> {
        let mut compressor = super::compression::Compressor::new(self.compression, out)?;
        (self.body)(&mut compressor)?;
        compressor
            .finish()
            .io_context(|| format!("finishing the {} stream", self.compression))
    }
}

/// Run `body` to write an uncompressed layer tar, compressed as
/// `compression` into `output` (a file, written whole or not at all; `None`
/// or `-` for stdout, refused when it is a terminal).
pub fn write_compressed(
    output: Option<&Path>,
    compression: super::Compression,
    body: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    img_core::output::write_tar(output, "a layer tar", Compressed { compression, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    type Pax = Vec<(String, Vec<u8>)>;

    fn entries(tar: &[u8]) -> Vec<(String, Pax)> {
        let mut archive = tar::Archive::new(tar);
        let mut out = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let meta = EntryMeta::of(&mut entry).unwrap();
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            entry.read_to_end(&mut Vec::new()).unwrap();
            out.push((name, meta.pax));
        }
        out
    }

    #[test]
    fn keeps_user_xattrs_and_hard_links() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"x").unwrap();
        fs::hard_link(&file, dir.path().join("g")).unwrap();
        let supported =
            rustix::fs::lsetxattr(&file, "user.img", b"1", rustix::fs::XattrFlags::empty()).is_ok();
        let (tar, report) = create(dir.path(), Vec::new(), Options::default()).unwrap();
        assert_eq!(report.entries, 2);
        let found = entries(&tar);
        assert_eq!(found[0].0, "f");
        assert_eq!(found[1].0, "g");
        if supported {
            assert_eq!(
                found[0].1,
                vec![("SCHILY.xattr.user.img".to_string(), b"1".to_vec())]
            );
        }
        let mut archive = tar::Archive::new(&tar[..]);
        let link = archive.entries().unwrap().nth(1).unwrap().unwrap();
        assert_eq!(link.header().entry_type(), tar::EntryType::Link);
        assert_eq!(link.link_name_bytes().unwrap().as_ref(), b"f");
    }

    #[test]
    fn refuses_a_missing_directory() {
        let err = create(
            Path::new("/nonexistent/dir"),
            Vec::new(),
            Options::default(),
        )
        .unwrap_err();
        assert_eq!(err.kind(), img_core::error::Kind::InvalidInput);
    }
}
