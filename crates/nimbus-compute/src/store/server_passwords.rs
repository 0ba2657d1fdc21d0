//! `compute_instance_passwords`: the encrypted password a guest posted to
//! the metadata service (nova's `password_N` system metadata).

use nimbus_db::{Pool, now_micros};
use sqlx::Row;

use crate::error::ComputeError;

/// The stored password of an instance, if any.
pub async fn password_get(pool: &Pool, uuid: &str) -> Result<Option<String>, ComputeError> {
    let row =
        sqlx::query("SELECT password FROM compute_instance_passwords WHERE instance_uuid = $1")
            .bind(uuid)
            .fetch_optional(pool)
            .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("password")?),
        None => None,
    })
}

/// Stores a password unless a non-empty one is stored already (nova's
/// metadata service answers that POST 409). One statement, so of two
/// racing posts one wins. Returns whether it was stored.
pub async fn password_store_once(
    pool: &Pool,
    uuid: &str,
    password: &str,
) -> Result<bool, ComputeError> {
    let done = sqlx::query(
        "INSERT INTO compute_instance_passwords (instance_uuid, password, updated_at) \
         VALUES ($1, $2, $3) \
         ON CONFLICT (instance_uuid) DO UPDATE \
         SET password = excluded.password, updated_at = excluded.updated_at \
         WHERE compute_instance_passwords.password = ''",
    )
    .bind(uuid)
    .bind(password)
    .bind(now_micros())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets the password (nova's `convert_password(None)`: empty chunks).
pub async fn password_clear(pool: &Pool, uuid: &str) -> Result<(), ComputeError> {
    sqlx::query("DELETE FROM compute_instance_passwords WHERE instance_uuid = $1")
        .bind(uuid)
        .execute(pool)
        .await?;
    Ok(())
}
