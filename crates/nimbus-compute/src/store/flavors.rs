//! `compute_flavors`, their extra specs and access lists.

use std::collections::BTreeMap;

use nimbus_db::{Db, is_unique_violation};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::app::flavors::Flavor;
use crate::error::ComputeError;

const COLUMNS: &str = "flavorid, id, name, vcpus, memory_mb, root_gb, ephemeral_gb, swap, \
     rxtx_factor, is_public, disabled, description, created_at";

/// Which flavors a listing returns.
#[derive(Debug, Clone, Default)]
pub struct FlavorFilter {
    /// `Some(true)`: public flavors plus those shared with `project`;
    /// `Some(false)`: private ones only; `None`: all.
    pub is_public: Option<bool>,
    /// The caller's project, for flavors shared with it.
    pub project: Option<String>,
    /// Hide disabled flavors.
    pub hide_disabled: bool,
    /// `minRam`.
    pub min_ram: Option<i64>,
    /// `minDisk`.
    pub min_disk: Option<i64>,
}

fn flavor_from(row: &AnyRow) -> Result<Flavor, ComputeError> {
    let rxtx: String = row.try_get("rxtx_factor")?;
    Ok(Flavor {
        id: row.try_get("flavorid")?,
        internal_id: row.try_get("id")?,
        name: row.try_get("name")?,
        vcpus: row.try_get("vcpus")?,
        memory_mb: row.try_get("memory_mb")?,
        root_gb: row.try_get("root_gb")?,
        ephemeral_gb: row.try_get("ephemeral_gb")?,
        swap: row.try_get("swap")?,
        rxtx_factor: rxtx
            .parse()
            .map_err(|_| ComputeError::corrupt(format!("rxtx_factor {rxtx}")))?,
        is_public: row.try_get::<i64, _>("is_public")? != 0,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
        extra_specs: BTreeMap::new(),
    })
}

/// Whether a unique constraint refused the insert.
#[derive(Debug)]
pub enum Inserted {
    /// The flavor is stored.
    Ok,
    /// Another flavor has this name.
    NameTaken,
    /// Another flavor has this id.
    IdTaken,
}

/// Stores a new flavor (its `internal_id` is assigned here) with its specs.
pub async fn flavor_insert(db: &Db, flavor: &Flavor) -> Result<Inserted, ComputeError> {
    if flavor_get(db, &flavor.id).await?.is_some() {
        return Ok(Inserted::IdTaken);
    }
    // The integer id is max + 1; a concurrent insert that took it fails the
    // UNIQUE constraint and we try the next one.
    for _ in 0..5 {
        let mut tx = db.pool().begin().await?;
        let result = sqlx::query(
            "INSERT INTO compute_flavors (flavorid, id, name, vcpus, memory_mb, root_gb, \
             ephemeral_gb, swap, rxtx_factor, is_public, disabled, description, created_at) \
             VALUES ($1, (SELECT COALESCE(MAX(id), 0) + 1 FROM compute_flavors), $2, $3, $4, \
             $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&flavor.id)
        .bind(&flavor.name)
        .bind(flavor.vcpus)
        .bind(flavor.memory_mb)
        .bind(flavor.root_gb)
        .bind(flavor.ephemeral_gb)
        .bind(flavor.swap)
        .bind(flavor.rxtx_factor.to_string())
        .bind(i64::from(flavor.is_public))
        .bind(i64::from(flavor.disabled))
        .bind(flavor.description.as_deref())
        .bind(flavor.created_at)
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {}
            Err(err) if is_unique_violation(&err) => {
                drop(tx);
                if flavor_get(db, &flavor.id).await?.is_some() {
                    return Ok(Inserted::IdTaken);
                }
                if flavor_by_name(db, &flavor.name).await? {
                    return Ok(Inserted::NameTaken);
                }
                continue;
            }
            Err(err) => return Err(err.into()),
        }
        for (key, value) in &flavor.extra_specs {
            sqlx::query(
                "INSERT INTO compute_flavor_extra_specs (flavorid, spec_key, spec_value) \
                 VALUES ($1, $2, $3)",
            )
            .bind(&flavor.id)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        return Ok(Inserted::Ok);
    }
    Err(ComputeError::new(
        crate::error::ComputeErrorKind::Db,
        "could not allocate a flavor id",
    ))
}

async fn flavor_by_name(db: &Db, name: &str) -> Result<bool, ComputeError> {
    let row = sqlx::query("SELECT flavorid FROM compute_flavors WHERE name = $1")
        .bind(name)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// The flavor with API id `flavorid`, with its extra specs.
pub async fn flavor_get(db: &Db, flavorid: &str) -> Result<Option<Flavor>, ComputeError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM compute_flavors WHERE flavorid = $1"
    )))
    .bind(flavorid)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut flavor = flavor_from(&row)?;
    flavor.extra_specs = extra_specs_get(db, flavorid).await?;
    Ok(Some(flavor))
}

