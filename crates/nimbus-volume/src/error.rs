//! The volume service's internal errors and how they reach clients.

use nimbus_common::ApiError;

/// What kind of internal failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VolumeErrorKind {
    /// The database failed.
    Db,
    /// A stored value is not one we write.
    Corrupt,
    /// The backend (files, tgtd) failed.
    Backend,
    /// A request to the backend was refused as invalid.
    Invalid,
}

/// An internal failure with context; client-facing errors are [`ApiError`]s.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct VolumeError {
    kind: VolumeErrorKind,
    context: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl VolumeError {
    /// An error of `kind` while doing `context`.
    pub fn new(kind: VolumeErrorKind, context: impl Into<String>) -> VolumeError {
        VolumeError {
            kind,
            context: context.into(),
            source: None,
        }
    }

    /// A backend failure.
    pub fn backend(context: impl Into<String>) -> VolumeError {
        VolumeError::new(VolumeErrorKind::Backend, context)
    }

    /// A row holds a value we never write.
    pub fn corrupt(what: impl Into<String>) -> VolumeError {
        VolumeError::new(
            VolumeErrorKind::Corrupt,
            format!("unexpected stored value: {}", what.into()),
        )
    }

    /// Attaches the cause.
    pub fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> VolumeError {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> VolumeErrorKind {
        self.kind
    }
}

impl From<sqlx::Error> for VolumeError {
    fn from(err: sqlx::Error) -> VolumeError {
        VolumeError::new(VolumeErrorKind::Db, "database query failed").with_source(err)
    }
}

impl From<nimbus_disk::Error> for VolumeError {
    fn from(err: nimbus_disk::Error) -> VolumeError {
        VolumeError::backend("disk operation failed").with_source(err)
    }
}

/// The error and its causes on one line.
pub use nimbus_common::error::error_chain as chain;

impl From<VolumeError> for ApiError {
    fn from(err: VolumeError) -> ApiError {
        match err.kind {
            VolumeErrorKind::Invalid => ApiError::bad_request(err.context.clone()),
            _ => ApiError::internal(chain(&err)),
        }
    }
}
