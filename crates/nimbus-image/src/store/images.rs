//! `image_images`, `image_properties`, `image_tags`.

use std::collections::BTreeMap;

use nimbus_db::{Pool, now_micros};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Arg, Sql};
use crate::app::model::{Image, MemberStatus, Status, Visibility};
use crate::error::ImageError;

const COLUMNS: &str = "id, name, status, visibility, owner, disk_format, container_format, size, \
     virtual_size, checksum, os_hash_algo, os_hash_value, min_disk, min_ram, protected, os_hidden, \
     location, store, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Image, ImageError> {
    let status: String = row.try_get("status")?;
    let visibility: String = row.try_get("visibility")?;
    Ok(Image {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        status: Status::parse(&status)
            .ok_or_else(|| ImageError::corrupt(format!("status {status}")))?,
        visibility: Visibility::parse(&visibility)
            .ok_or_else(|| ImageError::corrupt(format!("visibility {visibility}")))?,
        owner: row.try_get("owner")?,
        disk_format: row.try_get("disk_format")?,
        container_format: row.try_get("container_format")?,
        size: row.try_get("size")?,
        virtual_size: row.try_get("virtual_size")?,
        checksum: row.try_get("checksum")?,
        os_hash_algo: row.try_get("os_hash_algo")?,
        os_hash_value: row.try_get("os_hash_value")?,
        min_disk: row.try_get("min_disk")?,
        min_ram: row.try_get("min_ram")?,
        // Booleans are BIGINT 0/1: the Any driver cannot decode SQLite's BOOLEAN.
        protected: row.try_get::<i64, _>("protected")? != 0,
        os_hidden: row.try_get::<i64, _>("os_hidden")? != 0,
        location: row.try_get("location")?,
        store: row.try_get("store")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        properties: BTreeMap::new(),
        tags: Vec::new(),
    })
}

/// Inserts a new image with its properties and tags.
pub async fn image_create(pool: &Pool, image: &Image) -> Result<bool, ImageError> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO image_images ({COLUMNS}) VALUES
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
    )))
    .bind(&image.id)
    .bind(image.name.as_deref())
    .bind(image.status.as_str())
    .bind(image.visibility.as_str())
    .bind(image.owner.as_deref())
    .bind(image.disk_format.as_deref())
    .bind(image.container_format.as_deref())
    .bind(image.size)
    .bind(image.virtual_size)
    .bind(image.checksum.as_deref())
    .bind(image.os_hash_algo.as_deref())
    .bind(image.os_hash_value.as_deref())
    .bind(image.min_disk)
    .bind(image.min_ram)
    .bind(i64::from(image.protected))
    .bind(i64::from(image.os_hidden))
    .bind(image.location.as_deref())
    .bind(image.store.as_deref())
    .bind(image.created_at)
    .bind(image.updated_at)
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        Err(e) if nimbus_db::is_unique_violation(&e) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    write_extras(&mut tx, image).await?;
    tx.commit().await?;
    Ok(true)
}

