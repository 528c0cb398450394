//! The error every img crate returns. Callers match on what went wrong —
//! its [`Kind`] (a missing image is not a corrupt archive), or a
//! [`Error::DigestMismatch`] with the two digests — never on its text. The
//! kind decides the exit code a program ends with, by cause: bad input
//! (a malformed reference, record, archive or Dockerfile) is 2; any failed
//! operation is 1 — a download that does not hash to its digest too, since
//! what failed is the transfer, not what the user typed.
//!
//! What was being done is kept as a chain of [`Error::Context`] around the
//! error it explains, not flattened into one string; printed, the chain
//! reads `pulling x: layer sha256:…: digest mismatch: expected …`.

use std::fmt;

// The type `crate::digest` re-exports, named from oci-spec so that this
// module, which `digest` uses, does not use `digest` in turn.
use oci_spec::image::Digest;

/// What went wrong, in the terms a caller decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The thing asked for does not exist (image, blob, name).
    NotFound,
    /// The user's input is malformed: reference, record, archive, Dockerfile.
    InvalidInput,
    /// Bytes did not hash to the digest that names them.
    DigestMismatch,
    /// The request conflicts with the store's state (ambiguous ID, image in use).
    Conflict,
    /// The operation cannot run here (not an OCI layout, a terminal for a tar).
    FailedPrecondition,
    /// The operating system refused (I/O, permissions, disk full).
    Io,
    /// A remote peer (registry) failed.
    Remote,
}

impl Kind {
    /// The exit code a program ends with when this kind of error stops it:
    /// 2 for bad input, 1 for an operation that failed.
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::InvalidInput => 2,
            _ => 1,
        }
    }
}

/// An error from the img library.
#[derive(Debug)]
pub enum Error {
    /// A failure of `kind`, with a message that names its subject and says
    /// what to do next, and the lower-level error that caused it, if any.
    Failed {
        /// What kind of failure.
        kind: Kind,
        /// What failed, for people.
        message: String,
        /// The cause (an OS error, a parser's error).
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// Bytes did not hash to the digest that names them.
    DigestMismatch {
        /// The digest the bytes were promised to have.
        expected: Digest,
        /// The digest they have.
        actual: Digest,
    },
    /// `error`, met while doing `context`.
    Context {
        /// What was being done (`pulling docker.io/library/busybox:latest`).
        context: String,
        /// What went wrong there.
        error: Box<Error>,
    },
}

impl Error {
    /// A new error of `kind` with a message that names its subject.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error::Failed {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// Bad input from the user (exit code 2).
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(Kind::InvalidInput, message)
    }

