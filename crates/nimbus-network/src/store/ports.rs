//! `network_ports`, `network_ip_allocations` (the IPAM table) and
//! `network_port_security_groups`. A port and its addresses are written in
//! one transaction; the primary key of the allocation table is what makes an
//! address unique, so concurrent creations cannot both win.

use std::collections::HashMap;

use nimbus_db::Pool;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Filter, flag, get_flag, get_json};
use crate::app::model::{FixedIp, Port};
use crate::error::NetError;

const COLUMNS: &str = "p.id, p.network_id, p.project_id, p.name, p.description, p.mac_address, \
    p.admin_state_up, p.device_id, p.device_owner, p.host_id, p.port_security_enabled, \
    p.allowed_address_pairs, p.revision_number, p.created_at, p.updated_at";

fn from_row(row: &AnyRow) -> Result<Port, NetError> {
    Ok(Port {
        id: row.try_get("id")?,
        network_id: row.try_get("network_id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        mac_address: row.try_get("mac_address")?,
        admin_state_up: get_flag(row, "admin_state_up")?,
        device_id: row.try_get("device_id")?,
        device_owner: row.try_get("device_owner")?,
        host_id: row.try_get("host_id")?,
        port_security_enabled: get_flag(row, "port_security_enabled")?,
        allowed_address_pairs: get_json(row, "allowed_address_pairs")?,
        fixed_ips: Vec::new(),
        security_groups: Vec::new(),
        revision_number: row.try_get("revision_number")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Whether a write went in or hit a unique constraint (an address or MAC
/// someone else took first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Committed.
    Done,
    /// Rolled back on a unique violation.
    Duplicate,
}

fn written(result: Result<(), sqlx::Error>) -> Result<Written, NetError> {
    match result {
        Ok(()) => Ok(Written::Done),
        Err(e) if nimbus_db::is_unique_violation(&e) => Ok(Written::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// Which ports to list; `None` fields do not filter.
#[derive(Debug, Default, Clone)]
pub struct PortQuery<'a> {
    /// Owning project (tenancy).
    pub project: Option<&'a str>,
    /// One port.
    pub id: Option<&'a str>,
    /// On one network.
    pub network_id: Option<&'a str>,
    /// Used by one device.
    pub device_id: Option<&'a str>,
    /// Owned by one device owner.
    pub device_owner: Option<&'a str>,
}

/// Inserts a port, its addresses and security groups in one transaction.
pub async fn port_insert(pool: &Pool, port: &Port) -> Result<Written, NetError> {
    let mut tx = pool.begin().await?;
    let result = async {
        sqlx::query(
            "INSERT INTO network_ports (id, network_id, project_id, name, description, mac_address, \
             admin_state_up, device_id, device_owner, host_id, port_security_enabled, \
             allowed_address_pairs, revision_number, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&port.id)
        .bind(&port.network_id)
        .bind(&port.project_id)
        .bind(&port.name)
        .bind(&port.description)
        .bind(&port.mac_address)
        .bind(flag(port.admin_state_up))
        .bind(&port.device_id)
        .bind(&port.device_owner)
        .bind(&port.host_id)
        .bind(flag(port.port_security_enabled))
        .bind(serde_json::to_string(&port.allowed_address_pairs).unwrap_or_else(|_| "[]".into()))
        .bind(port.revision_number)
        .bind(port.created_at)
        .bind(port.updated_at)
        .execute(&mut *tx)
        .await?;
        insert_children(&mut tx, port).await
    }
    .await;
    let outcome = written(result)?;
    if outcome == Written::Done {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(outcome)
}

async fn insert_children(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    port: &Port,
) -> Result<(), sqlx::Error> {
    for ip in &port.fixed_ips {
        sqlx::query(
            "INSERT INTO network_ip_allocations (subnet_id, ip_address, port_id, network_id) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&ip.subnet_id)
        .bind(&ip.ip_address)
        .bind(&port.id)
        .bind(&port.network_id)
        .execute(&mut **tx)
        .await?;
    }
    for sg in &port.security_groups {
        sqlx::query(
            "INSERT INTO network_port_security_groups (port_id, security_group_id) VALUES ($1, $2)",
        )
        .bind(&port.id)
        .bind(sg)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Rewrites a port with its addresses and security groups in one
/// transaction.
pub async fn port_update(pool: &Pool, port: &Port) -> Result<Written, NetError> {
    let mut tx = pool.begin().await?;
    let result = async {
        sqlx::query(
            "UPDATE network_ports SET name = $2, description = $3, admin_state_up = $4, \
             device_id = $5, device_owner = $6, host_id = $7, port_security_enabled = $8, \
             allowed_address_pairs = $9, revision_number = $10, updated_at = $11, mac_address = $12, \
             project_id = $13 WHERE id = $1",
        )
        .bind(&port.id)
        .bind(&port.name)
        .bind(&port.description)
        .bind(flag(port.admin_state_up))
        .bind(&port.device_id)
        .bind(&port.device_owner)
        .bind(&port.host_id)
        .bind(flag(port.port_security_enabled))
        .bind(serde_json::to_string(&port.allowed_address_pairs).unwrap_or_else(|_| "[]".into()))
        .bind(port.revision_number)
        .bind(port.updated_at)
        .bind(&port.mac_address)
        .bind(&port.project_id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM network_ip_allocations WHERE port_id = $1")
            .bind(&port.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM network_port_security_groups WHERE port_id = $1")
            .bind(&port.id)
            .execute(&mut *tx)
            .await?;
        insert_children(&mut tx, port).await
    }
    .await;
    let outcome = written(result)?;
    if outcome == Written::Done {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(outcome)
}

/// Ports matching `q`, with their addresses and security groups.
pub async fn port_list(pool: &Pool, q: &PortQuery<'_>) -> Result<Vec<Port>, NetError> {
    let mut filter = Filter::default();
    filter.eq("p.project_id", q.project);
    filter.eq("p.id", q.id);
    filter.eq("p.network_id", q.network_id);
    filter.eq("p.device_id", q.device_id);
    filter.eq("p.device_owner", q.device_owner);
    let clause = filter.clause();
    let rows = filter
        .query(format!(
            "SELECT {COLUMNS} FROM network_ports p{clause} ORDER BY p.created_at, p.id"
        ))
        .fetch_all(pool)
        .await?;
    let mut ports = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    if ports.is_empty() {
        return Ok(ports);
    }
    let index: HashMap<String, usize> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i))
        .collect();
    let ips = filter
        .query(format!(
            "SELECT a.port_id, a.subnet_id, a.ip_address FROM network_ip_allocations a \
             JOIN network_ports p ON p.id = a.port_id{clause} ORDER BY a.port_id, a.subnet_id, a.ip_address"
        ))
        .fetch_all(pool)
        .await?;
    for row in &ips {
        let port_id: String = row.try_get("port_id")?;
        if let Some(&i) = index.get(&port_id) {
            ports[i].fixed_ips.push(FixedIp {
                subnet_id: row.try_get("subnet_id")?,
                ip_address: row.try_get("ip_address")?,
            });
        }
    }
    let sgs = filter
        .query(format!(
            "SELECT s.port_id, s.security_group_id FROM network_port_security_groups s \
             JOIN network_ports p ON p.id = s.port_id{clause} ORDER BY s.port_id, s.security_group_id"
        ))
        .fetch_all(pool)
        .await?;
    for row in &sgs {
        let port_id: String = row.try_get("port_id")?;
        if let Some(&i) = index.get(&port_id) {
            ports[i]
                .security_groups
                .push(row.try_get("security_group_id")?);
        }
    }
    Ok(ports)
}

/// One port, whoever owns it.
pub async fn port_get(pool: &Pool, id: &str) -> Result<Option<Port>, NetError> {
    let q = PortQuery {
        id: Some(id),
        ..PortQuery::default()
    };
    Ok(port_list(pool, &q).await?.into_iter().next())
}

/// Deletes a port; its addresses go with it (the allocation rows cascade).
pub async fn port_delete(pool: &Pool, id: &str) -> Result<bool, NetError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM network_ip_allocations WHERE port_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM network_port_security_groups WHERE port_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query("DELETE FROM network_ports WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Every address allocated on a subnet.
pub async fn subnet_addresses(pool: &Pool, subnet_id: &str) -> Result<Vec<String>, NetError> {
    let rows = sqlx::query("SELECT ip_address FROM network_ip_allocations WHERE subnet_id = $1")
        .bind(subnet_id)
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String, _>("ip_address").map_err(Into::into))
        .collect()
}

/// The port holding `ip` on a subnet.
pub async fn address_owner(
    pool: &Pool,
    subnet_id: &str,
    ip: &str,
) -> Result<Option<String>, NetError> {
    let row = sqlx::query(
        "SELECT port_id FROM network_ip_allocations WHERE subnet_id = $1 AND ip_address = $2",
    )
    .bind(subnet_id)
    .bind(ip)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.try_get("port_id")).transpose()?)
}

/// Ids and owners of the ports holding an address on a subnet.
pub async fn ports_on_subnet(
    pool: &Pool,
    subnet_id: &str,
) -> Result<Vec<(String, String)>, NetError> {
    let rows = sqlx::query(
        "SELECT p.id, p.device_owner FROM network_ports p JOIN network_ip_allocations a \
         ON a.port_id = p.id WHERE a.subnet_id = $1",
    )
    .bind(subnet_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("device_owner")?)))
        .collect()
}

/// How many ports a project owns.
pub async fn port_count(pool: &Pool, project: &str) -> Result<i64, NetError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM network_ports WHERE project_id = $1")
        .bind(project)
        .fetch_one(pool)
        .await?;
    Ok(row.try_get("n")?)
}

/// Marks `port_id` unused: no device, no host.
pub async fn port_unbind(pool: &Pool, port_id: &str, now: i64) -> Result<(), NetError> {
    sqlx::query(AssertSqlSafe(
        "UPDATE network_ports SET device_id = '', device_owner = '', host_id = '', \
         revision_number = revision_number + 1, updated_at = $2 WHERE id = $1"
            .to_string(),
    ))
    .bind(port_id)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether a MAC is taken on a network.
pub async fn mac_in_use(pool: &Pool, network_id: &str, mac: &str) -> Result<bool, NetError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM network_ports WHERE network_id = $1 AND mac_address = $2",
    )
    .bind(network_id)
    .bind(mac)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}
