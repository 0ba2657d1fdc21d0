//! `volume_volumes`.

use nimbus_db::{Pool, now_micros};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{map_from, map_to, placeholders};
use crate::app::model::{AttachStatus, Volume, VolumeStatus};
use crate::error::VolumeError;

const COLUMNS: &str = "id, project_id, user_id, name, description, size, status, attach_status, \
     volume_type_id, availability_zone, bootable, snapshot_id, source_volid, metadata, \
     image_metadata, provider_location, provider_auth, created_at, updated_at, admin_metadata";

fn from_row(row: &AnyRow) -> Result<Volume, VolumeError> {
    let status: String = row.try_get("status")?;
    let attach: String = row.try_get("attach_status")?;
    let metadata: String = row.try_get("metadata")?;
    let image_metadata: Option<String> = row.try_get("image_metadata")?;
    let admin_metadata: String = row.try_get("admin_metadata")?;
    Ok(Volume {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        size: row.try_get("size")?,
        status: VolumeStatus::parse(&status)
            .ok_or_else(|| VolumeError::corrupt(format!("volume status {status}")))?,
        attach_status: AttachStatus::parse(&attach)
            .ok_or_else(|| VolumeError::corrupt(format!("attach status {attach}")))?,
        volume_type_id: row.try_get("volume_type_id")?,
        availability_zone: row.try_get("availability_zone")?,
        bootable: row.try_get::<i64, _>("bootable")? != 0,
        snapshot_id: row.try_get("snapshot_id")?,
        source_volid: row.try_get("source_volid")?,
        metadata: map_from(&metadata, "volume metadata")?,
        image_metadata: image_metadata
            .as_deref()
            .map(|m| map_from(m, "image metadata"))
            .transpose()?,
        admin_metadata: map_from(&admin_metadata, "admin metadata")?,
        provider_location: row.try_get("provider_location")?,
        provider_auth: row.try_get("provider_auth")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a new volume.
pub async fn volume_create(pool: &Pool, v: &Volume) -> Result<(), VolumeError> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO volume_volumes ({COLUMNS}) VALUES
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    )))
    .bind(&v.id)
    .bind(&v.project_id)
    .bind(&v.user_id)
    .bind(v.name.as_deref())
    .bind(v.description.as_deref())
    .bind(v.size)
    .bind(v.status.as_str())
    .bind(v.attach_status.as_str())
    .bind(&v.volume_type_id)
    .bind(&v.availability_zone)
    .bind(i64::from(v.bootable))
    .bind(v.snapshot_id.as_deref())
    .bind(v.source_volid.as_deref())
    .bind(map_to(&v.metadata))
    .bind(v.image_metadata.as_ref().map(map_to))
    .bind(v.provider_location.as_deref())
    .bind(v.provider_auth.as_deref())
    .bind(v.created_at)
    .bind(v.updated_at)
    .bind(map_to(&v.admin_metadata))
    .execute(pool)
    .await?;
    Ok(())
}

/// A volume; with `project`, only if it belongs to that project.
pub async fn volume_get(
    pool: &Pool,
    id: &str,
    project: Option<&str>,
) -> Result<Option<Volume>, VolumeError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM volume_volumes WHERE id = $1 AND ($2 IS NULL OR project_id = $2)"
    )))
    .bind(id)
    .bind(project)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every volume of `project` (every volume with `None`), newest first.
pub async fn volume_list(pool: &Pool, project: Option<&str>) -> Result<Vec<Volume>, VolumeError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM volume_volumes WHERE ($1 IS NULL OR project_id = $1)
         ORDER BY created_at DESC, id DESC"
    )))
    .bind(project)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Writes the user-editable and backend fields (not status, not admin
/// metadata: [`volume_admin_metadata_save`] owns those).
pub async fn volume_save(pool: &Pool, v: &Volume) -> Result<(), VolumeError> {
    sqlx::query(
        "UPDATE volume_volumes SET name = $2, description = $3, size = $4, bootable = $5,
         metadata = $6, image_metadata = $7, provider_location = $8, provider_auth = $9,
         updated_at = $10 WHERE id = $1",
    )
    .bind(&v.id)
    .bind(v.name.as_deref())
    .bind(v.description.as_deref())
    .bind(v.size)
    .bind(i64::from(v.bootable))
    .bind(map_to(&v.metadata))
    .bind(v.image_metadata.as_ref().map(map_to))
    .bind(v.provider_location.as_deref())
    .bind(v.provider_auth.as_deref())
    .bind(now_micros())
    .execute(pool)
    .await?;
    Ok(())
}

/// Replaces a volume's admin metadata.
pub async fn volume_admin_metadata_save(
    pool: &Pool,
    id: &str,
    admin_metadata: &std::collections::BTreeMap<String, String>,
) -> Result<(), VolumeError> {
    sqlx::query("UPDATE volume_volumes SET admin_metadata = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(map_to(admin_metadata))
        .bind(now_micros())
        .execute(pool)
        .await?;
    Ok(())
}

/// `in-use` -> `detaching`, only while the volume is attached
/// (`os-begin_detaching`); `false` if it was not.
pub async fn volume_begin_detaching(pool: &Pool, id: &str) -> Result<bool, VolumeError> {
    let done = sqlx::query(
        "UPDATE volume_volumes SET status = 'detaching', updated_at = $2
         WHERE id = $1 AND status = 'in-use' AND attach_status = 'attached'",
    )
    .bind(id)
    .bind(now_micros())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a volume to `to` only if its status is one of `from`; `false` if
/// it was not (someone else changed it first).
pub async fn volume_transition(
    pool: &Pool,
    id: &str,
    from: &[VolumeStatus],
    to: VolumeStatus,
    attach: Option<AttachStatus>,
) -> Result<bool, VolumeError> {
    let sql = format!(
        "UPDATE volume_volumes SET status = $2, attach_status = COALESCE($3, attach_status),
         updated_at = $4 WHERE id = $1 AND status IN ({})",
        placeholders(5, from.len())
    );
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(id)
        .bind(to.as_str())
        .bind(attach.map(AttachStatus::as_str))
        .bind(now_micros());
    for s in from {
        q = q.bind(s.as_str());
    }
    Ok(q.execute(pool).await?.rows_affected() == 1)
}

/// Removes a volume row (its attachments must be gone).
pub async fn volume_delete(pool: &Pool, id: &str) -> Result<(), VolumeError> {
    sqlx::query("DELETE FROM volume_volumes WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// (volumes, gigabytes) a project uses.
pub async fn volume_usage(pool: &Pool, project: &str) -> Result<(i64, i64), VolumeError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(size), 0) AS BIGINT) AS gb FROM volume_volumes
         WHERE project_id = $1",
    )
    .bind(project)
    .fetch_one(pool)
    .await?;
    Ok((row.try_get("n")?, row.try_get("gb")?))
}

/// Volumes whose status says work was under way when the process stopped.
pub async fn volume_interrupted(pool: &Pool) -> Result<Vec<Volume>, VolumeError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM volume_volumes WHERE status IN
         ('creating', 'downloading', 'deleting', 'extending', 'uploading')"
    )))
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}
