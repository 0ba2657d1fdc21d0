//! `identity_application_credentials` and their roles.

use nimbus_db::{Pool, now_micros};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::IdentityError;
use crate::model::AppCredential;

fn from_row(row: &AnyRow) -> Result<AppCredential, sqlx::Error> {
    Ok(AppCredential {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        secret_hash: row.try_get("secret_hash")?,
        expires_at: row.try_get("expires_at")?,
        unrestricted: row.try_get::<i64, _>("unrestricted")? != 0,
        role_ids: Vec::new(),
    })
}

async fn with_roles(
    pool: &Pool,
    mut creds: Vec<AppCredential>,
) -> Result<Vec<AppCredential>, IdentityError> {
    for cred in &mut creds {
        let rows = sqlx::query(
            "SELECT role_id FROM identity_application_credential_roles
             WHERE application_credential_id = $1 ORDER BY role_id",
        )
        .bind(&cred.id)
        .fetch_all(pool)
        .await?;
        cred.role_ids = rows
            .iter()
            .map(|r| r.try_get("role_id"))
            .collect::<Result<_, _>>()?;
    }
    Ok(creds)
}

/// Inserts a credential and its roles; `false` if the user has one of that name.
pub async fn app_cred_create(pool: &Pool, c: &AppCredential) -> Result<bool, IdentityError> {
    let mut tx = pool.begin().await?;
    let inserted = super::inserted(
        sqlx::query(
            "INSERT INTO identity_application_credentials
               (id, user_id, project_id, name, description, secret_hash, expires_at, unrestricted, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&c.id)
        .bind(&c.user_id)
        .bind(&c.project_id)
        .bind(&c.name)
        .bind(c.description.as_deref())
        .bind(&c.secret_hash)
        .bind(c.expires_at)
        .bind(i64::from(c.unrestricted))
        .bind(now_micros())
        .execute(&mut *tx)
        .await,
    )?;
    if !inserted {
        return Ok(false);
    }
    for role in &c.role_ids {
        sqlx::query(
            "INSERT INTO identity_application_credential_roles (application_credential_id, role_id)
             VALUES ($1, $2)",
        )
        .bind(&c.id)
        .bind(role)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// A credential by id.
pub async fn app_cred_get(pool: &Pool, id: &str) -> Result<Option<AppCredential>, IdentityError> {
    let row = sqlx::query(
        "SELECT id, user_id, project_id, name, description, secret_hash, expires_at, unrestricted
         FROM identity_application_credentials WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(cred) = row.as_ref().map(from_row).transpose()? else {
        return Ok(None);
    };
    Ok(with_roles(pool, vec![cred]).await?.pop())
}

/// A user's credentials, optionally only the one named `name`, by name.
pub async fn app_cred_list(
    pool: &Pool,
    user_id: &str,
    name: Option<&str>,
) -> Result<Vec<AppCredential>, IdentityError> {
    let rows = sqlx::query(
        "SELECT id, user_id, project_id, name, description, secret_hash, expires_at, unrestricted
         FROM identity_application_credentials
         WHERE user_id = $1 AND ($2 IS NULL OR name = $2) ORDER BY name, id",
    )
    .bind(user_id)
    .bind(name)
    .fetch_all(pool)
    .await?;
    let creds = rows.iter().map(from_row).collect::<Result<_, _>>()?;
    with_roles(pool, creds).await
}

/// Deletes a credential; `false` if there was none.
pub async fn app_cred_delete(pool: &Pool, id: &str) -> Result<bool, IdentityError> {
    let done = sqlx::query("DELETE FROM identity_application_credentials WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes every credential of a user (Keystone does when it is disabled).
pub async fn app_cred_delete_for_user(pool: &Pool, user_id: &str) -> Result<(), IdentityError> {
    sqlx::query("DELETE FROM identity_application_credentials WHERE user_id = $1")
        .bind(user_id)
        .execute(pool)
        .await?;
    Ok(())
}
