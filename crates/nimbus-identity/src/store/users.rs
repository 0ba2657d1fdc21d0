//! `identity_users`.

use nimbus_db::{Pool, now_micros};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::IdentityError;
use crate::model::{ListFilter, User};

fn from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: row.try_get("id")?,
        domain_id: row.try_get("domain_id")?,
        name: row.try_get("name")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
        password_hash: row.try_get("password_hash")?,
        default_project_id: row.try_get("default_project_id")?,
        description: row.try_get("description")?,
        email: row.try_get("email")?,
    })
}

/// Inserts a user; `false` if the name is taken in its domain.
pub async fn user_create(pool: &Pool, u: &User) -> Result<bool, IdentityError> {
    super::inserted(
        sqlx::query(
            "INSERT INTO identity_users
               (id, domain_id, name, enabled, password_hash, default_project_id, description, email, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&u.id)
        .bind(&u.domain_id)
        .bind(&u.name)
        .bind(i64::from(u.enabled))
        .bind(u.password_hash.as_deref())
        .bind(u.default_project_id.as_deref())
        .bind(&u.description)
        .bind(u.email.as_deref())
        .bind(now_micros())
        .execute(pool)
        .await,
    )
}

/// A user by id.
pub async fn user_get(pool: &Pool, id: &str) -> Result<Option<User>, IdentityError> {
    let row = sqlx::query("SELECT id, domain_id, name, enabled, password_hash, default_project_id, description, email FROM identity_users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// A user by name in a domain.
pub async fn user_get_by_name(
    pool: &Pool,
    domain_id: &str,
    name: &str,
) -> Result<Option<User>, IdentityError> {
    let row = sqlx::query("SELECT id, domain_id, name, enabled, password_hash, default_project_id, description, email FROM identity_users WHERE domain_id = $1 AND name = $2")
    .bind(domain_id)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Users matching `filter`, by name.
pub async fn user_list(pool: &Pool, filter: &ListFilter) -> Result<Vec<User>, IdentityError> {
    let rows = sqlx::query("SELECT id, domain_id, name, enabled, password_hash, default_project_id, description, email FROM identity_users
         WHERE ($1 IS NULL OR name = $1) AND ($2 IS NULL OR domain_id = $2)
           AND ($3 IS NULL OR enabled = $3)
         ORDER BY name, id")
    .bind(filter.name.as_deref())
    .bind(filter.domain_id.as_deref())
    .bind(filter.enabled.map(i64::from))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Saves every mutable field; `Ok(false)` if the name is taken.
pub async fn user_update(pool: &Pool, u: &User) -> Result<bool, IdentityError> {
    super::inserted(
        sqlx::query(
            "UPDATE identity_users SET name = $2, enabled = $3, password_hash = $4,
               default_project_id = $5, description = $6, email = $7 WHERE id = $1",
        )
        .bind(&u.id)
        .bind(&u.name)
        .bind(i64::from(u.enabled))
        .bind(u.password_hash.as_deref())
        .bind(u.default_project_id.as_deref())
        .bind(&u.description)
        .bind(u.email.as_deref())
        .execute(pool)
        .await,
    )
}

/// Deletes a user (assignments go with it, by foreign key).
pub async fn user_delete(pool: &Pool, id: &str) -> Result<(), IdentityError> {
    sqlx::query("DELETE FROM identity_users WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}