async fn write_extras(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    image: &Image,
) -> Result<(), ImageError> {
    sqlx::query("DELETE FROM image_properties WHERE image_id = $1")
        .bind(&image.id)
        .execute(&mut **tx)
        .await?;
    for (name, value) in &image.properties {
        sqlx::query("INSERT INTO image_properties (image_id, name, value) VALUES ($1, $2, $3)")
            .bind(&image.id)
            .bind(name)
            .bind(value)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("DELETE FROM image_tags WHERE image_id = $1")
        .bind(&image.id)
        .execute(&mut **tx)
        .await?;
    for tag in &image.tags {
        sqlx::query("INSERT INTO image_tags (image_id, value) VALUES ($1, $2)")
            .bind(&image.id)
            .bind(tag)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn load_extras(pool: &Pool, images: &mut [Image]) -> Result<(), ImageError> {
    // One query per image keeps the SQL portable; pages are at most a few
    // hundred images.
    for image in images.iter_mut() {
        let props = sqlx::query(
            "SELECT name, value FROM image_properties WHERE image_id = $1 ORDER BY name",
        )
        .bind(&image.id)
        .fetch_all(pool)
        .await?;
        for row in props {
            image
                .properties
                .insert(row.try_get("name")?, row.try_get("value")?);
        }
        let tags = sqlx::query("SELECT value FROM image_tags WHERE image_id = $1 ORDER BY value")
            .bind(&image.id)
            .fetch_all(pool)
            .await?;
        image.tags = tags
            .iter()
            .map(|r| r.try_get("value"))
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}

/// An image by id, with properties and tags.
pub async fn image_get(pool: &Pool, id: &str) -> Result<Option<Image>, ImageError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM image_images WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut images = [from_row(&row)?];
    load_extras(pool, &mut images).await?;
    let [image] = images;
    Ok(Some(image))
}

/// Saves the mutable metadata of `image` (not status or data fields) if it
/// is still in the status it was read in; `false` otherwise.
pub async fn image_update(pool: &Pool, image: &Image) -> Result<bool, ImageError> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "UPDATE image_images SET name = $2, visibility = $3, owner = $4, disk_format = $5,
         container_format = $6, min_disk = $7, min_ram = $8, protected = $9, os_hidden = $10,
         updated_at = $11 WHERE id = $1 AND status = $12",
    )
    .bind(&image.id)
    .bind(image.name.as_deref())
    .bind(image.visibility.as_str())
    .bind(image.owner.as_deref())
    .bind(image.disk_format.as_deref())
    .bind(image.container_format.as_deref())
    .bind(image.min_disk)
    .bind(image.min_ram)
    .bind(i64::from(image.protected))
    .bind(i64::from(image.os_hidden))
    .bind(now_micros())
    .bind(image.status.as_str())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    write_extras(&mut tx, image).await?;
    tx.commit().await?;
    Ok(true)
}

/// Moves an image from `from` to `to`; `false` if it was not in `from`
/// (someone else got there first). This is the only way status changes.
pub async fn image_transition(
    pool: &Pool,
    id: &str,
    from: Status,
    to: Status,
) -> Result<bool, ImageError> {
    let done = sqlx::query(
        "UPDATE image_images SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2",
    )
    .bind(id)
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(now_micros())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What a finished upload records.
#[derive(Debug, Clone)]
pub struct DataRecord {
    /// Bytes.
    pub size: i64,
    /// From the inspector.
    pub virtual_size: Option<i64>,
    /// Hex MD5.
    pub checksum: String,
    /// Hex SHA-512.
    pub os_hash_value: String,
    /// Store location.
    pub location: String,
    /// Store id.
    pub store: String,
}

/// Records stored data and moves `from -> active`; `false` if the image
/// left `from` meanwhile (deleted, or another upload won).
pub async fn image_set_data(
    pool: &Pool,
    id: &str,
    from: Status,
    data: &DataRecord,
) -> Result<bool, ImageError> {
    let done = sqlx::query(
        "UPDATE image_images SET status = 'active', size = $3, virtual_size = $4, checksum = $5,
         os_hash_algo = 'sha512', os_hash_value = $6, location = $7, store = $8, updated_at = $9
         WHERE id = $1 AND status = $2",
    )
    .bind(id)
    .bind(from.as_str())
    .bind(data.size)
    .bind(data.virtual_size)
    .bind(&data.checksum)
    .bind(&data.os_hash_value)
    .bind(&data.location)
    .bind(&data.store)
    .bind(now_micros())
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes an image row (properties, tags and members go with it).
pub async fn image_delete(pool: &Pool, id: &str) -> Result<bool, ImageError> {
    let done = sqlx::query("DELETE FROM image_images WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Adds a tag; `false` if the image already has it.
pub async fn tag_add(pool: &Pool, id: &str, tag: &str) -> Result<bool, ImageError> {
    let result = sqlx::query("INSERT INTO image_tags (image_id, value) VALUES ($1, $2)")
        .bind(id)
        .bind(tag)
        .execute(pool)
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(e) if nimbus_db::is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Removes a tag; `false` if the image did not have it.
pub async fn tag_delete(pool: &Pool, id: &str, tag: &str) -> Result<bool, ImageError> {
    let done = sqlx::query("DELETE FROM image_tags WHERE image_id = $1 AND value = $2")
        .bind(id)
        .bind(tag)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Bytes of image data a project owns (the storage quota's usage).
pub async fn usage(pool: &Pool, owner: &str) -> Result<i64, ImageError> {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS used FROM image_images WHERE owner = $1",
    )
    .bind(owner)
    .fetch_one(pool)
    .await?;
    // SUM is NUMERIC on PostgreSQL; the cast keeps both engines on BIGINT.
    Ok(row.try_get::<i64, _>("used")?)
}

/// At startup nothing is uploading: images a dead process left mid-upload
/// or mid-import go back to `queued` (their temporary data is gone).
pub async fn reset_interrupted(pool: &Pool) -> Result<u64, ImageError> {
    let done = sqlx::query(
        "UPDATE image_images SET status = 'queued', updated_at = $1
         WHERE status IN ('saving', 'uploading', 'importing')",
    )
    .bind(now_micros())
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Sort keys clients may use, and the column expression each sorts by.
/// NULLs are coalesced so keyset paging compares them too.
pub fn sort_column(key: &str) -> Option<&'static str> {
    Some(match key {
        "name" => "COALESCE(name, '')",
        "status" => "status",
        "container_format" => "COALESCE(container_format, '')",
        "disk_format" => "COALESCE(disk_format, '')",
        "size" => "COALESCE(size, -1)",
        "virtual_size" => "COALESCE(virtual_size, -1)",
        "id" => "id",
        "created_at" => "created_at",
        "updated_at" => "updated_at",
        "visibility" => "visibility",
        "owner" => "COALESCE(owner, '')",
        "min_disk" => "min_disk",
        "min_ram" => "min_ram",
        _ => return None,
    })
}

fn sort_value(image: &Image, key: &str) -> Arg {
    let text = |v: &Option<String>| Arg::Text(v.clone().unwrap_or_default());
    match key {
        "name" => text(&image.name),
        "status" => Arg::Text(image.status.as_str().into()),
        "container_format" => text(&image.container_format),
        "disk_format" => text(&image.disk_format),
        "size" => Arg::Int(image.size.unwrap_or(-1)),
        "virtual_size" => Arg::Int(image.virtual_size.unwrap_or(-1)),
        "created_at" => Arg::Int(image.created_at),
        "updated_at" => Arg::Int(image.updated_at),
        "visibility" => Arg::Text(image.visibility.as_str().into()),
        "owner" => text(&image.owner),
        "min_disk" => Arg::Int(image.min_disk),
        "min_ram" => Arg::Int(image.min_ram),
        _ => Arg::Text(image.id.clone()),
    }
}

/// Which images a list returns, already validated.
#[derive(Debug, Clone, Default)]
pub struct ImageQuery {
    /// The caller's project.
    pub project: Option<String>,
    /// Admins see every project's images.
    pub admin: bool,
    /// `visibility=` (None: Glance's default listing; `Some(None)`: `all`).
    pub visibility: Option<Option<Visibility>>,
    /// Member status shared images must have (None: any).
    pub member_status: Option<MemberStatus>,
    /// `id=in:...`.
    pub ids: Option<Vec<String>>,
    /// `name=` or `name=in:...`.
    pub names: Option<Vec<String>>,
    /// `status=`.
    pub status: Option<Status>,
    /// `owner=`.
    pub owner: Option<String>,
    /// `disk_format=`.
    pub disk_format: Option<String>,
    /// `container_format=`.
    pub container_format: Option<String>,
    /// `size_min=`.
    pub size_min: Option<i64>,
    /// `size_max=`.
    pub size_max: Option<i64>,
    /// Every tag must be present.
    pub tags: Vec<String>,
    /// `protected=`.
    pub protected: Option<bool>,
    /// `os_hidden=` (Glance's default is false).
    pub os_hidden: Option<bool>,
    /// Custom property equality filters.
    pub properties: Vec<(String, String)>,
    /// Sort keys (validated by [`sort_column`]) and ascending flags.
    pub sort: Vec<(String, bool)>,
    /// Return images after this one in the sort order.
    pub marker: Option<Image>,
    /// At most this many.
    pub limit: usize,
}

/// One page of images the caller may see.
pub async fn image_list(pool: &Pool, q: &ImageQuery) -> Result<Vec<Image>, ImageError> {
    let mut sql = Sql::default();
    let mut conds: Vec<String> = Vec::new();
    let project = q.project.clone().unwrap_or_default();
    if !q.admin {
        let p = sql.arg(Arg::Text(project.clone()));
        let member = match q.member_status {
            Some(s) => {
                let st = sql.arg(Arg::Text(s.as_str().into()));
                format!("m.status = {st}")
            }
            None => "1 = 1".to_string(),
        };
        conds.push(format!(
            "(owner = {p} OR visibility IN ('public', 'community') OR (visibility = 'shared' AND EXISTS
              (SELECT 1 FROM image_members m WHERE m.image_id = image_images.id AND m.member = {p} AND {member})))"
        ));
    }
    match q.visibility {
        Some(Some(v)) => {
            let a = sql.arg(Arg::Text(v.as_str().into()));
            conds.push(format!("visibility = {a}"));
            if v == Visibility::Private && !q.admin {
                let p = sql.arg(Arg::Text(project.clone()));
                conds.push(format!("owner = {p}"));
            }
        }
        Some(None) => {}
        None => {
            // Community images are listed only when asked for, except one's own.
            let p = sql.arg(Arg::Text(project.clone()));
            conds.push(format!("(visibility <> 'community' OR owner = {p})"));
        }
    }
    let mut in_list = |sql: &mut Sql, column: &str, values: &[String]| {
        let ph: Vec<String> = values
            .iter()
            .map(|v| sql.arg(Arg::Text(v.clone())))
            .collect();
        if ph.is_empty() {
            conds.push("1 = 0".into());
        } else {
            conds.push(format!("{column} IN ({})", ph.join(", ")));
        }
    };
    if let Some(ids) = &q.ids {
        in_list(&mut sql, "id", ids);
    }
    if let Some(names) = &q.names {
        in_list(&mut sql, "name", names);
    }
    let mut eq = |sql: &mut Sql, column: &str, value: Arg| {
        let a = sql.arg(value);
        conds.push(format!("{column} = {a}"));
    };
    if let Some(s) = q.status {
        eq(&mut sql, "status", Arg::Text(s.as_str().into()));
    }
    if let Some(o) = &q.owner {
        eq(&mut sql, "owner", Arg::Text(o.clone()));
    }
    if let Some(f) = &q.disk_format {
        eq(&mut sql, "disk_format", Arg::Text(f.clone()));
    }
    if let Some(f) = &q.container_format {
        eq(&mut sql, "container_format", Arg::Text(f.clone()));
    }
    if let Some(p) = q.protected {
        eq(&mut sql, "protected", Arg::Int(i64::from(p)));
    }
    if let Some(h) = q.os_hidden {
        eq(&mut sql, "os_hidden", Arg::Int(i64::from(h)));
    }
    if let Some(n) = q.size_min {
        let a = sql.arg(Arg::Int(n));
        conds.push(format!("size >= {a}"));
    }
    if let Some(n) = q.size_max {
        let a = sql.arg(Arg::Int(n));
        conds.push(format!("size <= {a}"));
    }
    for tag in &q.tags {
        let a = sql.arg(Arg::Text(tag.clone()));
        conds.push(format!(
            "EXISTS (SELECT 1 FROM image_tags t WHERE t.image_id = image_images.id AND t.value = {a})"
        ));
    }
    for (name, value) in &q.properties {
        let n = sql.arg(Arg::Text(name.clone()));
        let v = sql.arg(Arg::Text(value.clone()));
        conds.push(format!(
            "EXISTS (SELECT 1 FROM image_properties p WHERE p.image_id = image_images.id AND p.name = {n} AND p.value = {v})"
        ));
    }
    // Keyset paging: rows strictly after the marker in the sort order,
    // with id as the final tie-breaker.
    let mut keys: Vec<(String, bool)> = q.sort.clone();
    if !keys.iter().any(|(k, _)| k == "id") {
        let last_asc = keys.last().map(|(_, asc)| *asc).unwrap_or(false);
        keys.push(("id".into(), last_asc));
    }
    if let Some(marker) = &q.marker {
        let mut alternatives = Vec::new();
        for i in 0..keys.len() {
            let mut parts = Vec::new();
            for (key, _) in &keys[..i] {
                let col = sort_column(key).unwrap_or("id");
                let a = sql.arg(sort_value(marker, key));
                parts.push(format!("{col} = {a}"));
            }
            let (key, asc) = &keys[i];
            let col = sort_column(key).unwrap_or("id");
            let a = sql.arg(sort_value(marker, key));
            parts.push(format!("{col} {} {a}", if *asc { ">" } else { "<" }));
            alternatives.push(format!("({})", parts.join(" AND ")));
        }
        conds.push(format!("({})", alternatives.join(" OR ")));
    }
    let order: Vec<String> = keys
        .iter()
        .map(|(k, asc)| {
            format!(
                "{} {}",
                sort_column(k).unwrap_or("id"),
                if *asc { "ASC" } else { "DESC" }
            )
        })
        .collect();
    let limit = sql.arg(Arg::Int(i64::try_from(q.limit).unwrap_or(i64::MAX)));
    let where_clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    sql.text = format!(
        "SELECT {COLUMNS} FROM image_images {where_clause} ORDER BY {} LIMIT {limit}",
        order.join(", ")
    );
    let rows = sql.query().fetch_all(pool).await?;
    let mut images = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    load_extras(pool, &mut images).await?;
    Ok(images)
}
