//! The crate's error: a small kind plus the context it happened in.

/// What went wrong, coarsely, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's request is malformed (relative path, `..`, NUL, bad partition).
    InvalidInput,
    /// A path, user, group or partition the request names does not exist.
    NotFound,
    /// The request is refused for safety (symlink at the final component, over a size cap).
    NotAllowed,
    /// A valid filesystem or disk layout we do not handle.
    Unsupported,
    /// The disk's metadata is inconsistent or hostile.
    Corrupt,
    /// The disk could not be read or written.
    Io,
}

/// An error with the operation and the guest path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{operation}{}: {message}", path.as_ref().map(|p| format!(" {p}")).unwrap_or_default())]
pub struct Error {
    /// The coarse kind.
    pub kind: ErrorKind,
    /// What was being done, e.g. "replace_file", "partition table".
    pub operation: &'static str,
    /// The guest path involved, if any.
    pub path: Option<String>,
    /// Human-readable detail.
    pub message: String,
}

impl Error {
    /// A new error of `kind` during `operation`.
    pub fn new(kind: ErrorKind, operation: &'static str, message: impl Into<String>) -> Self {
        Error {
            kind,
            operation,
            path: None,
            message: message.into(),
        }
    }

    /// The same error, naming the guest path it concerns.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// An error from the disk layer.
    pub(crate) fn disk(operation: &'static str, err: nimbus_disk::Error) -> Self {
        let kind = match err.kind {
            nimbus_disk::ErrorKind::OutOfBounds | nimbus_disk::ErrorKind::Corrupt => {
                ErrorKind::Corrupt
            }
            nimbus_disk::ErrorKind::Unsupported | nimbus_disk::ErrorKind::InvalidFormat => {
                ErrorKind::Unsupported
            }
            nimbus_disk::ErrorKind::NotAllowed => ErrorKind::NotAllowed,
            _ => ErrorKind::Io,
        };
        Error::new(kind, operation, err.to_string())
    }

    /// An error from the ext2/3/4 library, classified.
    pub(crate) fn ext(operation: &'static str, err: fs_ext4::Error) -> Self {
        use fs_ext4::Error as E;
        let kind = match &err {
            E::NotFound => ErrorKind::NotFound,
            E::Io(_) => ErrorKind::Io,
            E::UnsupportedIncompat(_) | E::UnsupportedRoCompat(_) | E::Unsupported(_) => {
                ErrorKind::Unsupported
            }
            E::NameTooLong | E::InvalidArgument(_) | E::NotADirectory | E::IsADirectory => {
                ErrorKind::InvalidInput
            }
            E::AlreadyExists | E::ReadOnly | E::DirectoryNotEmpty => ErrorKind::NotAllowed,
            _ => ErrorKind::Corrupt,
        };
        let message = match &err {
            E::BadMagic { .. } => "not an ext2/3/4 filesystem (bad superblock magic)".to_string(),
            E::UnsupportedIncompat(bits) => {
                format!("the filesystem uses incompatible features 0x{bits:x} we cannot write")
            }
            E::UnsupportedRoCompat(bits) => {
                format!(
                    "the filesystem uses read-only-compatible features 0x{bits:x} we cannot write"
                )
            }
            other => other.to_string(),
        };
        Error::new(kind, operation, message)
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
