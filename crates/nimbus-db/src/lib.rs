//! The database every service stores its state in: SQLite in the data dir
//! (the embedded default) or PostgreSQL (`--database-url postgres://...`).
//!
//! Store code is written once for both: it runs on sqlx's `Any` driver with
//! `$1`-style placeholders (which SQLite accepts too) and only the types both
//! backends map the same way through `Any`: `TEXT` (`String`), `BIGINT`
//! (`i64`) and `NULL` (`Option`). Flags are `BIGINT` 0/1 (the `Any` driver
//! cannot decode SQLite's `BOOLEAN`); timestamps are `BIGINT` microseconds
//! since the epoch. Migrations are plain SQL, one file per
//! backend, numbered across the workspace:
//! `migrations/{sqlite,postgres}/NNNN_<service>_<what>.sql`.

#![warn(missing_docs)]

mod error;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;

pub use error::{DbError, DbErrorKind, is_unique_violation};
/// The pool type store code takes; re-exported so services name one type.
pub use sqlx::AnyPool as Pool;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (WAL mode).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A connection pool and the engine behind it.
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
    backend: Backend,
}

/// How many connections to keep at most (oslo.db's `max_pool_size`).
pub const DEFAULT_MAX_POOL_SIZE: u32 = 5;

impl Db {
    /// Opens (creating if missing) the SQLite database at `path`.
    pub async fn open_sqlite(path: &Path, max_pool_size: u32) -> Result<Db, DbError> {
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Db::connect(&url, max_pool_size).await
    }

    /// Connects to `sqlite://...` or `postgres://...`.
    pub async fn connect(url: &str, max_pool_size: u32) -> Result<Db, DbError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::new(
                DbErrorKind::Config,
                "database connection must be sqlite://... or postgres://...",
            ));
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(max_pool_size.max(1))
            .acquire_timeout(Duration::from_secs(30));
        if backend == Backend::Sqlite {
            // Readers never block the writer (WAL); a writer waits for another
            // instead of failing at once; foreign keys are enforced.
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let options_url = sqlx::any::AnyConnectOptions::from_str(url).map_err(|e| {
            DbError::new(DbErrorKind::Config, "invalid database URL").with_source(e)
        })?;
        let pool = options.connect_with(options_url).await.map_err(|e| {
            DbError::new(DbErrorKind::Connect, "cannot connect to the database").with_source(e)
        })?;
        Ok(Db { pool, backend })
    }

    /// Applies every migration not yet applied (run at startup).
    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(|e| {
            DbError::new(DbErrorKind::Migrate, "database migration failed").with_source(e)
        })
    }

    /// The pool, for store code.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The engine behind the pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers (for `/healthcheck`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// Closes every connection (at shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Microseconds since the Unix epoch, the timestamp format of every table.
pub fn now_micros() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
