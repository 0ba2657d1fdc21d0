//! `compute_server_groups` and `compute_server_group_members` (nova's
//! `instance_groups`, `instance_group_policy` and `instance_group_member`
//! in one policy column and a JSON rules column).

use nimbus_db::Pool;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::ComputeError;

/// A server group as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerGroup {
    /// UUID (the API's `id`).
    pub uuid: String,
    /// Name.
    pub name: String,
    /// Owning project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// `affinity`, `anti-affinity`, `soft-affinity` or `soft-anti-affinity`.
    pub policy: String,
    /// `max_server_per_host` (anti-affinity only), if set.
    pub max_server_per_host: Option<i64>,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

/// A member that is not deleted, as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Instance uuid.
    pub uuid: String,
    /// Its host ('' when it never got one).
    pub host: String,
    /// Its multi-create reservation.
    pub reservation_id: String,
    /// nova's vm_state.
    pub vm_state: String,
    /// nova's task_state.
    pub task_state: Option<String>,
}

const COLUMNS: &str = "uuid, name, project_id, user_id, policy, rules, created_at";

fn from_row(row: &AnyRow) -> Result<ServerGroup, ComputeError> {
    let rules: String = row.try_get("rules")?;
    let rules: serde_json::Value =
        serde_json::from_str(&rules).map_err(|_| ComputeError::corrupt("server group rules"))?;
    Ok(ServerGroup {
        uuid: row.try_get("uuid")?,
        name: row.try_get("name")?,
        project_id: row.try_get("project_id")?,
        user_id: row.try_get("user_id")?,
        policy: row.try_get("policy")?,
        max_server_per_host: rules.get("max_server_per_host").and_then(|v| v.as_i64()),
        created_at: row.try_get("created_at")?,
    })
}

/// Inserts a group.
pub async fn group_create(pool: &Pool, g: &ServerGroup) -> Result<(), ComputeError> {
    let rules = match g.max_server_per_host {
        Some(n) => serde_json::json!({"max_server_per_host": n}),
        None => serde_json::json!({}),
    };
    sqlx::query(
        "INSERT INTO compute_server_groups (uuid, name, project_id, user_id, policy, rules, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&g.uuid)
    .bind(&g.name)
    .bind(&g.project_id)
    .bind(&g.user_id)
    .bind(&g.policy)
    .bind(rules.to_string())
    .bind(g.created_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// One group by uuid.
pub async fn group_get(pool: &Pool, uuid: &str) -> Result<Option<ServerGroup>, ComputeError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM compute_server_groups WHERE uuid = $1"
    )))
    .bind(uuid)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// The groups of `project` (all when `None`), oldest first.
pub async fn group_list(
    pool: &Pool,
    project: Option<&str>,
) -> Result<Vec<ServerGroup>, ComputeError> {
    let rows = match project {
        Some(p) => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM compute_server_groups WHERE project_id = $1 \
                 ORDER BY created_at, uuid"
            )))
            .bind(p)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM compute_server_groups ORDER BY created_at, uuid"
            )))
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// How many groups `project` has.
pub async fn group_count(pool: &Pool, project: &str) -> Result<i64, ComputeError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM compute_server_groups WHERE project_id = $1")
        .bind(project)
        .fetch_one(pool)
        .await?;
    Ok(row.try_get("n")?)
}

/// Deletes a group and its memberships; false when it was not there.
pub async fn group_delete(pool: &Pool, uuid: &str) -> Result<bool, ComputeError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM compute_server_group_members WHERE group_uuid = $1")
        .bind(uuid)
        .execute(&mut *tx)
        .await?;
    let done = sqlx::query("DELETE FROM compute_server_groups WHERE uuid = $1")
        .bind(uuid)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// The members of a group whose instances are not deleted.
pub async fn members_live(pool: &Pool, group: &str) -> Result<Vec<Member>, ComputeError> {
    let rows = sqlx::query(
        "SELECT i.uuid, i.host, i.reservation_id, i.vm_state, i.task_state \
         FROM compute_server_group_members m JOIN compute_instances i ON i.uuid = m.instance_uuid \
         WHERE m.group_uuid = $1 AND i.deleted = 0 ORDER BY i.created_at, i.uuid",
    )
    .bind(group)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(Member {
            uuid: row.try_get("uuid")?,
            host: row.try_get("host")?,
            reservation_id: row.try_get("reservation_id")?,
            vm_state: row.try_get("vm_state")?,
            task_state: row.try_get("task_state")?,
        });
    }
    Ok(out)
}

/// How many live members of `group` belong to `user` (nova's
/// `server_group_members` quota counts per user).
pub async fn member_count_by_user(
    pool: &Pool,
    group: &str,
    user: &str,
) -> Result<i64, ComputeError> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM compute_server_group_members m \
         JOIN compute_instances i ON i.uuid = m.instance_uuid \
         WHERE m.group_uuid = $1 AND m.user_id = $2 AND i.deleted = 0",
    )
    .bind(group)
    .bind(user)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get("n")?)
}

/// Makes instances members of `group`.
pub async fn members_add(
    pool: &Pool,
    group: &str,
    user: &str,
    instances: &[String],
) -> Result<(), ComputeError> {
    let mut tx = pool.begin().await?;
    for uuid in instances {
        sqlx::query(
            "INSERT INTO compute_server_group_members (group_uuid, instance_uuid, user_id) \
             VALUES ($1, $2, $3)",
        )
        .bind(group)
        .bind(uuid)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Drops memberships (a create that failed its quota recheck).
pub async fn members_remove(pool: &Pool, instances: &[String]) -> Result<(), ComputeError> {
    for uuid in instances {
        sqlx::query("DELETE FROM compute_server_group_members WHERE instance_uuid = $1")
            .bind(uuid)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// The group an instance is a member of.
pub async fn group_of_instance(pool: &Pool, uuid: &str) -> Result<Option<String>, ComputeError> {
    let row =
        sqlx::query("SELECT group_uuid FROM compute_server_group_members WHERE instance_uuid = $1")
            .bind(uuid)
            .fetch_optional(pool)
            .await?;
    Ok(match row {
        Some(r) => Some(r.try_get("group_uuid")?),
        None => None,
    })
}

/// Clears an instance's host (it was never scheduled: nova leaves the
/// host of an instance that found no valid host empty).
pub async fn instance_clear_host(pool: &Pool, uuid: &str) -> Result<(), ComputeError> {
    sqlx::query("UPDATE compute_instances SET host = '' WHERE uuid = $1")
        .bind(uuid)
        .execute(pool)
        .await?;
    Ok(())
}
