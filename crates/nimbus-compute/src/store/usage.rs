//! What a project's live instances consume, for quotas and limits.

use nimbus_db::Db;
use sqlx::Row;

use crate::error::ComputeError;

/// Resources held by a project's instances that are not deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Instances.
    pub instances: i64,
    /// vCPUs.
    pub cores: i64,
    /// RAM, MiB.
    pub ram_mb: i64,
}

/// The usage of `project_id`. (PostgreSQL's SUM of BIGINT is NUMERIC: cast back.)
pub async fn project_usage(db: &Db, project_id: &str) -> Result<Usage, ComputeError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(vcpus), 0) AS BIGINT) AS cores, \
         CAST(COALESCE(SUM(memory_mb), 0) AS BIGINT) AS ram \
         FROM compute_instances WHERE project_id = $1 AND deleted = 0",
    )
    .bind(project_id)
    .fetch_one(db.pool())
    .await?;
    Ok(Usage {
        instances: row.try_get("n")?,
        cores: row.try_get("cores")?,
        ram_mb: row.try_get("ram")?,
    })
}