/// Flavors matching `filter`, ordered by `sort_key` (a column name the
/// caller validated) and `descending`, with their extra specs.
pub async fn flavor_list(
    db: &Db,
    filter: &FlavorFilter,
    sort_key: &str,
    descending: bool,
) -> Result<Vec<Flavor>, ComputeError> {
    let mut sql = format!("SELECT {COLUMNS} FROM compute_flavors WHERE 1 = 1");
    let mut n = 0;
    let mut binds: Vec<BindValue> = Vec::new();
    match filter.is_public {
        Some(true) => match &filter.project {
            Some(project) => {
                n += 1;
                sql.push_str(&format!(
                    " AND (is_public = 1 OR flavorid IN \
                     (SELECT flavorid FROM compute_flavor_projects WHERE project_id = ${n}))"
                ));
                binds.push(BindValue::Text(project.clone()));
            }
            None => sql.push_str(" AND is_public = 1"),
        },
        Some(false) => sql.push_str(" AND is_public = 0"),
        None => {}
    }
    if filter.hide_disabled {
        sql.push_str(" AND disabled = 0");
    }
    if let Some(min) = filter.min_ram {
        n += 1;
        sql.push_str(&format!(" AND memory_mb >= ${n}"));
        binds.push(BindValue::Int(min));
    }
    if let Some(min) = filter.min_disk {
        n += 1;
        sql.push_str(&format!(" AND root_gb >= ${n}"));
        binds.push(BindValue::Int(min));
    }
    let dir = if descending { "DESC" } else { "ASC" };
    sql.push_str(&format!(" ORDER BY {sort_key} {dir}, flavorid {dir}"));
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for bind in binds {
        query = match bind {
            BindValue::Text(s) => query.bind(s),
            BindValue::Int(i) => query.bind(i),
        };
    }
    let rows = query.fetch_all(db.pool()).await?;
    let mut flavors = rows
        .iter()
        .map(flavor_from)
        .collect::<Result<Vec<_>, _>>()?;
    let all_specs =
        sqlx::query("SELECT flavorid, spec_key, spec_value FROM compute_flavor_extra_specs")
            .fetch_all(db.pool())
            .await?;
    let mut by_flavor: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in all_specs {
        by_flavor
            .entry(row.try_get("flavorid")?)
            .or_default()
            .insert(row.try_get("spec_key")?, row.try_get("spec_value")?);
    }
    for flavor in &mut flavors {
        if let Some(specs) = by_flavor.remove(&flavor.id) {
            flavor.extra_specs = specs;
        }
    }
    Ok(flavors)
}

enum BindValue {
    Text(String),
    Int(i64),
}

