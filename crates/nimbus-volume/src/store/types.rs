//! `volume_types`.

use nimbus_db::{Pool, now_micros};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{map_from, map_to};
use crate::app::model::VolumeType;
use crate::error::VolumeError;

const COLUMNS: &str = "id, name, description, is_public, extra_specs";

fn from_row(row: &AnyRow) -> Result<VolumeType, VolumeError> {
    let specs: String = row.try_get("extra_specs")?;
    Ok(VolumeType {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        is_public: row.try_get::<i64, _>("is_public")? != 0,
        extra_specs: map_from(&specs, "extra specs")?,
    })
}

/// Every type, by name.
pub async fn type_list(pool: &Pool) -> Result<Vec<VolumeType>, VolumeError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM volume_types ORDER BY name"
    )))
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// A type by id or, failing that, by name (as Cinder's lookups do).
pub async fn type_find(pool: &Pool, id_or_name: &str) -> Result<Option<VolumeType>, VolumeError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM volume_types WHERE id = $1 OR name = $1 ORDER BY (id = $1) DESC"
    )))
    .bind(id_or_name)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// Inserts a type; `false` if the name is taken.
pub async fn type_create(pool: &Pool, t: &VolumeType) -> Result<bool, VolumeError> {
    let now = now_micros();
    let done = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO volume_types ({COLUMNS}, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)"
    )))
    .bind(&t.id)
    .bind(&t.name)
    .bind(t.description.as_deref())
    .bind(i64::from(t.is_public))
    .bind(map_to(&t.extra_specs))
    .bind(now)
    .execute(pool)
    .await;
    match done {
        Ok(_) => Ok(true),
        Err(e) if nimbus_db::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a type unless a volume uses it; `false` if one does.
pub async fn type_delete(pool: &Pool, id: &str) -> Result<bool, VolumeError> {
    let row = sqlx::query("SELECT COUNT(*) AS n FROM volume_volumes WHERE volume_type_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await?;
    if row.try_get::<i64, _>("n")? > 0 {
        return Ok(false);
    }
    sqlx::query("DELETE FROM volume_types WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(true)
}
