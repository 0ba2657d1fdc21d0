//! `identity_roles` and `identity_implied_roles`.

use nimbus_db::{Pool, now_micros};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::IdentityError;
use crate::model::Role;

fn from_row(row: &AnyRow) -> Result<Role, sqlx::Error> {
    Ok(Role {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
    })
}

/// Inserts a role; `false` if the name is taken.
pub async fn role_create(pool: &Pool, r: &Role) -> Result<bool, IdentityError> {
    super::inserted(
        sqlx::query("INSERT INTO identity_roles (id, name, description, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&r.id)
            .bind(&r.name)
            .bind(&r.description)
            .bind(now_micros())
            .execute(pool)
            .await,
    )
}

/// A role by id.
pub async fn role_get(pool: &Pool, id: &str) -> Result<Option<Role>, IdentityError> {
    let row = sqlx::query("SELECT id, name, description FROM identity_roles WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Roles, optionally with one name, by name.
pub async fn role_list(pool: &Pool, name: Option<&str>) -> Result<Vec<Role>, IdentityError> {
    let rows = sqlx::query("SELECT id, name, description FROM identity_roles WHERE ($1 IS NULL OR name = $1) ORDER BY name")
    .bind(name)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Saves name and description; `Ok(false)` if the name is taken.
pub async fn role_update(pool: &Pool, r: &Role) -> Result<bool, IdentityError> {
    super::inserted(
        sqlx::query("UPDATE identity_roles SET name = $2, description = $3 WHERE id = $1")
            .bind(&r.id)
            .bind(&r.name)
            .bind(&r.description)
            .execute(pool)
            .await,
    )
}

/// Deletes a role (assignments and implications go with it).
pub async fn role_delete(pool: &Pool, id: &str) -> Result<(), IdentityError> {
    sqlx::query("DELETE FROM identity_roles WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records that holding `prior` implies `implied`.
pub async fn implied_role_create(
    pool: &Pool,
    prior: &str,
    implied: &str,
) -> Result<bool, IdentityError> {
    super::inserted(
        sqlx::query(
            "INSERT INTO identity_implied_roles (prior_role_id, implied_role_id) VALUES ($1, $2)",
        )
        .bind(prior)
        .bind(implied)
        .execute(pool)
        .await,
    )
}

/// Every (prior, implied) pair.
pub async fn implied_role_list(pool: &Pool) -> Result<Vec<(String, String)>, IdentityError> {
    let rows = sqlx::query("SELECT prior_role_id, implied_role_id FROM identity_implied_roles")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("prior_role_id")?, r.try_get("implied_role_id")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}
