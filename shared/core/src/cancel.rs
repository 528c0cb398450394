//! The flag that stops a program's long copies early: once it is raised,
//! the loops that move an image's bytes — a pull's download, a blob
//! written into the store, a COPY's files, a cache's import and export —
//! fail at their next buffer with [`CANCELED`], and the operation unwinds
//! as on any error (its temporary files dropped or left where the store's
//! sweep finds them, nothing named).
//!
//! It is one process-wide flag because a process runs one such operation
//! and the loops sit in crates far below the one that decides to stop
//! (img-build's `Cancel`, which raises it on SIGINT or SIGTERM): threading
//! a token through every reader would touch every signature for one bit.
//! A check is a relaxed atomic load, cheap beside the buffer it guards.
//! It is never lowered: a program stopped stays stopped.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Kind, Result};

/// What a loop the flag stopped fails with (the operation that raised the
/// flag says why, in its own words, instead).
pub const CANCELED: &str = "context canceled";

static RAISED: AtomicBool = AtomicBool::new(false);

/// Stop every long copy of this process at its next buffer.
pub fn raise() {
    RAISED.store(true, Ordering::Relaxed);
}

/// Whether the flag is raised.
pub fn raised() -> bool {
    RAISED.load(Ordering::Relaxed)
}

/// Fails once the flag is raised: called between buffers.
pub fn check() -> Result<()> {
    match raised() {
        false => Ok(()),
        true => Err(Error::new(Kind::FailedPrecondition, CANCELED)),
    }
}

/// [`check`] for a loop inside an [`io::Read`] or [`io::Write`]: not
/// `Interrupted`, which `io::copy` retries.
pub fn check_io() -> io::Result<()> {
    match raised() {
        false => Ok(()),
        true => Err(io::Error::other(Error::new(
            Kind::FailedPrecondition,
            CANCELED,
        ))),
    }
}

/// A reader that fails once the flag is raised: for a copy whose loop is
/// not img's own (`io::copy`).
pub struct Checked<R>(pub R);

impl<R: io::Read> io::Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        check_io()?;
        self.0.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    // The flag is never lowered: this is the only test of this crate that
    // raises it, and nothing else here checks it.
    #[test]
    fn a_raised_flag_fails_checks_and_reads() {
        let mut reader = Checked(&b"bytes"[..]);
        let mut buf = [0u8; 2];
        assert_eq!(reader.read(&mut buf).unwrap(), 2);
        assert!(check().is_ok());
        raise();
        assert!(raised());
        assert_eq!(check().unwrap_err().to_string(), CANCELED);
        let error = reader.read(&mut buf).unwrap_err();
        assert_ne!(
            error.kind(),
            io::ErrorKind::Interrupted,
            "io::copy retries it"
        );
        assert!(std::io::copy(&mut reader, &mut io::sink()).is_err());
    }
}
