//! What Dockerfile COPY and ADD do to files: the build's sources (from the
//! context, another stage's root filesystem, a URL or a heredoc) copied
//! into the root filesystem being built, by Docker's rules.
//!
//! * **Sources** ([`source`]): relative to the source root, which they never
//!   leave (`..` refused, symbolic links resolved as if the root were `/`);
//!   wildcards per path element; a directory copies its *contents*; a
//!   top-level link is followed, links inside directories are copied as
//!   links; `.dockerignore`d and `--exclude`d paths do not exist.
//! * **Destination**: absolute, or relative to the working directory. It is
//!   a directory when it ends with `/` (or is `.`), when it exists as one,
//!   or for a directory source or an unpacked archive. Otherwise a file is
//!   written as the destination itself; several sources are copied there
//!   one after the other (the last file wins), as BuildKit does. Paths are resolved inside the root filesystem
//!   (links followed as if it were `/`), so nothing is written outside it.
//! * **Metadata** ([`write`]): modes and times kept from the source (modes
//!   changed by `--chmod`); owners are `--chown`'s, else kept from another
//!   stage's root filesystem (`COPY --from`, as Docker does), else 0:0.
//! * **ADD** ([`add`]): a local tar archive (plain, gzip, bzip2, xz, zstd;
//!   told by its bytes, never its name) is unpacked into the destination;
//!   a URL is downloaded (never unpacked).
//! * **Checksum** ([`checksum`]): a digest of everything a copy would read
//!   and decide by, except times, for the build cache.
//!
//! Every source is found before anything is written, so a missing source
//! or a refused pattern changes nothing; a conflict met while writing (a
//! file where a directory must go) stops the copy where it is, and the
//! builder throws the step's root filesystem away.

mod add;
mod checksum;
mod chmod;
mod scoped;
mod source;
mod write;

use std::path::Path;

pub use chmod::Chmod;

use img_core::digest::Digest;
use img_core::error::{Error, Result};
use source::{Finder, Source};

/// One COPY or ADD, its words already expanded.
pub struct Request<'a> {
    /// Source paths and patterns as written, relative to `source_root`;
    /// for ADD also `http://` and `https://` URLs.
    pub sources: &'a [String],
    /// The build context, or the root filesystem of another stage or image.
    pub source_root: &'a Path,
    /// `.dockerignore`: whether a root-relative, `/`-separated path (no
    /// leading `./`) is left out, by its own pattern or a parent's; always
    /// false for another stage's files.
    pub excluded: &'a dyn Fn(&str) -> bool,
    /// `.dockerignore`: whether an excluded directory may hold paths an
    /// exception brings back (`false` lets the walk skip it).
    pub may_include_below: &'a dyn Fn(&str) -> bool,
    /// The destination as written: absolute, or relative to `workdir`.
    pub dest: &'a str,
    /// The image's working directory (`/` when it has none).
    pub workdir: &'a str,
    /// The root filesystem written into.
    pub rootfs: &'a Path,
    /// `--chown`, resolved to a uid and gid.
    pub owner: Option<(u32, u32)>,
    /// Keep the sources' owners where `owner` is not given (COPY --from);
    /// otherwise what is copied belongs to 0:0.
    pub preserve_owners: bool,
    /// `--chmod`, applied to every file and directory copied.
    pub chmod: Option<Chmod>,
    /// ADD rather than COPY: archives unpacked, URLs downloaded.
    pub add: bool,
    /// ADD `--checksum`: the digest a downloaded URL must have.
    pub checksum: Option<Digest>,
    /// Heredoc files (`COPY <<EOF name`): name and content.
    pub inline: &'a [(String, Vec<u8>)],
    /// `--exclude` patterns, matched like sources.
    pub exclude: &'a [String],
}

/// What a copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Regular files written (downloads and heredocs included).
    pub files: u64,
    /// Directories made or merged into from a source directory.
    pub directories: u64,
    /// Symbolic links made.
    pub symlinks: u64,
    /// Files written as hard links to a file copied before.
    pub hard_links: u64,
    /// Bytes of file content written.
    pub bytes: u64,
    /// Entries written by unpacking ADD archives.
    pub extracted: u64,
    /// Sockets left out.
    pub skipped: u64,
}

/// Copy the request's sources into its root filesystem.
pub fn copy(req: &Request) -> Result<Report> {
    let plan = Plan::new(req)?;
    let mut writer = write::Writer::new(req, &plan.dest)?;
    let mut origin = None;
    for source in &plan.sources {
        if let Source::Path(found) = source {
            // BuildKit copies each source as written on its own: files
            // hard linked to each other become hard links again only
            // within one source (a directory, or a wildcard's matches).
            if origin.replace(found.origin) != Some(found.origin) {
                writer.forget_hard_links();
            }
        }
        match source {
            Source::Path(found) if found.meta.is_dir() => writer.directory(&plan.finder, found)?,
            Source::Path(found) => {
                if !(req.add && add::unpack(&mut writer, found)?) {
                    writer.file(found)?;
                }
            }
            Source::Url { url, name } => add::download(&mut writer, url, name)?,
            Source::Inline { name, content } => writer.inline(name, content)?,
        }
    }
    let mut report = writer.finish();
    report.skipped = plan.finder.skipped();
    Ok(report)
}

/// A digest of everything [`copy`] would read and decide by, times left
/// out: the same sources, destination and options give the same digest,
/// and any change to a name, type, mode, owner kept, size, content or link
/// target gives another. URLs count by their text (nothing is downloaded).
pub fn checksum(req: &Request) -> Result<Digest> {
    let plan = Plan::new(req)?;
    checksum::of(req, &plan.finder, &plan.dest, &plan.sources)
}

/// The destination, read.
#[derive(Debug)]
pub(crate) struct Dest {
    /// Its elements below the root, cleaned (`..` stops at the root).
    parts: Vec<String>,
    /// Whether it must be a directory: it ends with `/` or is `.`.
    is_dir: bool,
}

impl Dest {
    fn new(req: &Request) -> Result<Dest> {
        let joined = if req.dest.starts_with('/') {
            req.dest.to_string()
        } else {
            format!("{}/{}", req.workdir, req.dest)
        };
        Ok(Dest {
            parts: scoped::clean(&joined, false)?,
            is_dir: req.dest.is_empty() || req.dest == "." || req.dest.ends_with('/'),
        })
    }

    /// The destination as a path in the image, for messages.
    fn shown(&self) -> String {
        format!("/{}", self.parts.join("/"))
    }
}

/// Sources found and the destination read: what both a copy and a
/// checksum start from.
struct Plan<'r> {
    finder: Finder<'r>,
    sources: Vec<Source<'r>>,
    dest: Dest,
}

impl<'r> Plan<'r> {
    fn new(req: &'r Request<'r>) -> Result<Plan<'r>> {
        if req.sources.is_empty() && req.inline.is_empty() {
            return Err(Error::invalid(
                "no source files were specified (COPY and ADD need a source before the destination)",
            ));
        }
        let finder = Finder::new(req)?;
        let sources = finder.sources()?;
        let dest = Dest::new(req)?;
        Ok(Plan {
            finder,
            sources,
            dest,
        })
    }
}

#[cfg(test)]
#[path = "copy_tests.rs"]
mod tests;
