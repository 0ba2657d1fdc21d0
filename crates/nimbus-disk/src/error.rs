//! The crate's error: a small kind plus the context it happened in.

use std::path::PathBuf;

/// What went wrong, coarsely, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The bytes are not the format they were opened as.
    InvalidFormat,
    /// A valid image uses a feature we do not implement.
    Unsupported,
    /// The image's metadata is inconsistent.
    Corrupt,
    /// A request falls outside the disk.
    OutOfBounds,
    /// Opening a file the backing-file policy does not allow.
    NotAllowed,
    /// The operating system failed a read or write.
    Io,
}

/// An error with the operation and the file it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{operation}{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
pub struct Error {
    /// The coarse kind.
    pub kind: ErrorKind,
    /// What was being done, e.g. "read", "open".
    pub operation: &'static str,
    /// The file involved, if any.
    pub path: Option<PathBuf>,
    /// Human-readable detail.
    pub message: String,
    /// The underlying I/O error, if any.
    #[source]
    pub source: Option<std::io::Error>,
}

impl Error {
    /// A new error of `kind` during `operation`.
    pub fn new(kind: ErrorKind, operation: &'static str, message: impl Into<String>) -> Self {
        Error {
            kind,
            operation,
            path: None,
            message: message.into(),
            source: None,
        }
    }

    /// An I/O error during `operation`.
    pub fn io(operation: &'static str, source: std::io::Error) -> Self {
        Error {
            kind: ErrorKind::Io,
            operation,
            path: None,
            message: source.to_string(),
            source: Some(source),
        }
    }

    /// The same error, naming the file it concerns.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
