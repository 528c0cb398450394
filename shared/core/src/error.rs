//! The library's error type. Every failure carries a [`Kind`] that callers
//! match on (a missing image is not a corrupt archive), and the kind decides the
//! exit code a program ends with: bad input is 2, any other failure 1.

use std::fmt;

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
    /// The exit code a program ends with when this kind of error stops it.
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::InvalidInput | Kind::DigestMismatch => 2,
            _ => 1,
        }
    }
}

/// An error from the img library: a kind and a message naming its subject.
#[derive(Debug)]
pub struct Error {
    kind: Kind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind` with a message that names its subject.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
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

    /// An I/O failure, with what was being done and the OS error.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        // Errors that arrive wrapped in io::Error (a digest mismatch found
        // while a tar stream is read) keep their own kind.
        if source.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            let kind = source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<Error>())
                .map_or(Kind::Io, Error::kind);
            return Error {
                kind,
                message: context.into(),
                source: Some(Box::new(source)),
            };
        }
        Error {
            kind: Kind::Io,
            message: context.into(),
            source: Some(Box::new(source)),
        }
    }

    /// Attach the cause of this error.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Prefix the message with what was being done, keeping the kind.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
            source: self.source,
        }
    }

    /// Wrap this error as an `io::Error`, for `Read`/`Write` implementations.
    pub fn into_io(self) -> std::io::Error {
        let kind = match self.kind {
            Kind::NotFound => std::io::ErrorKind::NotFound,
            Kind::InvalidInput | Kind::DigestMismatch => std::io::ErrorKind::InvalidData,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, self)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
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
    /// Prefix the error's message with what was being done.
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
