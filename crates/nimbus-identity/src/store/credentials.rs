//! `identity_credentials`.

use nimbus_db::{Pool, now_micros};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::IdentityError;
use crate::model::Credential;

fn from_row(row: &AnyRow) -> Result<Credential, sqlx::Error> {
    Ok(Credential {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        project_id: row.try_get("project_id")?,
        kind: row.try_get("type")?,
        blob: row.try_get("blob")?,
    })
}

/// Inserts a credential; `false` if the id is taken.
pub async fn credential_create(pool: &Pool, c: &Credential) -> Result<bool, IdentityError> {
    super::inserted(
        sqlx::query(
            "INSERT INTO identity_credentials (id, user_id, project_id, type, blob, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&c.id)
        .bind(&c.user_id)
        .bind(c.project_id.as_deref())
        .bind(&c.kind)
        .bind(&c.blob)
        .bind(now_micros())
        .execute(pool)
        .await,
    )
}

/// A credential by id.
pub async fn credential_get(pool: &Pool, id: &str) -> Result<Option<Credential>, IdentityError> {
    let row = sqlx::query(
        "SELECT id, user_id, project_id, type, blob FROM identity_credentials WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// A user's credentials of one type, oldest first.
pub async fn credential_list(
    pool: &Pool,
    user_id: &str,
    kind: &str,
) -> Result<Vec<Credential>, IdentityError> {
    let rows = sqlx::query(
        "SELECT id, user_id, project_id, type, blob FROM identity_credentials
         WHERE user_id = $1 AND type = $2 ORDER BY created_at, id",
    )
    .bind(user_id)
    .bind(kind)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Deletes a credential; `false` if there was none.
pub async fn credential_delete(pool: &Pool, id: &str) -> Result<bool, IdentityError> {
    let done = sqlx::query("DELETE FROM identity_credentials WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}
