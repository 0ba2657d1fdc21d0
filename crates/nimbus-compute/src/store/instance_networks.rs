//! `compute_instance_networks`: a server's requested networks and the
//! ports of its NICs in guest order.

use nimbus_db::Pool;
use sqlx::Row;

use crate::error::ComputeError;

/// Records what server `uuid` asked for (`requested` is JSON) before its
/// build; no ports yet.
pub async fn record_requested(
    pool: &Pool,
    uuid: &str,
    requested: &str,
) -> Result<(), ComputeError> {
    sqlx::query(
        "INSERT INTO compute_instance_networks (instance_uuid, requested, port_ids) \
         VALUES ($1, $2, '')",
    )
    .bind(uuid)
    .bind(requested)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records the ports of server `uuid`'s NICs, in guest order
/// (comma-separated ids).
pub async fn set_ports(pool: &Pool, uuid: &str, port_ids: &str) -> Result<(), ComputeError> {
    sqlx::query("UPDATE compute_instance_networks SET port_ids = $2 WHERE instance_uuid = $1")
        .bind(uuid)
        .bind(port_ids)
        .execute(pool)
        .await?;
    Ok(())
}

/// (requested JSON, port ids) of server `uuid`, if recorded.
pub async fn get(pool: &Pool, uuid: &str) -> Result<Option<(String, String)>, ComputeError> {
    let row = sqlx::query(
        "SELECT requested, port_ids FROM compute_instance_networks WHERE instance_uuid = $1",
    )
    .bind(uuid)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some(r) => Some((r.try_get("requested")?, r.try_get("port_ids")?)),
        None => None,
    })
}

/// Forgets server `uuid` (deleted).
pub async fn delete(pool: &Pool, uuid: &str) -> Result<(), ComputeError> {
    sqlx::query("DELETE FROM compute_instance_networks WHERE instance_uuid = $1")
        .bind(uuid)
        .execute(pool)
        .await?;
    Ok(())
}
