//! `compute_quotas`: limits that differ from the defaults, per project
//! (`user_id` '') or per user within a project.

use std::collections::BTreeMap;

use nimbus_db::Db;
use sqlx::Row;

use crate::error::ComputeError;

/// The explicit limits of `project` (`user` '' for the project's own).
pub async fn quota_get(
    db: &Db,
    project: &str,
    user: &str,
) -> Result<BTreeMap<String, i64>, ComputeError> {
    let rows = sqlx::query(
        "SELECT resource, hard_limit FROM compute_quotas WHERE project_id = $1 AND user_id = $2",
    )
    .bind(project)
    .bind(user)
    .fetch_all(db.pool())
    .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        out.insert(row.try_get("resource")?, row.try_get("hard_limit")?);
    }
    Ok(out)
}

/// Sets limits in one transaction.
pub async fn quota_set(
    db: &Db,
    project: &str,
    user: &str,
    limits: &BTreeMap<String, i64>,
) -> Result<(), ComputeError> {
    let mut tx = db.pool().begin().await?;
    for (resource, limit) in limits {
        sqlx::query(
            "DELETE FROM compute_quotas WHERE project_id = $1 AND user_id = $2 AND resource = $3",
        )
        .bind(project)
        .bind(user)
        .bind(resource)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO compute_quotas (project_id, user_id, resource, hard_limit) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(project)
        .bind(user)
        .bind(resource)
        .bind(*limit)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Drops explicit limits: a user's (`user` not empty) or the project's and
/// all its users' (back to defaults).
pub async fn quota_delete(db: &Db, project: &str, user: &str) -> Result<(), ComputeError> {
    if user.is_empty() {
        sqlx::query("DELETE FROM compute_quotas WHERE project_id = $1")
            .bind(project)
            .execute(db.pool())
            .await?;
    } else {
        sqlx::query("DELETE FROM compute_quotas WHERE project_id = $1 AND user_id = $2")
            .bind(project)
            .bind(user)
            .execute(db.pool())
            .await?;
    }
    Ok(())
}

/// The limits stored for quota class `class`.
pub async fn class_get(db: &Db, class: &str) -> Result<BTreeMap<String, i64>, ComputeError> {
    let rows =
        sqlx::query("SELECT resource, hard_limit FROM compute_quota_classes WHERE class_name = $1")
            .bind(class)
            .fetch_all(db.pool())
            .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        out.insert(row.try_get("resource")?, row.try_get("hard_limit")?);
    }
    Ok(out)
}

/// Sets limits of quota class `class` in one transaction.
pub async fn class_set(
    db: &Db,
    class: &str,
    limits: &BTreeMap<String, i64>,
) -> Result<(), ComputeError> {
    let mut tx = db.pool().begin().await?;
    for (resource, limit) in limits {
        sqlx::query("DELETE FROM compute_quota_classes WHERE class_name = $1 AND resource = $2")
            .bind(class)
            .bind(resource)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO compute_quota_classes (class_name, resource, hard_limit) \
             VALUES ($1, $2, $3)",
        )
        .bind(class)
        .bind(resource)
        .bind(*limit)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
