//! What a COPY or ADD reads: its sources found under the source root as
//! Docker finds them, and the directories among them walked entry by entry.
//!
//! * A source is cleaned lexically (a `..` out of the root is refused) and
//!   looked up with symbolic links followed inside the root, its own last
//!   link too: `COPY link /x` copies what `link` points to, under the name
//!   `link`.
//! * An element with `*`, `?` or `[` is matched against the names in its
//!   directory (Go's `filepath.Match`, one element at a time, in name
//!   order); the directories before it must exist, but a pattern that
//!   matches nothing adds nothing, as BuildKit does. A literal source that
//!   does not exist is an error in Docker's words.
//! * `.dockerignore`d paths do not exist: they neither match nor are
//!   walked, except an excluded directory that an exception (`!dir/keep`)
//!   reaches into, which holds just what is brought back. `--exclude`
//!   patterns leave out wildcard matches and directory entries whose path
//!   (relative to the directory the pattern or the source starts from)
//!   they match, with everything below a matched directory.
//! * Directories are walked in name order, every entry before its own
//!   contents, so that a copy and a checksum see the same sequence; a
//!   symbolic link inside is an entry of its own, never followed. Sockets
//!   are skipped; device nodes are refused.

use std::cell::Cell;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use super::scoped;
use super::Request;
use img_core::error::{Error, IoContext, Result};
use img_core::pattern::{self, Pattern};

/// One source of a COPY or ADD.
#[derive(Debug)]
pub enum Source<'a> {
    /// A file or directory under the source root.
    Path(Found),
    /// An ADD of an `http://` or `https://` URL, saved as `name`.
    Url {
        /// The URL as written.
        url: &'a str,
        /// The file name the URL's path ends with.
        name: String,
    },
    /// A heredoc, written as a file named `name`.
    Inline {
        /// The file name.
        name: String,
        /// Its content.
        content: &'a [u8],
    },
}

/// A source found under the source root.
#[derive(Debug)]
pub struct Found {
    /// The name it takes in a destination directory: the last element as
    /// written or matched (a symbolic link's own name).
    pub name: OsString,
    /// Its real path (links followed).
    pub path: PathBuf,
    /// Its metadata (links followed).
    pub meta: fs::Metadata,
    /// Which source as written it came from (wildcard matches share one).
    pub origin: usize,
}

/// An entry met while walking a source directory.
#[derive(Debug)]
pub struct Entry<'e> {
    /// Its path relative to the source directory.
    pub rel: &'e Path,
    /// Its name.
    pub name: &'e OsStr,
    /// Its real path.
    pub path: &'e Path,
    /// Its metadata (not followed).
    pub meta: &'e fs::Metadata,
}

/// What is done with the entries of a source directory, in walk order.
pub trait Visit {
    /// A directory, before its contents.
    fn enter(&mut self, entry: &Entry) -> Result<()>;
    /// The same directory, after its contents.
    fn leave(&mut self, entry: &Entry) -> Result<()>;
    /// Anything that is not a directory: file, symbolic link, FIFO.
    fn leaf(&mut self, entry: &Entry) -> Result<()>;
}

/// Finds and walks the sources of one request.
pub struct Finder<'r> {
    req: &'r Request<'r>,
    exclude: Vec<Vec<Pattern>>,
    skipped: Cell<u64>,
    /// The index of the source as written being found.
    origin: Cell<usize>,
}

