//! `volume_quotas`: per-project limits that differ from the defaults.

use std::collections::BTreeMap;

use nimbus_db::Pool;
use sqlx::Row;

use crate::error::VolumeError;

/// The project's explicit limits by resource name.
pub async fn quota_get(pool: &Pool, project: &str) -> Result<BTreeMap<String, i64>, VolumeError> {
    let rows = sqlx::query("SELECT resource, hard_limit FROM volume_quotas WHERE project_id = $1")
        .bind(project)
        .fetch_all(pool)
        .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        out.insert(row.try_get("resource")?, row.try_get("hard_limit")?);
    }
    Ok(out)
}

/// Sets one limit.
pub async fn quota_set(
    pool: &Pool,
    project: &str,
    resource: &str,
    limit: i64,
) -> Result<(), VolumeError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM volume_quotas WHERE project_id = $1 AND resource = $2")
        .bind(project)
        .bind(resource)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO volume_quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3)")
        .bind(project)
        .bind(resource)
        .bind(limit)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Drops every explicit limit of a project (back to defaults).
pub async fn quota_delete(pool: &Pool, project: &str) -> Result<(), VolumeError> {
    sqlx::query("DELETE FROM volume_quotas WHERE project_id = $1")
        .bind(project)
        .execute(pool)
        .await?;
    Ok(())
}
