//! `network_security_groups`, their rules, and each project's default group.

use nimbus_db::Pool;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{flag, get_flag};
use crate::app::model::{SecurityGroup, SecurityGroupRule};
use crate::error::NetError;

const GROUP_COLUMNS: &str =
    "id, project_id, name, description, stateful, revision_number, created_at, updated_at";
const RULE_COLUMNS: &str = "id, security_group_id, project_id, direction, ethertype, protocol, \
    port_range_min, port_range_max, remote_ip_prefix, remote_group_id, description, revision_number, \
    created_at, updated_at";

fn group_from_row(row: &AnyRow) -> Result<SecurityGroup, NetError> {
    Ok(SecurityGroup {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        stateful: get_flag(row, "stateful")?,
        rules: Vec::new(),
        revision_number: row.try_get("revision_number")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn rule_from_row(row: &AnyRow) -> Result<SecurityGroupRule, NetError> {
    Ok(SecurityGroupRule {
        id: row.try_get("id")?,
        security_group_id: row.try_get("security_group_id")?,
        project_id: row.try_get("project_id")?,
        direction: row.try_get("direction")?,
        ethertype: row.try_get("ethertype")?,
        protocol: row.try_get("protocol")?,
        port_range_min: row.try_get("port_range_min")?,
        port_range_max: row.try_get("port_range_max")?,
        remote_ip_prefix: row.try_get("remote_ip_prefix")?,
        remote_group_id: row.try_get("remote_group_id")?,
        description: row.try_get("description")?,
        revision_number: row.try_get("revision_number")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn insert_group(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    g: &SecurityGroup,
) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO network_security_groups ({GROUP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )))
    .bind(&g.id)
    .bind(&g.project_id)
    .bind(&g.name)
    .bind(&g.description)
    .bind(flag(g.stateful))
    .bind(g.revision_number)
    .bind(g.created_at)
    .bind(g.updated_at)
    .execute(&mut **tx)
    .await?;
    for r in &g.rules {
        insert_rule(tx, r).await?;
    }
    Ok(())
}

async fn insert_rule(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    r: &SecurityGroupRule,
) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO network_security_group_rules ({RULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    )))
    .bind(&r.id)
    .bind(&r.security_group_id)
    .bind(&r.project_id)
    .bind(&r.direction)
    .bind(&r.ethertype)
    .bind(r.protocol.clone())
    .bind(r.port_range_min)
    .bind(r.port_range_max)
    .bind(r.remote_ip_prefix.clone())
    .bind(r.remote_group_id.clone())
    .bind(&r.description)
    .bind(r.revision_number)
    .bind(r.created_at)
    .bind(r.updated_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Inserts a group with its rules.
pub async fn group_insert(pool: &Pool, g: &SecurityGroup) -> Result<(), NetError> {
    let mut tx = pool.begin().await?;
    insert_group(&mut tx, g).await?;
    tx.commit().await?;
    Ok(())
}

/// Inserts a project's default group unless another request made it first;
/// returns the id of the project's default group either way.
pub async fn default_group_ensure(pool: &Pool, g: &SecurityGroup) -> Result<String, NetError> {
    if let Some(id) = default_group_id(pool, &g.project_id).await? {
        return Ok(id);
    }
    let mut tx = pool.begin().await?;
    let result = async {
        insert_group(&mut tx, g).await?;
        sqlx::query(
            "INSERT INTO network_default_security_groups (project_id, security_group_id) VALUES ($1, $2)",
        )
        .bind(&g.project_id)
        .bind(&g.id)
        .execute(&mut *tx)
        .await?;
        Ok::<(), sqlx::Error>(())
    }
    .await;
    match result {
        Ok(()) => {
            tx.commit().await?;
            Ok(g.id.clone())
        }
        Err(e) if nimbus_db::is_unique_violation(&e) => {
            tx.rollback().await?;
            default_group_id(pool, &g.project_id)
                .await?
                .ok_or_else(|| NetError::corrupt("default security group vanished"))
        }
        Err(e) => Err(e.into()),
    }
}

/// The id of a project's default group, if made.
pub async fn default_group_id(pool: &Pool, project: &str) -> Result<Option<String>, NetError> {
    let row = sqlx::query(
        "SELECT security_group_id FROM network_default_security_groups WHERE project_id = $1",
    )
    .bind(project)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| r.try_get("security_group_id")).transpose()?)
}

async fn with_rules(
    pool: &Pool,
    mut groups: Vec<SecurityGroup>,
) -> Result<Vec<SecurityGroup>, NetError> {
    for g in &mut groups {
        g.rules = rules_of_group(pool, &g.id).await?;
    }
    Ok(groups)
}

/// One group with its rules.
pub async fn group_get(pool: &Pool, id: &str) -> Result<Option<SecurityGroup>, NetError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {GROUP_COLUMNS} FROM network_security_groups WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(with_rules(pool, vec![group_from_row(&row)?]).await?.pop())
}

/// A project's groups (all for `None`) with their rules.
pub async fn group_list(
    pool: &Pool,
    project: Option<&str>,
) -> Result<Vec<SecurityGroup>, NetError> {
    let rows = match project {
        Some(p) => {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {GROUP_COLUMNS} FROM network_security_groups WHERE project_id = $1 ORDER BY created_at, id"
            )))
            .bind(p)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {GROUP_COLUMNS} FROM network_security_groups ORDER BY created_at, id"
            )))
            .fetch_all(pool)
            .await?
        }
    };
    let groups = rows
        .iter()
        .map(group_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    with_rules(pool, groups).await
}

