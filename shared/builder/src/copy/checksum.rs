//! The build cache's view of a COPY or ADD: one sha256 over everything the
//! copy reads and decides by — the destination and options, and for each
//! source its name and kind, and for each entry its path, type, mode, owner
//! (only where owners are kept), size, content and link target, in walk
//! order (names sorted) — but not times, as BuildKit's content checksum
//! leaves them out: touching a file does not invalidate the cache, editing
//! it does. Every field is written with its length first, so no two
//! different inputs run together into the same bytes.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::source::{Entry, Finder, Source, Visit};
use super::{Dest, Request};
use img_core::digest::{Digest, Hasher};
use img_core::error::{IoContext, Result};
use img_layers::compression::BUFFER;

/// The digest of a planned copy.
pub fn of(req: &Request, finder: &Finder, dest: &Dest, sources: &[Source]) -> Result<Digest> {
    let mut sum = Sum {
        hasher: Hasher::default(),
        owners: req.preserve_owners && req.owner.is_none(),
        seen: HashMap::new(),
    };
    sum.field(b"img copy v1");
    sum.field(if req.add { b"ADD" } else { b"COPY" });
    sum.field(dest.parts.join("/").as_bytes());
    sum.field(&[u8::from(dest.is_dir)]);
    sum.field(format!("{:?}", req.owner).as_bytes());
    sum.field(&[u8::from(sum.owners)]);
    sum.field(
        req.chmod
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
            .as_bytes(),
    );
    sum.field(
        req.checksum
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
            .as_bytes(),
    );
    sum.number(req.exclude.len() as u64);
    for pattern in req.exclude {
        sum.field(pattern.as_bytes());
    }
    sum.number(sources.len() as u64);
    for source in sources {
        match source {
            Source::Path(found) => {
                sum.field(b"path");
                sum.field(found.name.as_bytes());
                if found.meta.is_dir() {
                    // The directory itself is not copied, only its contents.
                    sum.field(b"dir");
                    finder.walk(found, &mut sum)?;
                    sum.field(b"end");
                } else {
                    sum.entry(Path::new(""), &found.path, &found.meta)?;
                }
            }
            Source::Url { url, name } => {
                sum.field(b"url");
                sum.field(url.as_bytes());
                sum.field(name.as_bytes());
            }
            Source::Inline { name, content } => {
                sum.field(b"inline");
                sum.field(name.as_bytes());
                sum.field(content);
            }
        }
    }
    Ok(sum.hasher.digest())
}

struct Sum {
    hasher: Hasher,
    /// Whether owners are kept, and so count.
    owners: bool,
    /// Files seen, by (device, inode), for hard links.
    seen: HashMap<(u64, u64), Vec<u8>>,
}

impl Sum {
    fn number(&mut self, n: u64) {
        self.hasher.update(&n.to_le_bytes());
    }

    fn field(&mut self, bytes: &[u8]) {
        self.number(bytes.len() as u64);
        self.hasher.update(bytes);
    }

    fn entry(&mut self, rel: &Path, path: &Path, meta: &fs::Metadata) -> Result<()> {
        let kind = meta.file_type();
        let tag: &[u8] = if kind.is_dir() {
            b"d"
        } else if kind.is_symlink() {
            b"l"
        } else if kind.is_file() {
            b"f"
        } else {
            b"p"
        };
        self.field(tag);
        self.field(rel.as_os_str().as_bytes());
        self.number(u64::from(meta.mode() & 0o7777));
        if self.owners {
            self.number(u64::from(meta.uid()));
            self.number(u64::from(meta.gid()));
        }
        if kind.is_symlink() {
            let target =
                fs::read_link(path).io_context(|| format!("reading {}", path.display()))?;
            self.field(target.as_os_str().as_bytes());
        } else if kind.is_file() {
            let inode = (meta.dev(), meta.ino());
            if let Some(first) = self.seen.get(&inode).filter(|_| meta.nlink() > 1) {
                // Written as a hard link to the first: same content.
                let first = first.clone();
                self.field(b"hard link");
                self.field(&first);
                return Ok(());
            }
            if meta.nlink() > 1 {
                self.seen.insert(inode, rel.as_os_str().as_bytes().to_vec());
            }
            self.number(meta.len());
            let file = fs::File::open(path).io_context(|| format!("reading {}", path.display()))?;
            // io::copy reads straight into a BufReader's buffer: large reads.
            let mut file = io::BufReader::with_capacity(BUFFER, file);
            io::copy(&mut file, &mut HashInto(&mut self.hasher))
                .io_context(|| format!("reading {}", path.display()))?;
        }
        Ok(())
    }
}

impl Visit for Sum {
    fn enter(&mut self, entry: &Entry) -> Result<()> {
        self.entry(entry.rel, entry.path, entry.meta)
    }

    fn leave(&mut self, _: &Entry) -> Result<()> {
        Ok(())
    }

    fn leaf(&mut self, entry: &Entry) -> Result<()> {
        self.entry(entry.rel, entry.path, entry.meta)
    }
}

/// File content streamed into the hasher, never held whole.
struct HashInto<'h>(&'h mut Hasher);

impl Write for HashInto<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
