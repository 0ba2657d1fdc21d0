//! The compute service's internal errors and how they reach clients.

use nimbus_common::ApiError;
use nimbus_common::error::error_chain as chain;

/// What kind of internal failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ComputeErrorKind {
    /// The database failed.
    Db,
    /// A stored value is not one we write.
    Corrupt,
    /// Local file work failed.
    Io,
    /// The image service failed us.
    Image,
    /// Preparing an instance's disks failed.
    Build,
    /// The hypervisor driver failed.
    Driver,
    /// The network service refused or failed (ports of a server).
    Network,
}

/// An internal failure with context; client-facing errors are [`ApiError`]s.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct ComputeError {
    kind: ComputeErrorKind,
    context: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ComputeError {
    /// An error of `kind` while doing `context`.
    pub fn new(kind: ComputeErrorKind, context: impl Into<String>) -> ComputeError {
        ComputeError {
            kind,
            context: context.into(),
            source: None,
        }
    }

    /// A row holds a value we never write.
    pub fn corrupt(what: impl Into<String>) -> ComputeError {
        ComputeError::new(
            ComputeErrorKind::Corrupt,
            format!("unexpected stored value: {}", what.into()),
        )
    }

    /// Attaches the cause.
    pub fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> ComputeError {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ComputeErrorKind {
        self.kind
    }

    /// The message with every cause, for logs and instance faults.
    pub fn chain(&self) -> String {
        chain(self)
    }
}

impl From<sqlx::Error> for ComputeError {
    fn from(err: sqlx::Error) -> ComputeError {
        ComputeError::new(ComputeErrorKind::Db, "database query failed").with_source(err)
    }
}

impl From<ComputeError> for ApiError {
    fn from(err: ComputeError) -> ApiError {
        ApiError::internal(chain(&err))
    }
}