/// Writes name, description back.
pub async fn group_update(pool: &Pool, g: &SecurityGroup) -> Result<(), NetError> {
    sqlx::query(
        "UPDATE network_security_groups SET name = $2, description = $3, stateful = $4, \
         revision_number = $5, updated_at = $6 WHERE id = $1",
    )
    .bind(&g.id)
    .bind(&g.name)
    .bind(&g.description)
    .bind(flag(g.stateful))
    .bind(g.revision_number)
    .bind(g.updated_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes a group (its rules cascade).
pub async fn group_delete(pool: &Pool, id: &str) -> Result<bool, NetError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM network_security_group_rules WHERE security_group_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query("DELETE FROM network_security_groups WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Whether a port uses the group.
pub async fn group_in_use(pool: &Pool, id: &str) -> Result<bool, NetError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM network_port_security_groups WHERE security_group_id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

/// The rules of one group.
pub async fn rules_of_group(pool: &Pool, group: &str) -> Result<Vec<SecurityGroupRule>, NetError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {RULE_COLUMNS} FROM network_security_group_rules WHERE security_group_id = $1 ORDER BY created_at, id"
    )))
    .bind(group)
    .fetch_all(pool)
    .await?;
    rows.iter().map(rule_from_row).collect()
}

/// A project's rules (all for `None`).
pub async fn rule_list(
    pool: &Pool,
    project: Option<&str>,
) -> Result<Vec<SecurityGroupRule>, NetError> {
    let rows = match project {
        Some(p) => {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {RULE_COLUMNS} FROM network_security_group_rules WHERE project_id = $1 ORDER BY created_at, id"
            )))
            .bind(p)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {RULE_COLUMNS} FROM network_security_group_rules ORDER BY created_at, id"
            )))
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter().map(rule_from_row).collect()
}

/// One rule.
pub async fn rule_get(pool: &Pool, id: &str) -> Result<Option<SecurityGroupRule>, NetError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {RULE_COLUMNS} FROM network_security_group_rules WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(rule_from_row).transpose()
}

/// Inserts a rule.
pub async fn rule_insert(pool: &Pool, r: &SecurityGroupRule) -> Result<(), NetError> {
    let mut tx = pool.begin().await?;
    insert_rule(&mut tx, r).await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a rule.
pub async fn rule_delete(pool: &Pool, id: &str) -> Result<bool, NetError> {
    let done = sqlx::query("DELETE FROM network_security_group_rules WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// How many groups / rules a project owns.
pub async fn counts(pool: &Pool, project: &str) -> Result<(i64, i64), NetError> {
    let g = sqlx::query("SELECT COUNT(*) AS n FROM network_security_groups WHERE project_id = $1")
        .bind(project)
        .fetch_one(pool)
        .await?;
    let r =
        sqlx::query("SELECT COUNT(*) AS n FROM network_security_group_rules WHERE project_id = $1")
            .bind(project)
            .fetch_one(pool)
            .await?;
    Ok((g.try_get("n")?, r.try_get("n")?))
}