/// Sets a flavor's description; false if it does not exist.
pub async fn flavor_set_description(
    db: &Db,
    flavorid: &str,
    description: Option<&str>,
    now: i64,
) -> Result<bool, ComputeError> {
    let done = sqlx::query(
        "UPDATE compute_flavors SET description = $1, updated_at = $2 WHERE flavorid = $3",
    )
    .bind(description)
    .bind(now)
    .bind(flavorid)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes a flavor with its specs and access rows; false if missing.
pub async fn flavor_delete(db: &Db, flavorid: &str) -> Result<bool, ComputeError> {
    let mut tx = db.pool().begin().await?;
    for table in ["compute_flavor_extra_specs", "compute_flavor_projects"] {
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE flavorid = $1"
        )))
        .bind(flavorid)
        .execute(&mut *tx)
        .await?;
    }
    let done = sqlx::query("DELETE FROM compute_flavors WHERE flavorid = $1")
        .bind(flavorid)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done.rows_affected() > 0)
}

/// A flavor's extra specs.
pub async fn extra_specs_get(
    db: &Db,
    flavorid: &str,
) -> Result<BTreeMap<String, String>, ComputeError> {
    let rows = sqlx::query(
        "SELECT spec_key, spec_value FROM compute_flavor_extra_specs WHERE flavorid = $1",
    )
    .bind(flavorid)
    .fetch_all(db.pool())
    .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        out.insert(row.try_get("spec_key")?, row.try_get("spec_value")?);
    }
    Ok(out)
}

/// Creates or replaces `specs` on a flavor (others stay).
pub async fn extra_specs_put(
    db: &Db,
    flavorid: &str,
    specs: &BTreeMap<String, String>,
) -> Result<(), ComputeError> {
    let mut tx = db.pool().begin().await?;
    for (key, value) in specs {
        sqlx::query("DELETE FROM compute_flavor_extra_specs WHERE flavorid = $1 AND spec_key = $2")
            .bind(flavorid)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO compute_flavor_extra_specs (flavorid, spec_key, spec_value) \
             VALUES ($1, $2, $3)",
        )
        .bind(flavorid)
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Removes one spec; false if it was not set.
pub async fn extra_spec_delete(db: &Db, flavorid: &str, key: &str) -> Result<bool, ComputeError> {
    let done =
        sqlx::query("DELETE FROM compute_flavor_extra_specs WHERE flavorid = $1 AND spec_key = $2")
            .bind(flavorid)
            .bind(key)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected() > 0)
}

/// The projects a flavor is shared with, sorted.
pub async fn access_list(db: &Db, flavorid: &str) -> Result<Vec<String>, ComputeError> {
    let rows = sqlx::query(
        "SELECT project_id FROM compute_flavor_projects WHERE flavorid = $1 ORDER BY project_id",
    )
    .bind(flavorid)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| r.try_get("project_id").map_err(ComputeError::from))
        .collect()
}

/// Whether `project` may use the private flavor `flavorid`.
pub async fn access_has(db: &Db, flavorid: &str, project: &str) -> Result<bool, ComputeError> {
    let row = sqlx::query(
        "SELECT project_id FROM compute_flavor_projects WHERE flavorid = $1 AND project_id = $2",
    )
    .bind(flavorid)
    .bind(project)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// Shares a flavor with a project; false if it already was.
pub async fn access_add(db: &Db, flavorid: &str, project: &str) -> Result<bool, ComputeError> {
    let result =
        sqlx::query("INSERT INTO compute_flavor_projects (flavorid, project_id) VALUES ($1, $2)")
            .bind(flavorid)
            .bind(project)
            .execute(db.pool())
            .await;
    match result {
        Ok(_) => Ok(true),
        Err(err) if is_unique_violation(&err) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// Stops sharing; false if it was not shared.
pub async fn access_remove(db: &Db, flavorid: &str, project: &str) -> Result<bool, ComputeError> {
    let done =
        sqlx::query("DELETE FROM compute_flavor_projects WHERE flavorid = $1 AND project_id = $2")
            .bind(flavorid)
            .bind(project)
            .execute(db.pool())
            .await?;
    Ok(done.rows_affected() > 0)
}
