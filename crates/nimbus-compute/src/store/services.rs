//! `compute_services` (what os-services lists, with its admin-set status)
//! and what this host's instances consume (for os-hypervisors).

use nimbus_db::{Db, is_unique_violation};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::error::ComputeError;

/// A service row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRow {
    /// The id from 2.53.
    pub uuid: String,
    /// The integer id before 2.53.
    pub id: i64,
    /// Host name.
    pub host: String,
    /// `nova-compute`, `nova-scheduler`.
    pub binary: String,
    /// Disabled by an admin.
    pub disabled: bool,
    /// Why.
    pub disabled_reason: Option<String>,
    /// Forced down by an admin (2.11).
    pub forced_down: bool,
    /// Last change, microseconds since the epoch.
    pub updated_at: Option<i64>,
    /// Creation, microseconds since the epoch.
    pub created_at: i64,
}

fn service_from(row: &AnyRow) -> Result<ServiceRow, ComputeError> {
    Ok(ServiceRow {
        uuid: row.try_get("uuid")?,
        id: row.try_get("id")?,
        host: row.try_get("host")?,
        binary: row.try_get("binary_name")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        disabled_reason: row.try_get("disabled_reason")?,
        forced_down: row.try_get::<i64, _>("forced_down")? != 0,
        updated_at: row.try_get("updated_at")?,
        created_at: row.try_get("created_at")?,
    })
}

const COLUMNS: &str =
    "uuid, id, host, binary_name, disabled, disabled_reason, forced_down, updated_at, created_at";

/// Creates the row of `binary` on `host` unless it exists.
pub async fn service_ensure(
    db: &Db,
    host: &str,
    binary: &str,
    now: i64,
) -> Result<(), ComputeError> {
    for _ in 0..5 {
        let exists =
            sqlx::query("SELECT uuid FROM compute_services WHERE host = $1 AND binary_name = $2")
                .bind(host)
                .bind(binary)
                .fetch_optional(db.pool())
                .await?;
        if exists.is_some() {
            return Ok(());
        }
        let result = sqlx::query(
            "INSERT INTO compute_services (uuid, id, host, binary_name, disabled, \
             disabled_reason, forced_down, created_at, updated_at) VALUES ($1, \
             (SELECT COALESCE(MAX(id), 0) + 1 FROM compute_services), $2, $3, 0, NULL, 0, $4, NULL)",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(host)
        .bind(binary)
        .bind(now)
        .execute(db.pool())
        .await;
        match result {
            Ok(_) => return Ok(()),
            // A concurrent first request made it (or took the id): look again.
            Err(err) if is_unique_violation(&err) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(ComputeError::new(
        crate::error::ComputeErrorKind::Db,
        "could not create a service row",
    ))
}

/// Every service by id.
pub async fn service_list(db: &Db) -> Result<Vec<ServiceRow>, ComputeError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM compute_services ORDER BY id"
    )))
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(service_from).collect()
}

/// Sets a service's status; false if missing.
pub async fn service_update(
    db: &Db,
    uuid: &str,
    disabled: bool,
    disabled_reason: Option<&str>,
    forced_down: bool,
    now: i64,
) -> Result<bool, ComputeError> {
    let done = sqlx::query(
        "UPDATE compute_services SET disabled = $1, disabled_reason = $2, forced_down = $3, \
         updated_at = $4 WHERE uuid = $5",
    )
    .bind(i64::from(disabled))
    .bind(disabled_reason)
    .bind(i64::from(forced_down))
    .bind(now)
    .bind(uuid)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// What every live instance on this host consumes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostUsage {
    /// Instances not deleted.
    pub instances: i64,
    /// Their vCPUs.
    pub vcpus: i64,
    /// Their RAM, MiB.
    pub memory_mb: i64,
    /// Their root and ephemeral disks, GiB.
    pub local_gb: i64,
    /// Those with a task under way (nova's `current_workload`).
    pub busy: i64,
}

/// The usage of every live instance (this host runs them all).
pub async fn host_usage(db: &Db) -> Result<HostUsage, ComputeError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(vcpus), 0) AS BIGINT) AS cores, \
         CAST(COALESCE(SUM(memory_mb), 0) AS BIGINT) AS ram, \
         CAST(COALESCE(SUM(root_gb + ephemeral_gb), 0) AS BIGINT) AS disk, \
         CAST(COALESCE(SUM(CASE WHEN task_state IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) AS busy \
         FROM compute_instances WHERE deleted = 0",
    )
    .fetch_one(db.pool())
    .await?;
    Ok(HostUsage {
        instances: row.try_get("n")?,
        vcpus: row.try_get("cores")?,
        memory_mb: row.try_get("ram")?,
        local_gb: row.try_get("disk")?,
        busy: row.try_get("busy")?,
    })
}

/// Live instances as (uuid, name), oldest first.
pub async fn host_instances(db: &Db) -> Result<Vec<(String, String)>, ComputeError> {
    let rows = sqlx::query(
        "SELECT uuid, display_name FROM compute_instances WHERE deleted = 0 \
         ORDER BY created_at, uuid",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("uuid")?, r.try_get("display_name")?)))
        .collect()
}
