//! `network_floatingips`.

use nimbus_db::Pool;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::app::model::FloatingIp;
use crate::error::NetError;

const COLUMNS: &str = "id, project_id, description, floating_network_id, floating_port_id, \
    floating_ip_address, port_id, fixed_ip_address, router_id, revision_number, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<FloatingIp, NetError> {
    Ok(FloatingIp {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        description: row.try_get("description")?,
        floating_network_id: row.try_get("floating_network_id")?,
        floating_port_id: row.try_get("floating_port_id")?,
        floating_ip_address: row.try_get("floating_ip_address")?,
        port_id: row.try_get("port_id")?,
        fixed_ip_address: row.try_get("fixed_ip_address")?,
        router_id: row.try_get("router_id")?,
        revision_number: row.try_get("revision_number")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a floating IP.
pub async fn floatingip_insert(pool: &Pool, f: &FloatingIp) -> Result<(), NetError> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO network_floatingips ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    )))
    .bind(&f.id)
    .bind(&f.project_id)
    .bind(&f.description)
    .bind(&f.floating_network_id)
    .bind(&f.floating_port_id)
    .bind(&f.floating_ip_address)
    .bind(f.port_id.clone())
    .bind(f.fixed_ip_address.clone())
    .bind(f.router_id.clone())
    .bind(f.revision_number)
    .bind(f.created_at)
    .bind(f.updated_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Writes association and description back.
pub async fn floatingip_update(pool: &Pool, f: &FloatingIp) -> Result<(), NetError> {
    sqlx::query(
        "UPDATE network_floatingips SET description = $2, port_id = $3, fixed_ip_address = $4, \
         router_id = $5, revision_number = $6, updated_at = $7 WHERE id = $1",
    )
    .bind(&f.id)
    .bind(&f.description)
    .bind(f.port_id.clone())
    .bind(f.fixed_ip_address.clone())
    .bind(f.router_id.clone())
    .bind(f.revision_number)
    .bind(f.updated_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// One floating IP.
pub async fn floatingip_get(pool: &Pool, id: &str) -> Result<Option<FloatingIp>, NetError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM network_floatingips WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A project's floating IPs, or all for `None`.
pub async fn floatingip_list(
    pool: &Pool,
    project: Option<&str>,
) -> Result<Vec<FloatingIp>, NetError> {
    let rows = match project {
        Some(p) => {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM network_floatingips WHERE project_id = $1 ORDER BY created_at, id"
            )))
            .bind(p)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM network_floatingips ORDER BY created_at, id"
            )))
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Floating IPs associated with one of `port_ids`' ports.
pub async fn floatingips_of_port(pool: &Pool, port_id: &str) -> Result<Vec<FloatingIp>, NetError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM network_floatingips WHERE port_id = $1 ORDER BY created_at, id"
    )))
    .bind(port_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Floating IPs translated by a router.
pub async fn floatingips_of_router(
    pool: &Pool,
    router_id: &str,
) -> Result<Vec<FloatingIp>, NetError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM network_floatingips WHERE router_id = $1"
    )))
    .bind(router_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Deletes a floating IP record.
pub async fn floatingip_delete(pool: &Pool, id: &str) -> Result<bool, NetError> {
    let done = sqlx::query("DELETE FROM network_floatingips WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// How many floating IPs a project owns.
pub async fn floatingip_count(pool: &Pool, project: &str) -> Result<i64, NetError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM network_floatingips WHERE project_id = $1")
        .bind(project)
        .fetch_one(pool)
        .await?;
    Ok(row.try_get("n")?)
}
