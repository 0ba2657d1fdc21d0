//! `network_subnets`.

use nimbus_db::Pool;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{flag, get_flag, get_json};
use crate::app::model::Subnet;
use crate::error::NetError;

const COLUMNS: &str = "id, network_id, project_id, name, description, ip_version, cidr, gateway_ip, \
    enable_dhcp, ipv6_ra_mode, ipv6_address_mode, dns_nameservers, host_routes, allocation_pools, \
    revision_number, created_at, updated_at";

/// What reads select: the columns and the network's `external` flag.
const SELECT: &str = "id, network_id, project_id, name, description, ip_version, cidr, gateway_ip, \
    enable_dhcp, ipv6_ra_mode, ipv6_address_mode, dns_nameservers, host_routes, allocation_pools, \
    revision_number, created_at, updated_at, COALESCE((SELECT n.external FROM network_networks n \
    WHERE n.id = network_subnets.network_id), 0) AS router_external";

fn from_row(row: &AnyRow) -> Result<Subnet, NetError> {
    let version: i64 = row.try_get("ip_version")?;
    Ok(Subnet {
        id: row.try_get("id")?,
        network_id: row.try_get("network_id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        ip_version: u8::try_from(version)
            .map_err(|_| NetError::corrupt(format!("ip_version {version}")))?,
        cidr: row.try_get("cidr")?,
        gateway_ip: row.try_get("gateway_ip")?,
        enable_dhcp: get_flag(row, "enable_dhcp")?,
        ipv6_ra_mode: row.try_get("ipv6_ra_mode")?,
        ipv6_address_mode: row.try_get("ipv6_address_mode")?,
        dns_nameservers: get_json(row, "dns_nameservers")?,
        host_routes: get_json(row, "host_routes")?,
        allocation_pools: get_json(row, "allocation_pools")?,
        router_external: get_flag(row, "router_external")?,
        revision_number: row.try_get("revision_number")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts a subnet.
pub async fn subnet_insert(pool: &Pool, s: &Subnet) -> Result<(), NetError> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO network_subnets ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    )))
    .bind(&s.id)
    .bind(&s.network_id)
    .bind(&s.project_id)
    .bind(&s.name)
    .bind(&s.description)
    .bind(i64::from(s.ip_version))
    .bind(&s.cidr)
    .bind(s.gateway_ip.clone())
    .bind(flag(s.enable_dhcp))
    .bind(s.ipv6_ra_mode.clone())
    .bind(s.ipv6_address_mode.clone())
    .bind(serde_json::to_string(&s.dns_nameservers)?)
    .bind(serde_json::to_string(&s.host_routes)?)
    .bind(serde_json::to_string(&s.allocation_pools)?)
    .bind(s.revision_number)
    .bind(s.created_at)
    .bind(s.updated_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Writes the mutable attributes back.
pub async fn subnet_update(pool: &Pool, s: &Subnet) -> Result<(), NetError> {
    sqlx::query(
        "UPDATE network_subnets SET name = $2, description = $3, gateway_ip = $4, enable_dhcp = $5, \
         dns_nameservers = $6, host_routes = $7, allocation_pools = $8, revision_number = $9, \
         updated_at = $10 WHERE id = $1",
    )
    .bind(&s.id)
    .bind(&s.name)
    .bind(&s.description)
    .bind(s.gateway_ip.clone())
    .bind(flag(s.enable_dhcp))
    .bind(serde_json::to_string(&s.dns_nameservers)?)
    .bind(serde_json::to_string(&s.host_routes)?)
    .bind(serde_json::to_string(&s.allocation_pools)?)
    .bind(s.revision_number)
    .bind(s.updated_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// One subnet.
pub async fn subnet_get(pool: &Pool, id: &str) -> Result<Option<Subnet>, NetError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {SELECT} FROM network_subnets WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The subnets of one network.
pub async fn subnets_of_network(pool: &Pool, network_id: &str) -> Result<Vec<Subnet>, NetError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {SELECT} FROM network_subnets WHERE network_id = $1 ORDER BY created_at, id"
    )))
    .bind(network_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Subnets `project` may see: on its own, shared or external networks (or
/// all for `None`).
pub async fn subnet_list(pool: &Pool, project: Option<&str>) -> Result<Vec<Subnet>, NetError> {
    let rows = match project {
        None => {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {SELECT} FROM network_subnets ORDER BY created_at, id"
            )))
            .fetch_all(pool)
            .await?
        }
        Some(p) => {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {SELECT} FROM network_subnets WHERE project_id = $1 OR network_id IN \
                 (SELECT id FROM network_networks WHERE project_id = $1 OR shared = 1 OR external = 1) \
                 ORDER BY created_at, id"
            )))
            .bind(p)
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Deletes a subnet and, in the same transaction, every address ports hold
/// on it (those ports get a new revision), as neutron's `delete_subnet`
/// does after its in-use checks. A port created meanwhile loses its address
/// with the rest instead of keeping one on a subnet that is gone.
pub async fn subnet_delete(pool: &Pool, id: &str, now: i64) -> Result<bool, NetError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE network_ports SET revision_number = revision_number + 1, updated_at = $2 \
         WHERE id IN (SELECT port_id FROM network_ip_allocations WHERE subnet_id = $1)",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM network_ip_allocations WHERE subnet_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query("DELETE FROM network_subnets WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// How many subnets a project owns.
pub async fn subnet_count(pool: &Pool, project: &str) -> Result<i64, NetError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM network_subnets WHERE project_id = $1")
        .bind(project)
        .fetch_one(pool)
        .await?;
    Ok(row.try_get("n")?)
}
