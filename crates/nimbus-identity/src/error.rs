//! The identity service's errors and how they reach clients.

use nimbus_common::ApiError;

/// What kind of failure happened inside the identity service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityErrorKind {
    /// Bad configuration (a corrupt key, a bad URL).
    Config,
    /// A file operation failed.
    Io,
    /// The database failed.
    Db,
    /// Hashing or crypto failed.
    Crypto,
}

/// An internal failure with context; client-facing errors are [`ApiError`]s.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct IdentityError {
    kind: IdentityErrorKind,
    context: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl IdentityError {
    /// An error of `kind` while doing `context`.
    pub fn new(kind: IdentityErrorKind, context: impl Into<String>) -> IdentityError {
        IdentityError {
            kind,
            context: context.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> IdentityError {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> IdentityErrorKind {
        self.kind
    }
}

impl From<sqlx::Error> for IdentityError {
    fn from(err: sqlx::Error) -> IdentityError {
        IdentityError::new(IdentityErrorKind::Db, "database query failed").with_source(err)
    }
}

impl From<IdentityError> for ApiError {
    fn from(err: IdentityError) -> ApiError {
        let mut detail = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        ApiError::internal(detail)
    }
}
