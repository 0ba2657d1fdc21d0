//! `network_instance_ports`: which ports compute's allocation made (deleted
//! with the server) and which it was given (kept, unbound).

use nimbus_db::Pool;
use sqlx::Row;

use super::flag;
use crate::error::NetError;

/// Records a port allocated to a server.
pub async fn record(
    pool: &Pool,
    port_id: &str,
    instance_id: &str,
    preserve: bool,
) -> Result<(), NetError> {
    sqlx::query("DELETE FROM network_instance_ports WHERE port_id = $1")
        .bind(port_id)
        .execute(pool)
        .await?;
    sqlx::query(
        "INSERT INTO network_instance_ports (port_id, instance_id, preserve_on_delete) VALUES ($1, $2, $3)",
    )
    .bind(port_id)
    .bind(instance_id)
    .bind(flag(preserve))
    .execute(pool)
    .await?;
    Ok(())
}

/// A server's ports as (port id, preserve on delete).
pub async fn of_instance(pool: &Pool, instance_id: &str) -> Result<Vec<(String, bool)>, NetError> {
    let rows = sqlx::query(
        "SELECT port_id, preserve_on_delete FROM network_instance_ports WHERE instance_id = $1 ORDER BY port_id",
    )
    .bind(instance_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("port_id")?,
                r.try_get::<i64, _>("preserve_on_delete")? != 0,
            ))
        })
        .collect()
}

/// Forgets a port's record.
pub async fn forget(pool: &Pool, port_id: &str) -> Result<(), NetError> {
    sqlx::query("DELETE FROM network_instance_ports WHERE port_id = $1")
        .bind(port_id)
        .execute(pool)
        .await?;
    Ok(())
}
