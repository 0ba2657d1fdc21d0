//! `identity_role_assignments`.

use nimbus_db::Pool;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::error::IdentityError;
use crate::model::{Assignment, TargetType};

fn from_row(row: &AnyRow) -> Result<Option<Assignment>, sqlx::Error> {
    let target: String = row.try_get("target_type")?;
    Ok(TargetType::parse(&target).map(|target_type| Assignment {
        user_id: row.try_get("user_id").unwrap_or_default(),
        target_type,
        target_id: row.try_get("target_id").unwrap_or_default(),
        role_id: row.try_get("role_id").unwrap_or_default(),
    }))
}

/// Grants a role; granting one already held is not an error.
pub async fn assignment_create(pool: &Pool, a: &Assignment) -> Result<(), IdentityError> {
    super::inserted(
        sqlx::query(
            "INSERT INTO identity_role_assignments (user_id, target_type, target_id, role_id)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&a.user_id)
        .bind(a.target_type.as_str())
        .bind(&a.target_id)
        .bind(&a.role_id)
        .execute(pool)
        .await,
    )?;
    Ok(())
}

/// Revokes a role; `false` if it was not granted.
pub async fn assignment_delete(pool: &Pool, a: &Assignment) -> Result<bool, IdentityError> {
    let result = sqlx::query(
        "DELETE FROM identity_role_assignments
         WHERE user_id = $1 AND target_type = $2 AND target_id = $3 AND role_id = $4",
    )
    .bind(&a.user_id)
    .bind(a.target_type.as_str())
    .bind(&a.target_id)
    .bind(&a.role_id)
    .execute(pool)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Filters for [`assignment_list`]; `None` matches anything.
#[derive(Debug, Clone, Default)]
pub struct AssignmentFilter {
    /// One user.
    pub user_id: Option<String>,
    /// One target kind.
    pub target_type: Option<TargetType>,
    /// One target id.
    pub target_id: Option<String>,
    /// One role.
    pub role_id: Option<String>,
}

/// Assignments matching `f`, in a stable order.
pub async fn assignment_list(
    pool: &Pool,
    f: &AssignmentFilter,
) -> Result<Vec<Assignment>, IdentityError> {
    let rows = sqlx::query(
        "SELECT user_id, target_type, target_id, role_id FROM identity_role_assignments
         WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR target_type = $2)
           AND ($3 IS NULL OR target_id = $3) AND ($4 IS NULL OR role_id = $4)
         ORDER BY target_type, target_id, user_id, role_id",
    )
    .bind(f.user_id.as_deref())
    .bind(f.target_type.map(TargetType::as_str))
    .bind(f.target_id.as_deref())
    .bind(f.role_id.as_deref())
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        if let Some(a) = from_row(row)? {
            out.push(a);
        }
    }
    Ok(out)
}
