//! `volume_snapshots`.

use nimbus_db::{Pool, now_micros};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{map_from, map_to, placeholders};
use crate::app::model::{Snapshot, SnapshotStatus};
use crate::error::VolumeError;

const COLUMNS: &str = "id, project_id, user_id, volume_id, name, description, status, size, \
     metadata, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Snapshot, VolumeError> {
    let status: String = row.try_get("status")?;
    let metadata: String = row.try_get("metadata")?;
    Ok(Snapshot {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        user_id: row.try_get("user_id")?,
        volume_id: row.try_get("volume_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        status: SnapshotStatus::parse(&status)
            .ok_or_else(|| VolumeError::corrupt(format!("snapshot status {status}")))?,
        size: row.try_get("size")?,
        metadata: map_from(&metadata, "snapshot metadata")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a new snapshot.
pub async fn snapshot_create(pool: &Pool, s: &Snapshot) -> Result<(), VolumeError> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO volume_snapshots ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(&s.id)
    .bind(&s.project_id)
    .bind(&s.user_id)
    .bind(&s.volume_id)
    .bind(s.name.as_deref())
    .bind(s.description.as_deref())
    .bind(s.status.as_str())
    .bind(s.size)
    .bind(map_to(&s.metadata))
    .bind(s.created_at)
    .bind(s.updated_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// A snapshot; with `project`, only if it belongs to that project.
pub async fn snapshot_get(
    pool: &Pool,
    id: &str,
    project: Option<&str>,
) -> Result<Option<Snapshot>, VolumeError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM volume_snapshots WHERE id = $1 AND ($2 IS NULL OR project_id = $2)"
    )))
    .bind(id)
    .bind(project)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every snapshot of `project` (all with `None`), newest first.
pub async fn snapshot_list(
    pool: &Pool,
    project: Option<&str>,
) -> Result<Vec<Snapshot>, VolumeError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM volume_snapshots WHERE ($1 IS NULL OR project_id = $1)
         ORDER BY created_at DESC, id DESC"
    )))
    .bind(project)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Writes name, description and metadata.
pub async fn snapshot_save(pool: &Pool, s: &Snapshot) -> Result<(), VolumeError> {
    sqlx::query(
        "UPDATE volume_snapshots SET name = $2, description = $3, metadata = $4, updated_at = $5
         WHERE id = $1",
    )
    .bind(&s.id)
    .bind(s.name.as_deref())
    .bind(s.description.as_deref())
    .bind(map_to(&s.metadata))
    .bind(now_micros())
    .execute(pool)
    .await?;
    Ok(())
}

/// Moves a snapshot to `to` only from one of `from`.
pub async fn snapshot_transition(
    pool: &Pool,
    id: &str,
    from: &[SnapshotStatus],
    to: SnapshotStatus,
) -> Result<bool, VolumeError> {
    let sql = format!(
        "UPDATE volume_snapshots SET status = $2, updated_at = $3 WHERE id = $1 AND status IN ({})",
        placeholders(4, from.len())
    );
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .bind(to.as_str())
        .bind(now_micros());
    for s in from {
        q = q.bind(s.as_str());
    }
    Ok(q.execute(pool).await?.rows_affected() == 1)
}

/// Removes a snapshot row.
pub async fn snapshot_delete(pool: &Pool, id: &str) -> Result<(), VolumeError> {
    sqlx::query("DELETE FROM volume_snapshots WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// How many snapshots a volume has.
pub async fn snapshot_count_for_volume(pool: &Pool, volume_id: &str) -> Result<i64, VolumeError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM volume_snapshots WHERE volume_id = $1")
        .bind(volume_id)
        .fetch_one(pool)
        .await?;
    Ok(row.try_get("n")?)
}

/// (snapshots, gigabytes) a project uses.
pub async fn snapshot_usage(pool: &Pool, project: &str) -> Result<(i64, i64), VolumeError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS gb FROM volume_snapshots
         WHERE project_id = $1",
    )
    .bind(project)
    .fetch_one(pool)
    .await?;
    Ok((row.try_get("n")?, row.try_get("gb")?))
}
