//! `network_networks`.

use nimbus_db::Pool;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Filter, flag, get_flag};
use crate::app::model::Network;
use crate::error::NetError;

const COLUMNS: &str = "id, project_id, name, description, admin_state_up, shared, external, mtu, \
    port_security_enabled, network_type, physical_network, segmentation_id, revision_number, \
    created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Network, NetError> {
    let network_type: String = row.try_get("network_type")?;
    let segmentation_id: Option<i64> = row.try_get("segmentation_id")?;
    Ok(Network {
        segmentation_id: segmentation_id.filter(|_| network_type != "flat"),
        network_type,
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        admin_state_up: get_flag(row, "admin_state_up")?,
        shared: get_flag(row, "shared")?,
        external: get_flag(row, "external")?,
        mtu: row.try_get("mtu")?,
        port_security_enabled: get_flag(row, "port_security_enabled")?,
        physical_network: row
            .try_get::<Option<String>, _>("physical_network")?
            .filter(|p| !p.is_empty()),
        revision_number: row.try_get("revision_number")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a network; `false` when its segment is already taken.
pub async fn network_insert(pool: &Pool, n: &Network) -> Result<bool, NetError> {
    let result = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO network_networks ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )))
    .bind(&n.id)
    .bind(&n.project_id)
    .bind(&n.name)
    .bind(&n.description)
    .bind(flag(n.admin_state_up))
    .bind(flag(n.shared))
    .bind(flag(n.external))
    .bind(n.mtu)
    .bind(flag(n.port_security_enabled))
    .bind(&n.network_type)
    .bind(n.physical_network.clone().unwrap_or_default())
    // A flat network takes its whole physical network: segment 0 lets the
    // unique index refuse a second one.
    .bind(n.segmentation_id.or((n.network_type == "flat").then_some(0)))
    .bind(n.revision_number)
    .bind(n.created_at)
    .bind(n.updated_at)
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if nimbus_db::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Writes the mutable attributes back.
pub async fn network_update(pool: &Pool, n: &Network) -> Result<(), NetError> {
    sqlx::query(
        "UPDATE network_networks SET name = $2, description = $3, admin_state_up = $4, shared = $5, \
         external = $6, mtu = $7, port_security_enabled = $8, revision_number = $9, updated_at = $10 \
         WHERE id = $1",
    )
    .bind(&n.id)
    .bind(&n.name)
    .bind(&n.description)
    .bind(flag(n.admin_state_up))
    .bind(flag(n.shared))
    .bind(flag(n.external))
    .bind(n.mtu)
    .bind(flag(n.port_security_enabled))
    .bind(n.revision_number)
    .bind(n.updated_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// One network, whoever owns it.
pub async fn network_get(pool: &Pool, id: &str) -> Result<Option<Network>, NetError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM network_networks WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Networks `project` may see (its own, shared and external ones), or all
/// when `project` is `None` (admin).
pub async fn network_list(pool: &Pool, project: Option<&str>) -> Result<Vec<Network>, NetError> {
    let mut filter = Filter::default();
    if let Some(p) = project {
        filter.raw("(project_id = $? OR shared = 1 OR external = 1)", p);
    }
    let rows = filter
        .query(format!(
            "SELECT {COLUMNS} FROM network_networks{} ORDER BY created_at, id",
            filter.clause()
        ))
        .fetch_all(pool)
        .await?;
    rows.iter().map(from_row).collect()
}

/// Deletes a network with its subnets; ports must be gone already.
pub async fn network_delete(pool: &Pool, id: &str) -> Result<bool, NetError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM network_subnets WHERE network_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query("DELETE FROM network_networks WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// How many networks a project owns.
pub async fn network_count(pool: &Pool, project: &str) -> Result<i64, NetError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM network_networks WHERE project_id = $1")
        .bind(project)
        .fetch_one(pool)
        .await?;
    Ok(row.try_get("n")?)
}

/// Segmentation ids taken for a network type on a physical network ('' for
/// tunnels).
pub async fn segments_in_use(
    pool: &Pool,
    network_type: &str,
    physical_network: &str,
) -> Result<Vec<i64>, NetError> {
    let rows = sqlx::query(
        "SELECT segmentation_id FROM network_networks WHERE network_type = $1 \
         AND physical_network = $2 AND segmentation_id IS NOT NULL",
    )
    .bind(network_type)
    .bind(physical_network)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| r.try_get::<i64, _>("segmentation_id").map_err(Into::into))
        .collect()
}
