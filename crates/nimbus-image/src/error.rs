//! The image service's internal errors and how they reach clients.

use nimbus_common::ApiError;
use nimbus_common::error::error_chain as chain;

use crate::backend::{StoreError, StoreErrorKind};

/// What kind of internal failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageErrorKind {
    /// The database failed.
    Db,
    /// A stored value is not one we write.
    Corrupt,
    /// A data store failed.
    Store,
    /// Local file work failed.
    Io,
}

/// An internal failure with context; client-facing errors are [`ApiError`]s.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct ImageError {
    kind: ImageErrorKind,
    context: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ImageError {
    /// An error of `kind` while doing `context`.
    pub fn new(kind: ImageErrorKind, context: impl Into<String>) -> ImageError {
        ImageError {
            kind,
            context: context.into(),
            source: None,
        }
    }

    /// A row holds a value we never write.
    pub fn corrupt(what: impl Into<String>) -> ImageError {
        ImageError::new(
            ImageErrorKind::Corrupt,
            format!("unexpected stored value: {}", what.into()),
        )
    }

    /// Attaches the cause.
    pub fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> ImageError {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ImageErrorKind {
        self.kind
    }
}

impl From<sqlx::Error> for ImageError {
    fn from(err: sqlx::Error) -> ImageError {
        ImageError::new(ImageErrorKind::Db, "database query failed").with_source(err)
    }
}

impl From<StoreError> for ImageError {
    fn from(err: StoreError) -> ImageError {
        ImageError::new(ImageErrorKind::Store, "image store failed").with_source(err)
    }
}

impl From<ImageError> for ApiError {
    fn from(err: ImageError) -> ApiError {
        ApiError::internal(chain(&err))
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        // As Glance: missing data is 404, an unreachable store 503.
        match err.kind {
            StoreErrorKind::NotFound => {
                ApiError::not_found("Image data could not be found in its store.")
                    .with_detail(chain(&err))
            }
            StoreErrorKind::Unavailable => {
                ApiError::unavailable("The image store is not available.").with_detail(chain(&err))
            }
            _ => ApiError::internal(chain(&err)),
        }
    }
}
