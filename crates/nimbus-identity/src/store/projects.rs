//! `identity_projects`.

use nimbus_db::{Pool, now_micros};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::IdentityError;
use crate::model::{ListFilter, Project};

fn from_row(row: &AnyRow) -> Result<Project, sqlx::Error> {
    Ok(Project {
        id: row.try_get("id")?,
        domain_id: row.try_get("domain_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
    })
}

/// Inserts a project; `false` if the name is taken in its domain.
pub async fn project_create(pool: &Pool, p: &Project) -> Result<bool, IdentityError> {
    super::inserted(
        sqlx::query(
            "INSERT INTO identity_projects (id, domain_id, name, description, enabled, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&p.id)
        .bind(&p.domain_id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(i64::from(p.enabled))
        .bind(now_micros())
        .execute(pool)
        .await,
    )
}

/// A project by id.
pub async fn project_get(pool: &Pool, id: &str) -> Result<Option<Project>, IdentityError> {
    let row = sqlx::query(
        "SELECT id, domain_id, name, description, enabled FROM identity_projects WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// A project by name in a domain.
pub async fn project_get_by_name(
    pool: &Pool,
    domain_id: &str,
    name: &str,
) -> Result<Option<Project>, IdentityError> {
    let row = sqlx::query("SELECT id, domain_id, name, description, enabled FROM identity_projects WHERE domain_id = $1 AND name = $2")
    .bind(domain_id)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// Projects matching `filter`, by name.
pub async fn project_list(pool: &Pool, filter: &ListFilter) -> Result<Vec<Project>, IdentityError> {
    let rows = sqlx::query(
        "SELECT id, domain_id, name, description, enabled FROM identity_projects
         WHERE ($1 IS NULL OR name = $1) AND ($2 IS NULL OR domain_id = $2)
           AND ($3 IS NULL OR enabled = $3)
         ORDER BY name, id",
    )
    .bind(filter.name.as_deref())
    .bind(filter.domain_id.as_deref())
    .bind(filter.enabled.map(i64::from))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Projects a user holds any role on.
pub async fn project_list_for_user(
    pool: &Pool,
    user_id: &str,
) -> Result<Vec<Project>, IdentityError> {
    let rows = sqlx::query(
        "SELECT p.id, p.domain_id, p.name, p.description, p.enabled FROM identity_projects p
         WHERE p.id IN (SELECT target_id FROM identity_role_assignments
                        WHERE user_id = $1 AND target_type = 'project')
         ORDER BY p.name, p.id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Saves name, description and enabled; `Ok(false)` if the name is taken.
pub async fn project_update(pool: &Pool, p: &Project) -> Result<bool, IdentityError> {
    super::inserted(
        sqlx::query(
            "UPDATE identity_projects SET name = $2, description = $3, enabled = $4 WHERE id = $1",
        )
        .bind(&p.id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(i64::from(p.enabled))
        .execute(pool)
        .await,
    )
}

/// Deletes a project and the role assignments on it.
pub async fn project_delete(pool: &Pool, id: &str) -> Result<(), IdentityError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "DELETE FROM identity_role_assignments WHERE target_type = 'project' AND target_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE identity_users SET default_project_id = NULL WHERE default_project_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM identity_projects WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