    /// Something asked for that does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::new(Kind::NotFound, message)
    }

    /// Bytes that hashed to `actual` where `expected` was promised.
    pub fn digest_mismatch(expected: &Digest, actual: &Digest) -> Self {
        Error::DigestMismatch {
            expected: expected.clone(),
            actual: actual.clone(),
        }
    }

    /// An I/O failure, with what was being done and the OS error.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        // Errors that arrive wrapped in io::Error (a digest mismatch found
        // while a tar stream is read) keep their own kind.
        let kind = source
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<Error>())
            .map_or(Kind::Io, Error::kind);
        Error::Failed {
            kind,
            message: context.into(),
            source: Some(Box::new(source)),
        }
    }

    /// Attach the cause of this error.
    pub fn with_source(self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        match self {
            Error::Failed { kind, message, .. } => Error::Failed {
                kind,
                message,
                source: Some(Box::new(cause)),
            },
            Error::Context { context, error } => Error::Context {
                context,
                error: Box::new(error.with_source(cause)),
            },
            mismatch @ Error::DigestMismatch { .. } => mismatch,
        }
    }

    /// A digest mismatch found in what the user handed in (an archive's
    /// blob that does not hash to its name) is bad input, not a failed
    /// operation: such an error becomes [`Kind::InvalidInput`] saying that
    /// `what` is damaged, with the mismatch kept as its cause. Any other
    /// error (a full disk while loading) is returned unchanged.
    pub fn mismatch_as_input(self, what: impl fmt::Display) -> Self {
        if self.kind() != Kind::DigestMismatch {
            return self;
        }
        Error::Failed {
            kind: Kind::InvalidInput,
            message: format!("{what} is damaged"),
            source: Some(Box::new(self)),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> Kind {
        match self {
            Error::Failed { kind, .. } => *kind,
            Error::DigestMismatch { .. } => Kind::DigestMismatch,
            Error::Context { error, .. } => error.kind(),
        }
    }

    /// The two digests, when this is (or explains, through contexts and
    /// I/O errors) a digest mismatch.
    pub fn digest_mismatch_of(&self) -> Option<(&Digest, &Digest)> {
        match self {
            Error::DigestMismatch { expected, actual } => Some((expected, actual)),
            Error::Context { error, .. } => error.digest_mismatch_of(),
            Error::Failed { source, .. } => {
                let source = source.as_deref()?;
                if let Some(inner) = source.downcast_ref::<Error>() {
                    return inner.digest_mismatch_of();
                }
                let io = source.downcast_ref::<std::io::Error>()?;
                io.get_ref()?.downcast_ref::<Error>()?.digest_mismatch_of()
            }
        }
    }

    /// This error, explained by what was being done; the kind is kept.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error::Context {
            context: context.to_string(),
            error: Box::new(self),
        }
    }

    /// Wrap this error as an `io::Error`, for `Read`/`Write` implementations.
    pub fn into_io(self) -> std::io::Error {
        let kind = match self.kind() {
            Kind::NotFound => std::io::ErrorKind::NotFound,
            Kind::InvalidInput | Kind::DigestMismatch => std::io::ErrorKind::InvalidData,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, self)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Failed { message, .. } => f.write_str(message),
            Error::DigestMismatch { expected, actual } => write!(
                f,
                "digest mismatch: expected {expected}, content hashes to {actual}"
            ),
            Error::Context { context, error } => write!(f, "{context}: {error}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Failed { source, .. } => source
                .as_deref()
                .map(|s| s as &(dyn std::error::Error + 'static)),
            Error::DigestMismatch { .. } => None,
            // The context's text already holds the inner error's: its
            // cause is what comes next.
            Error::Context { error, .. } => error.source(),
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds `.io_context(…)` to I/O results: the OS error becomes an [`Error`]
/// that names what was being done.
pub trait IoContext<T> {
    /// Turn an I/O error into an [`Error`] naming what was being done.
    fn io_context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn io_context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(context(), e))
    }
}

/// Adds `.context(…)` to library results.
pub trait ResultExt<T> {
    /// Explain the error with what was being done.
    fn context(self, context: impl fmt::Display) -> Result<T>;
    /// Like `context`, computed only on error.
    fn with_context<D: fmt::Display>(self, context: impl FnOnce() -> D) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.context(context))
    }
    fn with_context<D: fmt::Display>(self, context: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| e.context(context()))
    }
}

/// The kind of the first img [`Error`] in a chain of errors, if any.
pub fn kind_of(error: &(dyn std::error::Error + 'static)) -> Option<Kind> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(img) = e.downcast_ref::<Error>() {
            return Some(img.kind());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
                return Some(inner.kind());
            }
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest;

    #[test]
    fn a_mismatch_stays_structured_through_contexts_and_io() {
        let expected = digest::of_bytes(b"promised");
        let actual = digest::of_bytes(b"received");
        let error = Error::digest_mismatch(&expected, &actual)
            .context("layer 2")
            .context("pulling x:1");
        assert_eq!(error.kind(), Kind::DigestMismatch);
        assert_eq!(error.digest_mismatch_of(), Some((&expected, &actual)));
        assert_eq!(
            error.to_string(),
            format!("pulling x:1: layer 2: digest mismatch: expected {expected}, content hashes to {actual}")
        );
        // Read through a tar reader, it arrives inside an io::Error.
        let read = Error::io(
            "reading the layer",
            Error::digest_mismatch(&expected, &actual).into_io(),
        );
        assert_eq!(read.kind(), Kind::DigestMismatch);
        assert_eq!(read.digest_mismatch_of(), Some((&expected, &actual)));
    }

    #[test]
    fn exit_codes_follow_the_cause() {
        assert_eq!(Kind::InvalidInput.exit_code(), 2);
        // A corrupt download is a failed operation, not bad input.
        assert_eq!(Kind::DigestMismatch.exit_code(), 1);
        assert_eq!(Kind::NotFound.exit_code(), 1);
        let wrapped = Error::invalid("bad reference").context("tagging");
        assert_eq!(wrapped.kind().exit_code(), 2);
    }

    #[test]
    fn a_mismatch_in_the_users_archive_is_bad_input() {
        let expected = digest::of_bytes(b"promised");
        let actual = digest::of_bytes(b"received");
        let error = Error::digest_mismatch(&expected, &actual)
            .context("blobs/sha256/x")
            .mismatch_as_input("the archive");
        assert_eq!(error.kind(), Kind::InvalidInput);
        assert_eq!(error.kind().exit_code(), 2);
        assert_eq!(error.digest_mismatch_of(), Some((&expected, &actual)));
        assert_eq!(error.to_string(), "the archive is damaged");
        // Anything else is not input's fault, and stays as it was.
        let full = Error::new(Kind::Io, "no space left").mismatch_as_input("the archive");
        assert_eq!(full.kind(), Kind::Io);
        assert_eq!(full.to_string(), "no space left");
    }
}
