//! What a server view shows beyond the instance row's own columns: the
//! lock (`compute_instances.locked_by`, `locked_reason`), the tags and the
//! server group. Read in bulk for listings, one instance at a time for show.

use std::collections::BTreeMap;

use nimbus_db::{Pool, now_micros};
use sqlx::Row;

use super::instances::Instance;
use crate::error::ComputeError;

/// The lock, tags and group of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceExtras {
    /// `owner` or `admin` when locked (nova's `locked_by`).
    pub locked_by: Option<String>,
    /// Why it was locked (2.73).
    pub locked_reason: Option<String>,
    /// Tags, sorted.
    pub tags: Vec<String>,
    /// The uuid of its server group, if any (read for one instance only).
    pub server_groups: Vec<String>,
}

impl InstanceExtras {
    /// Whether the instance is locked.
    pub fn locked(&self) -> bool {
        self.locked_by.is_some()
    }
}

/// Fills the lock, tags and group of one instance.
pub async fn extras_fill_one(pool: &Pool, instance: &mut Instance) -> Result<(), ComputeError> {
    let row = sqlx::query("SELECT locked_by, locked_reason FROM compute_instances WHERE uuid = $1")
        .bind(&instance.uuid)
        .fetch_optional(pool)
        .await?;
    if let Some(row) = row {
        instance.extras.locked_by = row.try_get("locked_by")?;
        instance.extras.locked_reason = row.try_get("locked_reason")?;
    }
    instance.extras.tags = super::tags::tags_get(pool, &instance.uuid).await?;
    instance.extras.server_groups = super::server_groups::group_of_instance(pool, &instance.uuid)
        .await?
        .into_iter()
        .collect();
    Ok(())
}

/// Fills the lock and tags of every instance of a listing (the detail
/// view shows no server group).
pub async fn extras_fill(pool: &Pool, instances: &mut [Instance]) -> Result<(), ComputeError> {
    if instances.is_empty() {
        return Ok(());
    }
    let rows = sqlx::query(
        "SELECT uuid, locked_by, locked_reason FROM compute_instances WHERE locked_by IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    let mut locks: BTreeMap<String, (Option<String>, Option<String>)> = BTreeMap::new();
    for row in rows {
        locks.insert(
            row.try_get("uuid")?,
            (row.try_get("locked_by")?, row.try_get("locked_reason")?),
        );
    }
    let mut tags = super::tags::tags_all(pool).await?;
    for i in instances.iter_mut() {
        if let Some((by, reason)) = locks.remove(&i.uuid) {
            i.extras.locked_by = by;
            i.extras.locked_reason = reason;
        }
        i.extras.tags = tags.remove(&i.uuid).unwrap_or_default();
    }
    Ok(())
}

/// Sets (or with `None` clears) the lock. `reason` replaces the stored
/// one only when given, as nova's lock does; clearing drops it.
pub async fn lock_set(
    pool: &Pool,
    uuid: &str,
    locked_by: Option<&str>,
    reason: Option<&str>,
) -> Result<(), ComputeError> {
    let sql = match locked_by {
        Some(_) => {
            "UPDATE compute_instances SET locked_by = $1, \
             locked_reason = COALESCE($2, locked_reason), updated_at = $3 WHERE uuid = $4"
        }
        None => {
            "UPDATE compute_instances SET locked_by = $1, locked_reason = $2, updated_at = $3 \
             WHERE uuid = $4"
        }
    };
    sqlx::query(sql)
        .bind(locked_by)
        .bind(reason)
        .bind(now_micros())
        .bind(uuid)
        .execute(pool)
        .await?;
    Ok(())
}
