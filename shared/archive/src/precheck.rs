//! Layers checked while an archive is staged: a file whose first bytes say
//! it may be a layer (gzip or zstd, or a tar header) is fed to a layer
//! check ([`Background`]) on a thread of its own as its bytes stream into
//! the ingest area, so that img-load need not read its layers a second time
//! once it knows which files are layers. The outcome is kept with the
//! staged file and used only if the file turns out to be a layer; any layer
//! not checked this way is checked after staging, as before.

use std::io::{self, Read};

use img_core::error::{Error, Result};
use img_layers::check::Background;
use img_layers::compression::Compression;

/// Where a tar header says `ustar`, and the bytes that takes.
const USTAR_AT: usize = 257;
const USTAR: &[u8] = b"ustar";

/// A reader that passes its bytes on to a layer check as they are read.
pub struct Teed<R> {
    inner: R,
    check: Option<Background>,
    looked: bool,
    what: String,
}

impl<R: Read> Teed<R> {
    /// Read `inner`, the archive file `what` (for errors).
    pub fn new(inner: R, what: &str) -> Teed<R> {
        Teed {
            inner,
            check: None,
            looked: false,
            what: what.to_string(),
        }
    }

    /// The check's outcome (the number of entries), when the bytes looked
    /// like a layer's; call it once every byte was read.
    pub fn finish(self) -> Option<Result<u64>> {
        self.check.map(Background::finish)
    }
}

/// Whether bytes that start a file may start a layer.
fn may_be_layer(head: &[u8]) -> bool {
    Compression::detect(head) != Compression::None
        || head.get(USTAR_AT..USTAR_AT + USTAR.len()) == Some(USTAR)
}

impl<R: Read> Read for Teed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if !self.looked && n > 0 {
            self.looked = true;
            if may_be_layer(&buf[..n]) {
                self.check = Some(Background::start(self.what.clone()));
            }
        }
        if let Some(check) = &self.check {
            check.feed_copy(&buf[..n]);
        }
        Ok(n)
    }
}

/// An outcome kept for later, as it would have been first reported.
pub fn again(outcome: &Result<u64>) -> Result<u64> {
    match outcome {
        Ok(entries) => Ok(*entries),
        Err(e) => Err(Error::new(e.kind(), e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: &str) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        h.set_mode(0o644);
        b.append_data(&mut h, name, &b"hi"[..]).unwrap();
        b.into_inner().unwrap()
    }

    fn teed(bytes: &[u8]) -> Option<Result<u64>> {
        let mut teed = Teed::new(bytes, "f");
        let mut small = [0u8; 700];
        while teed.read(&mut small).unwrap() > 0 {}
        teed.finish()
    }

    #[test]
    fn layers_are_checked_as_they_stream_and_others_are_not() {
        assert_eq!(teed(&layer("etc/passwd")).unwrap().unwrap(), 1);
        let err = teed(&layer("a/.wh..")).unwrap().unwrap_err();
        assert!(err.to_string().contains(".wh."), "{err}");
        assert!(teed(br#"{"schemaVersion":2}"#).is_none());
    }
}
