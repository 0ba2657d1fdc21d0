//! `network_quotas`: per-project overrides of the default limits.

use nimbus_db::Pool;
use sqlx::Row;

use crate::error::NetError;

/// A project's overrides as (resource, limit).
pub async fn quota_get(pool: &Pool, project: &str) -> Result<Vec<(String, i64)>, NetError> {
    let rows = sqlx::query("SELECT resource, hard_limit FROM network_quotas WHERE project_id = $1")
        .bind(project)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("resource")?, r.try_get("hard_limit")?)))
        .collect()
}

/// Projects with overrides.
pub async fn quota_projects(pool: &Pool) -> Result<Vec<String>, NetError> {
    let rows = sqlx::query("SELECT DISTINCT project_id FROM network_quotas ORDER BY project_id")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| r.try_get("project_id").map_err(Into::into))
        .collect()
}

/// Sets one override.
pub async fn quota_set(
    pool: &Pool,
    project: &str,
    resource: &str,
    limit: i64,
) -> Result<(), NetError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM network_quotas WHERE project_id = $1 AND resource = $2")
        .bind(project)
        .bind(resource)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO network_quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3)",
    )
    .bind(project)
    .bind(resource)
    .bind(limit)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Drops a project's overrides.
pub async fn quota_delete(pool: &Pool, project: &str) -> Result<(), NetError> {
    sqlx::query("DELETE FROM network_quotas WHERE project_id = $1")
        .bind(project)
        .execute(pool)
        .await?;
    Ok(())
}
