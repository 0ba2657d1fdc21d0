//! `identity_domains`.

use nimbus_db::{Pool, now_micros};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::IdentityError;
use crate::model::{Domain, ListFilter};

fn from_row(row: &AnyRow) -> Result<Domain, sqlx::Error> {
    Ok(Domain {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
    })
}

/// Inserts a domain; `false` if the name is taken.
pub async fn domain_create(pool: &Pool, d: &Domain) -> Result<bool, IdentityError> {
    super::inserted(
        sqlx::query(
            "INSERT INTO identity_domains (id, name, description, enabled, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&d.id)
        .bind(&d.name)
        .bind(&d.description)
        .bind(i64::from(d.enabled))
        .bind(now_micros())
        .execute(pool)
        .await,
    )
}

/// A domain by id.
pub async fn domain_get(pool: &Pool, id: &str) -> Result<Option<Domain>, IdentityError> {
    let row =
        sqlx::query("SELECT id, name, description, enabled FROM identity_domains WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// A domain by name.
pub async fn domain_get_by_name(pool: &Pool, name: &str) -> Result<Option<Domain>, IdentityError> {
    let row =
        sqlx::query("SELECT id, name, description, enabled FROM identity_domains WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Domains matching `filter`, by name.
pub async fn domain_list(pool: &Pool, filter: &ListFilter) -> Result<Vec<Domain>, IdentityError> {
    let rows = sqlx::query(
        "SELECT id, name, description, enabled FROM identity_domains
         WHERE ($1 IS NULL OR name = $1) AND ($2 IS NULL OR enabled = $2)
         ORDER BY name",
    )
    .bind(filter.name.as_deref())
    .bind(filter.enabled.map(i64::from))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Saves name, description and enabled; `Ok(false)` if the name is taken.
pub async fn domain_update(pool: &Pool, d: &Domain) -> Result<bool, IdentityError> {
    super::inserted(
        sqlx::query(
            "UPDATE identity_domains SET name = $2, description = $3, enabled = $4 WHERE id = $1",
        )
        .bind(&d.id)
        .bind(&d.name)
        .bind(&d.description)
        .bind(i64::from(d.enabled))
        .execute(pool)
        .await,
    )
}

/// Deletes a domain and its role assignments (the caller checked it is empty).
pub async fn domain_delete(pool: &Pool, id: &str) -> Result<(), IdentityError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "DELETE FROM identity_role_assignments WHERE target_type = 'domain' AND target_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM identity_domains WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether a domain still owns projects or users.
pub async fn domain_has_children(pool: &Pool, id: &str) -> Result<bool, IdentityError> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM identity_projects WHERE domain_id = $1)
              + (SELECT COUNT(*) FROM identity_users WHERE domain_id = $1) AS n",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}
