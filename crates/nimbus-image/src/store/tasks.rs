//! `image_tasks`: the tasks imports run.

use nimbus_db::Pool;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::ImageError;

/// One task row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Task id (uuid).
    pub id: String,
    /// Glance's task type (`api_image_import`).
    pub task_type: String,
    /// pending, processing, success or failure.
    pub status: String,
    /// The project that asked.
    pub owner: Option<String>,
    /// The image the task works on.
    pub image_id: String,
    /// The request, as JSON.
    pub input: String,
    /// The outcome, as JSON, once finished.
    pub result: Option<String>,
    /// Why it failed; empty otherwise.
    pub message: String,
    /// The request that started it.
    pub request_id: String,
    /// The user who started it.
    pub user_id: String,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
    /// When a finished task may be forgotten (glance's task_time_to_live).
    pub expires_at: Option<i64>,
}

fn from_row(row: &AnyRow) -> Result<Task, ImageError> {
    Ok(Task {
        id: row.try_get("id")?,
        task_type: row.try_get("task_type")?,
        status: row.try_get("status")?,
        owner: row.try_get("owner")?,
        image_id: row.try_get("image_id")?,
        input: row.try_get("input")?,
        result: row.try_get("result")?,
        message: row.try_get("message")?,
        request_id: row.try_get("request_id")?,
        user_id: row.try_get("user_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

/// Inserts a new task.
pub async fn task_insert(pool: &Pool, task: &Task) -> Result<(), ImageError> {
    sqlx::query(
        "INSERT INTO image_tasks (id, task_type, status, owner, image_id, input, result, message, \
         request_id, user_id, created_at, updated_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&task.id)
    .bind(&task.task_type)
    .bind(&task.status)
    .bind(&task.owner)
    .bind(&task.image_id)
    .bind(&task.input)
    .bind(&task.result)
    .bind(&task.message)
    .bind(&task.request_id)
    .bind(&task.user_id)
    .bind(task.created_at)
    .bind(task.updated_at)
    .bind(task.expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Ends task `id` with `status`, `result` and `message` at `now`, to be
/// forgotten at `expires_at`.
pub async fn task_finish(
    pool: &Pool,
    id: &str,
    status: &str,
    result: Option<&str>,
    message: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), ImageError> {
    sqlx::query(
        "UPDATE image_tasks SET status = $1, result = $2, message = $3, updated_at = $4, \
         expires_at = $5 WHERE id = $6",
    )
    .bind(status)
    .bind(result)
    .bind(message)
    .bind(now)
    .bind(expires_at)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes task `id` (an import refused before it started).
pub async fn task_delete(pool: &Pool, id: &str) -> Result<(), ImageError> {
    sqlx::query("DELETE FROM image_tasks WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// The unexpired tasks of `image_id` at `now`, oldest first.
pub async fn tasks_for_image(
    pool: &Pool,
    image_id: &str,
    now: i64,
) -> Result<Vec<Task>, ImageError> {
    let rows = sqlx::query(
        "SELECT * FROM image_tasks WHERE image_id = $1 AND (expires_at IS NULL OR expires_at > $2) \
         ORDER BY created_at, id",
    )
    .bind(image_id)
    .bind(now)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}