impl<'r> Finder<'r> {
    /// A finder for `req`; malformed `--exclude` patterns are bad input.
    pub fn new(req: &'r Request<'r>) -> Result<Finder<'r>> {
        let exclude = req
            .exclude
            .iter()
            .map(|p| pattern::compile_path(p))
            .collect::<Result<_>>()?;
        Ok(Finder {
            req,
            exclude,
            skipped: Cell::new(0),
            origin: Cell::new(0),
        })
    }

    /// Sockets left out so far.
    pub fn skipped(&self) -> u64 {
        self.skipped.get()
    }

    /// Every source, in the order written, wildcards expanded.
    pub fn sources(&self) -> Result<Vec<Source<'r>>> {
        let mut out = Vec::new();
        for (origin, orig) in self.req.sources.iter().enumerate() {
            self.origin.set(origin);
            if orig.starts_with("http://") || orig.starts_with("https://") {
                if !self.req.add {
                    return Err(Error::invalid(format!(
                        "source can't be a URL for COPY: {orig} (use ADD, or download in a RUN step)"
                    )));
                }
                out.push(Source::Url {
                    url: orig,
                    name: url_file_name(orig),
                });
                continue;
            }
            let parts = scoped::clean(orig, true)?;
            match parts.iter().position(|p| pattern::has_wildcards(p)) {
                Some(first) => self.expand(orig, &parts, first, &mut out)?,
                None => {
                    let resolved = self.resolve(&parts)?;
                    let name = parts.last().map(OsString::from).unwrap_or_default();
                    match self.found(resolved, name, orig)? {
                        Some(found) => out.push(Source::Path(found)),
                        None => return Err(not_found(orig)),
                    }
                }
            }
        }
        for (name, content) in self.req.inline {
            let name = scoped::clean(name, false)?.pop().ok_or_else(|| {
                Error::invalid(format!("a heredoc needs a file name, not {name:?}"))
            })?;
            out.push(Source::Inline { name, content });
        }
        Ok(out)
    }

    /// Walk the directory `found`, telling `visit` of each entry.
    pub fn walk(&self, found: &Found, visit: &mut dyn Visit) -> Result<()> {
        let rel = self.relative(&found.path);
        self.walk_dir(&found.path, &rel, Path::new(""), visit)
    }

    fn walk_dir(&self, dir: &Path, ctx: &str, rel: &Path, visit: &mut dyn Visit) -> Result<()> {
        for name in sorted_names(dir)? {
            let path = dir.join(&name);
            let meta =
                fs::symlink_metadata(&path).io_context(|| format!("reading {}", path.display()))?;
            let ctx = join(ctx, &name);
            let rel = rel.join(&name);
            if self.flag_excludes(&rel.to_string_lossy()) {
                continue;
            }
            if (self.req.excluded)(&ctx)
                && !(meta.is_dir()
                    && (self.req.may_include_below)(&ctx)
                    && self.holds_included(&path, &ctx, &rel)?)
            {
                continue;
            }
            if !self.copyable(&meta, &ctx)? {
                continue;
            }
            let entry = Entry {
                rel: &rel,
                name: &name,
                path: &path,
                meta: &meta,
            };
            if meta.is_dir() {
                visit.enter(&entry)?;
                self.walk_dir(&path, &ctx, &rel, visit)?;
                visit.leave(&entry)?;
            } else {
                visit.leaf(&entry)?;
            }
        }
        Ok(())
    }

    /// Whether an excluded directory holds anything brought back.
    fn holds_included(&self, dir: &Path, ctx: &str, rel: &Path) -> Result<bool> {
        for name in sorted_names(dir)? {
            let (ctx, rel) = (join(ctx, &name), rel.join(&name));
            if self.flag_excludes(&rel.to_string_lossy()) {
                continue;
            }
            if !(self.req.excluded)(&ctx) {
                return Ok(true);
            }
            let path = dir.join(&name);
            if path.is_dir()
                && !path.is_symlink()
                && (self.req.may_include_below)(&ctx)
                && self.holds_included(&path, &ctx, &rel)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Expand a source whose element `first` is the first with wildcards.
    fn expand(
        &self,
        orig: &str,
        parts: &[String],
        first: usize,
        out: &mut Vec<Source<'r>>,
    ) -> Result<()> {
        let base = self.resolve(&parts[..first])?;
        if !base.exists() || !base.meta.as_ref().is_some_and(fs::Metadata::is_dir) {
            return Err(not_found(&parts[..first].join("/")));
        }
        let patterns = parts[first..]
            .iter()
            .map(|p| Pattern::new(p))
            .collect::<Result<Vec<_>>>()?;
        let mut matches = Vec::new();
        self.match_in(&base.found, &patterns, String::new(), &mut matches)?;
        for (parts, name) in matches {
            let resolved = self.resolve(&parts)?;
            // A match that is a dangling link names nothing to copy.
            let found = self.found(resolved, name, orig)?;
            out.extend(found.map(Source::Path));
        }
        Ok(())
    }

    /// Names under the directory `dir` (root-relative elements) matching
    /// `patterns`, as (elements, name); `matched` is what earlier patterns
    /// matched, for `--exclude`.
    fn match_in(
        &self,
        dir: &[OsString],
        patterns: &[Pattern],
        matched: String,
        out: &mut Vec<(Vec<OsString>, OsString)>,
    ) -> Result<()> {
        let Some((pattern, rest)) = patterns.split_first() else {
            return Ok(());
        };
        let real = self.req.source_root.join(scoped::relative(dir));
        for name in sorted_names(&real)? {
            let text = name.to_string_lossy();
            if !pattern.matches(&text) {
                continue;
            }
            let meta = fs::symlink_metadata(real.join(&name))
                .io_context(|| format!("reading {}", real.join(&name).display()))?;
            let mut parts = dir.to_vec();
            parts.push(name.clone());
            let matched = join(&matched, &name);
            if self.hidden(&scoped::relative(&parts), meta.is_dir()) || self.flag_excludes(&matched)
            {
                continue;
            }
            if rest.is_empty() && meta.file_type().is_socket() {
                self.skipped.set(self.skipped.get() + 1);
            } else if rest.is_empty() {
                out.push((parts, name));
            } else if meta.is_dir() {
                // Like Go's filepath.Walk, a link to a directory is not
                // walked into while matching.
                self.match_in(&parts, rest, matched, out)?;
            }
        }
        Ok(())
    }

    fn resolve(&self, parts: &[impl AsRef<OsStr>]) -> Result<scoped::Resolved> {
        scoped::resolve(self.req.source_root, parts, true, &|rel, is_dir| {
            self.hidden(rel, is_dir)
        })
    }

    /// A resolved source as found, `None` when it does not exist.
    fn found(
        &self,
        resolved: scoped::Resolved,
        name: OsString,
        orig: &str,
    ) -> Result<Option<Found>> {
        let meta = match resolved.meta.clone() {
            Some(meta) if resolved.exists() => meta,
            _ => return Ok(None),
        };
        if meta.file_type().is_socket() {
            return Err(Error::invalid(format!(
                "{orig} is a socket, which COPY and ADD cannot copy"
            )));
        }
        self.copyable(&meta, &resolved.relative())?;
        Ok(Some(Found {
            name,
            path: resolved.existing(self.req.source_root),
            meta,
            origin: self.origin.get(),
        }))
    }

    /// Whether `.dockerignore` hides the root-relative path: excluded, and
    /// not a directory an exception reaches into.
    fn hidden(&self, rel: &str, is_dir: bool) -> bool {
        (self.req.excluded)(rel) && !(is_dir && (self.req.may_include_below)(rel))
    }

    /// Whether an `--exclude` pattern matches `rel` or a parent of it.
    fn flag_excludes(&self, rel: &str) -> bool {
        if self.exclude.is_empty() {
            return false;
        }
        let mut prefix = String::new();
        rel.split('/').filter(|e| !e.is_empty()).any(|element| {
            prefix = join(&prefix, OsStr::new(element));
            self.exclude
                .iter()
                .any(|p| pattern::matches_path(p, &prefix))
        })
    }

    /// Whether an entry is copied: sockets are skipped (counted), device
    /// nodes refused.
    fn copyable(&self, meta: &fs::Metadata, rel: &str) -> Result<bool> {
        let kind = meta.file_type();
        if kind.is_socket() {
            self.skipped.set(self.skipped.get() + 1);
            return Ok(false);
        }
        if kind.is_block_device() || kind.is_char_device() {
            return Err(Error::invalid(format!(
                "{rel} is a device node, which COPY and ADD do not copy \
                 (leave it out with .dockerignore or --exclude)"
            )));
        }
        Ok(true)
    }

    /// The root-relative path of a real path under the source root.
    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(self.req.source_root)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// BuildKit's error for a source that is not there (`"/dir": not found`).
fn not_found(orig: &str) -> Error {
    let shown = format!("/{}", orig.trim_start_matches("./").trim_start_matches('/'));
    Error::not_found(format!(
        "{shown:?}: not found (not in the build context, or excluded by .dockerignore: \
         check the path and .dockerignore)"
    ))
}

/// The names in a directory, in byte order.
fn sorted_names(dir: &Path) -> Result<Vec<OsString>> {
    let mut names = fs::read_dir(dir)
        .io_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<Vec<_>>>()
        .io_context(|| format!("listing {}", dir.display()))?;
    names.sort();
    Ok(names)
}

fn join(parent: &str, name: &OsStr) -> String {
    let name = name.to_string_lossy();
    if parent.is_empty() {
        name.into_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// The file name an ADD of `url` saves to: the last element of the URL's
/// path, percent-decoded, or `__unnamed__` when there is none (BuildKit's
/// rule; the name is known before anything is downloaded).
fn url_file_name(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .split_once('/')
        .map_or("", |(_, path)| path);
    let decoded = percent_decode(path);
    decoded
        .rsplit('/')
        .find(|e| !e.is_empty())
        .filter(|e| *e != "." && *e != "..")
        .unwrap_or("__unnamed__")
        .to_string()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_names() {
        assert_eq!(url_file_name("https://h/a/b.tar.gz?x=1#f"), "b.tar.gz");
        assert_eq!(url_file_name("http://h:8080/dir/"), "dir");
        assert_eq!(url_file_name("http://h"), "__unnamed__");
        assert_eq!(url_file_name("http://h/"), "__unnamed__");
        assert_eq!(url_file_name("http://h/a%20b"), "a b");
    }
}
