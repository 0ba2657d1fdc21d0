//! `compute_keypairs`: a user's key pairs.

use nimbus_db::{Db, is_unique_violation};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::app::keypairs::Keypair;
use crate::error::{ComputeError, ComputeErrorKind};

const COLUMNS: &str = "user_id, name, id, key_type, public_key, fingerprint, created_at";

fn keypair_from(row: &AnyRow) -> Result<Keypair, ComputeError> {
    Ok(Keypair {
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        id: row.try_get("id")?,
        key_type: row.try_get("key_type")?,
        public_key: row.try_get("public_key")?,
        fingerprint: row.try_get("fingerprint")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Stores a key pair (its `id` is assigned here); false when the user
/// already has one of this name.
pub async fn keypair_insert(db: &Db, keypair: &Keypair) -> Result<bool, ComputeError> {
    for _ in 0..5 {
        let result = sqlx::query(
            "INSERT INTO compute_keypairs (user_id, name, id, key_type, public_key, fingerprint, \
             created_at) VALUES ($1, $2, (SELECT COALESCE(MAX(id), 0) + 1 FROM compute_keypairs), \
             $3, $4, $5, $6)",
        )
        .bind(&keypair.user_id)
        .bind(&keypair.name)
        .bind(&keypair.key_type)
        .bind(&keypair.public_key)
        .bind(&keypair.fingerprint)
        .bind(keypair.created_at)
        .execute(db.pool())
        .await;
        match result {
            Ok(_) => return Ok(true),
            // Either the name is taken or a concurrent insert took the id.
            Err(err) if is_unique_violation(&err) => {
                if keypair_get(db, &keypair.user_id, &keypair.name)
                    .await?
                    .is_some()
                {
                    return Ok(false);
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ComputeError::new(
        ComputeErrorKind::Db,
        "could not allocate a key pair id",
    ))
}

/// The key pair `name` of `user_id`.
pub async fn keypair_get(
    db: &Db,
    user_id: &str,
    name: &str,
) -> Result<Option<Keypair>, ComputeError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM compute_keypairs WHERE user_id = $1 AND name = $2"
    )))
    .bind(user_id)
    .bind(name)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(keypair_from).transpose()
}

/// A user's key pairs by name, after `marker` (a name), at most `limit`.
pub async fn keypair_list(
    db: &Db,
    user_id: &str,
    marker: Option<&str>,
    limit: i64,
) -> Result<Vec<Keypair>, ComputeError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM compute_keypairs WHERE user_id = $1 AND name > $2 \
         ORDER BY name LIMIT $3"
    )))
    .bind(user_id)
    .bind(marker.unwrap_or(""))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(keypair_from).collect()
}

/// How many key pairs a user has.
pub async fn keypair_count(db: &Db, user_id: &str) -> Result<i64, ComputeError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM compute_keypairs WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(db.pool())
        .await?;
    Ok(row.try_get("n")?)
}

/// Deletes a key pair; false if missing.
pub async fn keypair_delete(db: &Db, user_id: &str, name: &str) -> Result<bool, ComputeError> {
    let done = sqlx::query("DELETE FROM compute_keypairs WHERE user_id = $1 AND name = $2")
        .bind(user_id)
        .bind(name)
        .execute(db.pool())
        .await?;
    Ok(done.rows_affected() > 0)
}
