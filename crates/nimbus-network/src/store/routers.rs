//! `network_routers`. Interfaces and gateways are ports whose `device_id`
//! is the router.

use nimbus_db::Pool;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{flag, get_flag};
use crate::app::model::Router;
use crate::error::NetError;

const COLUMNS: &str = "id, project_id, name, description, admin_state_up, gw_port_id, enable_snat, \
    revision_number, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Router, NetError> {
    Ok(Router {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        admin_state_up: get_flag(row, "admin_state_up")?,
        gw_port_id: row.try_get("gw_port_id")?,
        enable_snat: get_flag(row, "enable_snat")?,
        revision_number: row.try_get("revision_number")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a router.
pub async fn router_insert(pool: &Pool, r: &Router) -> Result<(), NetError> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO network_routers ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )))
    .bind(&r.id)
    .bind(&r.project_id)
    .bind(&r.name)
    .bind(&r.description)
    .bind(flag(r.admin_state_up))
    .bind(r.gw_port_id.clone())
    .bind(flag(r.enable_snat))
    .bind(r.revision_number)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Writes the mutable attributes back.
pub async fn router_update(pool: &Pool, r: &Router) -> Result<(), NetError> {
    sqlx::query(
        "UPDATE network_routers SET name = $2, description = $3, admin_state_up = $4, gw_port_id = $5, \
         enable_snat = $6, revision_number = $7, updated_at = $8 WHERE id = $1",
    )
    .bind(&r.id)
    .bind(&r.name)
    .bind(&r.description)
    .bind(flag(r.admin_state_up))
    .bind(r.gw_port_id.clone())
    .bind(flag(r.enable_snat))
    .bind(r.revision_number)
    .bind(r.updated_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// One router.
pub async fn router_get(pool: &Pool, id: &str) -> Result<Option<Router>, NetError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM network_routers WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// A project's routers, or all for `None`.
pub async fn router_list(pool: &Pool, project: Option<&str>) -> Result<Vec<Router>, NetError> {
    let rows = match project {
        Some(p) => sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM network_routers WHERE project_id = $1 ORDER BY created_at, id"
        )))
        .bind(p)
        .fetch_all(pool)
        .await?,
        None => {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM network_routers ORDER BY created_at, id"
            )))
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Deletes a router.
pub async fn router_delete(pool: &Pool, id: &str) -> Result<bool, NetError> {
    let done = sqlx::query("DELETE FROM network_routers WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// How many routers a project owns.
pub async fn router_count(pool: &Pool, project: &str) -> Result<i64, NetError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM network_routers WHERE project_id = $1")
        .bind(project)
        .fetch_one(pool)
        .await?;
    Ok(row.try_get("n")?)
}
