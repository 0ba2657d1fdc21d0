//! `compute_instance_tags`: nova's `tags` table for instances.

use std::collections::BTreeMap;

use nimbus_db::Pool;
use sqlx::Row;

use crate::error::ComputeError;

/// The tags of an instance, sorted.
pub async fn tags_get(pool: &Pool, uuid: &str) -> Result<Vec<String>, ComputeError> {
    let rows =
        sqlx::query("SELECT tag FROM compute_instance_tags WHERE instance_uuid = $1 ORDER BY tag")
            .bind(uuid)
            .fetch_all(pool)
            .await?;
    rows.iter()
        .map(|r| r.try_get("tag").map_err(ComputeError::from))
        .collect()
}

/// Every instance's tags, sorted, by instance uuid.
pub async fn tags_all(pool: &Pool) -> Result<BTreeMap<String, Vec<String>>, ComputeError> {
    let rows = sqlx::query("SELECT instance_uuid, tag FROM compute_instance_tags ORDER BY tag")
        .fetch_all(pool)
        .await?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows {
        out.entry(row.try_get("instance_uuid")?)
            .or_default()
            .push(row.try_get("tag")?);
    }
    Ok(out)
}

/// Adds one tag unless the instance has `max` already; returns whether it
/// was added (false: already there). Err with `None` when over `max`.
pub async fn tag_add(
    pool: &Pool,
    uuid: &str,
    tag: &str,
    max: usize,
) -> Result<Result<bool, TooMany>, ComputeError> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query("SELECT tag FROM compute_instance_tags WHERE instance_uuid = $1")
        .bind(uuid)
        .fetch_all(&mut *tx)
        .await?;
    let mut present = Vec::with_capacity(rows.len());
    for row in &rows {
        present.push(row.try_get::<String, _>("tag")?);
    }
    if present.len() >= max {
        return Ok(Err(TooMany));
    }
    if present.iter().any(|t| t == tag) {
        return Ok(Ok(false));
    }
    sqlx::query("INSERT INTO compute_instance_tags (instance_uuid, tag) VALUES ($1, $2)")
        .bind(uuid)
        .bind(tag)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Ok(true))
}

/// The instance already has the most tags allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany;

/// Replaces all tags of an instance (duplicates in `tags` kept once).
pub async fn tags_replace(pool: &Pool, uuid: &str, tags: &[String]) -> Result<(), ComputeError> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM compute_instance_tags WHERE instance_uuid = $1")
        .bind(uuid)
        .execute(&mut *tx)
        .await?;
    let mut seen = std::collections::BTreeSet::new();
    for tag in tags {
        if !seen.insert(tag) {
            continue;
        }
        sqlx::query("INSERT INTO compute_instance_tags (instance_uuid, tag) VALUES ($1, $2)")
            .bind(uuid)
            .bind(tag)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Removes one tag; false when the instance did not have it.
pub async fn tag_delete(pool: &Pool, uuid: &str, tag: &str) -> Result<bool, ComputeError> {
    let done =
        sqlx::query("DELETE FROM compute_instance_tags WHERE instance_uuid = $1 AND tag = $2")
            .bind(uuid)
            .bind(tag)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() > 0)
}
