//! `volume_attachments`.

use nimbus_db::{Pool, now_micros};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::app::model::{AttachStatus, Attachment};
use crate::error::VolumeError;

const COLUMNS: &str = "id, volume_id, project_id, instance_uuid, attach_status, attach_mode, \
     connector, connection_info, mountpoint, attached_at, detached_at, created_at, updated_at, \
     attached_host";

fn json_col(row: &AnyRow, name: &str) -> Result<Option<Value>, VolumeError> {
    let text: Option<String> = row.try_get(name)?;
    text.map(|t| serde_json::from_str(&t).map_err(|_| VolumeError::corrupt(name.to_string())))
        .transpose()
}

fn from_row(row: &AnyRow) -> Result<Attachment, VolumeError> {
    let status: String = row.try_get("attach_status")?;
    Ok(Attachment {
        id: row.try_get("id")?,
        volume_id: row.try_get("volume_id")?,
        project_id: row.try_get("project_id")?,
        instance_uuid: row.try_get("instance_uuid")?,
        attach_status: AttachStatus::parse(&status)
            .ok_or_else(|| VolumeError::corrupt(format!("attach status {status}")))?,
        attach_mode: row.try_get("attach_mode")?,
        connector: json_col(row, "connector")?,
        connection_info: json_col(row, "connection_info")?,
        mountpoint: row.try_get("mountpoint")?,
        attached_host: row.try_get("attached_host")?,
        attached_at: row.try_get("attached_at")?,
        detached_at: row.try_get("detached_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a new attachment.
pub async fn attachment_create(pool: &Pool, a: &Attachment) -> Result<(), VolumeError> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO volume_attachments ({COLUMNS}) VALUES
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13)"
    )))
    .bind(&a.id)
    .bind(&a.volume_id)
    .bind(&a.project_id)
    .bind(a.instance_uuid.as_deref())
    .bind(a.attach_status.as_str())
    .bind(&a.attach_mode)
    .bind(a.connector.as_ref().map(Value::to_string))
    .bind(a.connection_info.as_ref().map(Value::to_string))
    .bind(a.mountpoint.as_deref())
    .bind(a.attached_at)
    .bind(a.detached_at)
    .bind(a.created_at)
    .bind(a.attached_host.as_deref())
    .execute(pool)
    .await?;
    Ok(())
}

/// An attachment; with `project`, only one of that project's volumes.
pub async fn attachment_get(
    pool: &Pool,
    id: &str,
    project: Option<&str>,
) -> Result<Option<Attachment>, VolumeError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM volume_attachments WHERE id = $1 AND ($2 IS NULL OR project_id = $2)"
    )))
    .bind(id)
    .bind(project)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Attachments of `project` (all with `None`), newest first.
pub async fn attachment_list(
    pool: &Pool,
    project: Option<&str>,
) -> Result<Vec<Attachment>, VolumeError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM volume_attachments WHERE ($1 IS NULL OR project_id = $1)
         ORDER BY created_at DESC, id DESC"
    )))
    .bind(project)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// The attachments of one volume, oldest first.
pub async fn attachment_list_for_volume(
    pool: &Pool,
    volume_id: &str,
) -> Result<Vec<Attachment>, VolumeError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM volume_attachments WHERE volume_id = $1 ORDER BY created_at, id"
    )))
    .bind(volume_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Writes status, connector, connection info, mountpoint and times.
pub async fn attachment_save(pool: &Pool, a: &Attachment) -> Result<(), VolumeError> {
    sqlx::query(
        "UPDATE volume_attachments SET attach_status = $2, connector = $3, connection_info = $4,
         mountpoint = $5, attached_at = $6, detached_at = $7, attach_mode = $8, updated_at = $9,
         attached_host = $10 WHERE id = $1",
    )
    .bind(&a.id)
    .bind(a.attach_status.as_str())
    .bind(a.connector.as_ref().map(Value::to_string))
    .bind(a.connection_info.as_ref().map(Value::to_string))
    .bind(a.mountpoint.as_deref())
    .bind(a.attached_at)
    .bind(a.detached_at)
    .bind(&a.attach_mode)
    .bind(now_micros())
    .bind(a.attached_host.as_deref())
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes an attachment row; `false` if it was already gone.
pub async fn attachment_delete(pool: &Pool, id: &str) -> Result<bool, VolumeError> {
    let done = sqlx::query("DELETE FROM volume_attachments WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
