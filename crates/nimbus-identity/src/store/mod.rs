//! SQL, and only SQL: one file per resource. Statements use `$n`
//! placeholders and the types that mean the same on SQLite and PostgreSQL
//! (see `nimbus-db`).

pub mod app_creds;
pub mod assignments;
pub mod credentials;
pub mod domains;
pub mod projects;
pub mod revocations;
pub mod roles;
pub mod users;

use crate::error::IdentityError;

/// Turns an insert result into `Ok(false)` for a duplicate name.
fn inserted(result: Result<sqlx::any::AnyQueryResult, sqlx::Error>) -> Result<bool, IdentityError> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if nimbus_db::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
