//! `compute_instance_actions` and `compute_instance_action_events`.

use nimbus_db::{Pool, now_micros};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::ComputeError;

/// One user-visible operation on an instance (nova's InstanceAction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// Row id.
    pub id: String,
    /// The instance.
    pub instance_uuid: String,
    /// Request id of the API call.
    pub request_id: String,
    /// `create`, `stop`, `reboot`, ...
    pub action: String,
    /// Project of the caller.
    pub project_id: String,
    /// User of the caller.
    pub user_id: String,
    /// `Error` when an event failed.
    pub message: Option<String>,
    /// Microseconds since the epoch.
    pub start_time: i64,
    /// Microseconds since the epoch.
    pub finish_time: Option<i64>,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

/// One step of an action (nova's InstanceActionEvent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `compute__do_build_and_run_instance`, ...
    pub event: String,
    /// Microseconds since the epoch.
    pub start_time: i64,
    /// Microseconds since the epoch.
    pub finish_time: Option<i64>,
    /// `Success` or `Error`.
    pub result: Option<String>,
    /// The error chain when it failed.
    pub traceback: Option<String>,
    /// Short failure message.
    pub details: Option<String>,
}

fn action_from_row(row: &AnyRow) -> Result<Action, ComputeError> {
    Ok(Action {
        id: row.try_get("id")?,
        instance_uuid: row.try_get("instance_uuid")?,
        request_id: row.try_get("request_id")?,
        action: row.try_get("action")?,
        project_id: row.try_get("project_id")?,
        user_id: row.try_get("user_id")?,
        message: row.try_get("message")?,
        start_time: row.try_get("start_time")?,
        finish_time: row.try_get("finish_time")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Records the start of an action; returns its id.
pub async fn action_start(
    pool: &Pool,
    instance_uuid: &str,
    request_id: &str,
    action: &str,
    project_id: &str,
    user_id: &str,
) -> Result<String, ComputeError> {
    let id = uuid::Uuid::new_v4().to_string();
    let now = now_micros();
    sqlx::query(
        "INSERT INTO compute_instance_actions (id, instance_uuid, request_id, action, project_id, \
         user_id, message, start_time, finish_time, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, NULL, $7)",
    )
    .bind(&id)
    .bind(instance_uuid)
    .bind(request_id)
    .bind(action)
    .bind(project_id)
    .bind(user_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(id)
}

/// Records a finished event of `action_id` (and marks the action failed
/// when it failed).
pub async fn event_record(
    pool: &Pool,
    action_id: &str,
    event: &str,
    start_time: i64,
    error: Option<(&str, &str)>,
) -> Result<(), ComputeError> {
    let now = now_micros();
    let (result, details, traceback) = match error {
        None => ("Success", None, None),
        Some((details, traceback)) => ("Error", Some(details), Some(traceback)),
    };
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO compute_instance_action_events (id, action_id, event, start_time, \
         finish_time, result, traceback, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(action_id)
    .bind(event)
    .bind(start_time)
    .bind(now)
    .bind(result)
    .bind(traceback)
    .bind(details)
    .execute(&mut *tx)
    .await?;
    let message = if error.is_some() { Some("Error") } else { None };
    sqlx::query(
        "UPDATE compute_instance_actions SET finish_time = $1, updated_at = $1, \
         message = COALESCE(message, $2) WHERE id = $3",
    )
    .bind(now)
    .bind(message)
    .bind(action_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The actions of an instance, newest first.
pub async fn actions_list(pool: &Pool, instance_uuid: &str) -> Result<Vec<Action>, ComputeError> {
    let rows = sqlx::query(
        "SELECT id, instance_uuid, request_id, action, project_id, user_id, message, start_time, \
         finish_time, updated_at FROM compute_instance_actions WHERE instance_uuid = $1 \
         ORDER BY start_time DESC, id DESC",
    )
    .bind(instance_uuid)
    .fetch_all(pool)
    .await?;
    rows.iter().map(action_from_row).collect()
}

/// The events of an action, oldest first.
pub async fn events_list(pool: &Pool, action_id: &str) -> Result<Vec<Event>, ComputeError> {
    let rows = sqlx::query(
        "SELECT event, start_time, finish_time, result, traceback, details \
         FROM compute_instance_action_events WHERE action_id = $1 ORDER BY start_time, id",
    )
    .bind(action_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Event {
                event: row.try_get("event")?,
                start_time: row.try_get("start_time")?,
                finish_time: row.try_get("finish_time")?,
                result: row.try_get("result")?,
                traceback: row.try_get("traceback")?,
                details: row.try_get("details")?,
            })
        })
        .collect()
}
