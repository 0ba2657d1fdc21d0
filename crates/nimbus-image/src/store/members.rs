//! `image_members`.

use nimbus_db::{Pool, now_micros};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::app::model::{Member, MemberStatus};
use crate::error::ImageError;

fn from_row(row: &AnyRow) -> Result<Member, ImageError> {
    let status: String = row.try_get("status")?;
    Ok(Member {
        image_id: row.try_get("image_id")?,
        member_id: row.try_get("member")?,
        status: MemberStatus::parse(&status)
            .ok_or_else(|| ImageError::corrupt(format!("member status {status}")))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

const COLUMNS: &str = "image_id, member, status, created_at, updated_at";

/// Adds a pending member; `None` if it is already a member.
pub async fn member_create(
    pool: &Pool,
    image_id: &str,
    member: &str,
) -> Result<Option<Member>, ImageError> {
    let now = now_micros();
    let result = sqlx::query(
        "INSERT INTO image_members (image_id, member, status, created_at, updated_at) VALUES ($1, $2, 'pending', $3, $3)",
    )
    .bind(image_id)
    .bind(member)
    .bind(now)
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(Some(Member {
            image_id: image_id.to_string(),
            member_id: member.to_string(),
            status: MemberStatus::Pending,
            created_at: now,
            updated_at: now,
        })),
        Err(e) if nimbus_db::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// One membership.
pub async fn member_get(
    pool: &Pool,
    image_id: &str,
    member: &str,
) -> Result<Option<Member>, ImageError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM image_members WHERE image_id = $1 AND member = $2"
    )))
    .bind(image_id)
    .bind(member)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every member of an image.
pub async fn member_list(pool: &Pool, image_id: &str) -> Result<Vec<Member>, ImageError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM image_members WHERE image_id = $1 ORDER BY created_at, member"
    )))
    .bind(image_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Sets a member's answer; `None` if it is not a member.
pub async fn member_update(
    pool: &Pool,
    image_id: &str,
    member: &str,
    status: MemberStatus,
) -> Result<Option<Member>, ImageError> {
    let done = sqlx::query(
        "UPDATE image_members SET status = $3, updated_at = $4 WHERE image_id = $1 AND member = $2",
    )
    .bind(image_id)
    .bind(member)
    .bind(status.as_str())
    .bind(now_micros())
    .execute(pool)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    member_get(pool, image_id, member).await
}

/// Removes a member; `false` if it was not one.
pub async fn member_delete(pool: &Pool, image_id: &str, member: &str) -> Result<bool, ImageError> {
    let done = sqlx::query("DELETE FROM image_members WHERE image_id = $1 AND member = $2")
        .bind(image_id)
        .bind(member)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}
