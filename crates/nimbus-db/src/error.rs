//! Database errors.

/// What kind of database failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DbErrorKind {
    /// The connection setting is wrong.
    Config,
    /// The database cannot be reached or opened.
    Connect,
    /// A migration failed.
    Migrate,
    /// A query failed.
    Query,
}

/// A database failure with what we were doing and the driver's cause.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct DbError {
    kind: DbErrorKind,
    context: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl DbError {
    /// An error of `kind` while doing `context`.
    pub fn new(kind: DbErrorKind, context: impl Into<String>) -> DbError {
        DbError {
            kind,
            context: context.into(),
            source: None,
        }
    }

    /// Attaches the underlying cause.
    pub fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> DbError {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> DbErrorKind {
        self.kind
    }
}

/// Whether `err` is a unique-constraint violation (a duplicate name), which
/// services turn into 409.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}
