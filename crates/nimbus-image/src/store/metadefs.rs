//! `image_metadef_namespaces`, `image_metadef_items` (objects, properties,
//! tags), `image_metadef_resource_types` and their associations.

use nimbus_db::{Pool, now_micros};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::app::metadef_model::{
    Association, Item, ItemKind, Namespace, NewNamespace, ResourceType,
};
use crate::error::ImageError;

const NS_COLUMNS: &str = "id, namespace, display_name, description, visibility, protected, owner, \
     created_at, updated_at";

fn ns_from_row(row: &AnyRow) -> Result<Namespace, ImageError> {
    Ok(Namespace {
        id: row.try_get("id")?,
        namespace: row.try_get("namespace")?,
        display_name: row.try_get("display_name")?,
        description: row.try_get("description")?,
        visibility: row.try_get("visibility")?,
        protected: row.try_get::<i64, _>("protected")? != 0,
        owner: row.try_get("owner")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn item_from_row(row: &AnyRow) -> Result<Item, ImageError> {
    let body: String = row.try_get("body")?;
    Ok(Item {
        name: row.try_get("name")?,
        body: serde_json::from_str(&body)
            .map_err(|_| ImageError::corrupt("metadef item body is not JSON"))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn assoc_from_row(row: &AnyRow) -> Result<Association, ImageError> {
    Ok(Association {
        name: row.try_get("resource_type")?,
        prefix: row.try_get("prefix")?,
        properties_target: row.try_get("properties_target")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// What a duplicate name in a write collided with.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// The write happened.
    Done,
    /// A unique name was taken.
    Duplicate,
    /// The row to change is gone.
    Missing,
}

fn dup_or<T>(result: Result<T, sqlx::Error>) -> Result<Option<T>, ImageError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if nimbus_db::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Inserts a namespace with everything nested in its create request, in
/// one transaction; `Duplicate` if the namespace or a nested name exists.
pub async fn namespace_create(pool: &Pool, new: &NewNamespace) -> Result<Written, ImageError> {
    let mut tx = pool.begin().await?;
    let ns = &new.namespace;
    let inserted = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO image_metadef_namespaces ({NS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )))
    .bind(&ns.id)
    .bind(&ns.namespace)
    .bind(ns.display_name.as_deref())
    .bind(ns.description.as_deref())
    .bind(&ns.visibility)
    .bind(i64::from(ns.protected))
    .bind(ns.owner.as_deref())
    .bind(ns.created_at)
    .bind(ns.updated_at)
    .execute(&mut *tx)
    .await;
    if dup_or(inserted)?.is_none() {
        return Ok(Written::Duplicate);
    }
    for (kind, item) in &new.items {
        if !insert_item(&mut tx, &ns.id, *kind, item).await? {
            return Ok(Written::Duplicate);
        }
    }
    for assoc in &new.associations {
        if !insert_association(&mut tx, &ns.id, assoc).await? {
            return Ok(Written::Duplicate);
        }
    }
    tx.commit().await?;
    Ok(Written::Done)
}

/// One namespace by its name.
pub async fn namespace_get(pool: &Pool, name: &str) -> Result<Option<Namespace>, ImageError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {NS_COLUMNS} FROM image_metadef_namespaces WHERE namespace = $1"
    )))
    .bind(name)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(ns_from_row).transpose()
}

/// The namespaces `project` may see (public ones and its own); all of
/// them for `None` (an admin).
pub async fn namespace_list(
    pool: &Pool,
    project: Option<Option<&str>>,
) -> Result<Vec<Namespace>, ImageError> {
    let rows = match project {
        None => {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {NS_COLUMNS} FROM image_metadef_namespaces"
            )))
            .fetch_all(pool)
            .await?
        }
        Some(project) => {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {NS_COLUMNS} FROM image_metadef_namespaces
                 WHERE visibility = 'public' OR (owner IS NOT NULL AND owner = $1)"
            )))
            .bind(project.unwrap_or(""))
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter().map(ns_from_row).collect()
}

/// Rewrites a namespace's attributes (its id and created_at stay).
pub async fn namespace_update(pool: &Pool, ns: &Namespace) -> Result<Written, ImageError> {
    let done = sqlx::query(
        "UPDATE image_metadef_namespaces SET namespace = $2, display_name = $3, description = $4,
         visibility = $5, protected = $6, owner = $7, updated_at = $8 WHERE id = $1",
    )
    .bind(&ns.id)
    .bind(&ns.namespace)
    .bind(ns.display_name.as_deref())
    .bind(ns.description.as_deref())
    .bind(&ns.visibility)
    .bind(i64::from(ns.protected))
    .bind(ns.owner.as_deref())
    .bind(ns.updated_at)
    .execute(pool)
    .await;
    Ok(match dup_or(done)? {
        None => Written::Duplicate,
        Some(d) if d.rows_affected() == 0 => Written::Missing,
        Some(_) => Written::Done,
    })
}

/// Deletes a namespace and (by cascade) everything in it.
pub async fn namespace_delete(pool: &Pool, id: &str) -> Result<(), ImageError> {
    sqlx::query("DELETE FROM image_metadef_namespaces WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

async fn insert_item(
    tx: &mut Tx<'_>,
    ns_id: &str,
    kind: ItemKind,
    item: &Item,
) -> Result<bool, ImageError> {
    let done = sqlx::query(
        "INSERT INTO image_metadef_items (namespace_id, kind, name, body, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ns_id)
    .bind(kind.as_str())
    .bind(&item.name)
    .bind(item.body.to_string())
    .bind(item.created_at)
    .bind(item.updated_at)
    .execute(&mut **tx)
    .await;
    Ok(dup_or(done)?.is_some())
}

/// Adds one object, property or tag; `false` if the name is taken.
pub async fn item_create(
    pool: &Pool,
    ns_id: &str,
    kind: ItemKind,
    item: &Item,
) -> Result<bool, ImageError> {
    let mut tx = pool.begin().await?;
    let created = insert_item(&mut tx, ns_id, kind, item).await?;
    tx.commit().await?;
    Ok(created)
}

/// Replaces every item of `kind` (`append` false) or adds to them, all or
/// nothing; `false` if a name is taken.
pub async fn items_put(
    pool: &Pool,
    ns_id: &str,
    kind: ItemKind,
    items: &[Item],
    append: bool,
) -> Result<bool, ImageError> {
    let mut tx = pool.begin().await?;
    if !append {
        sqlx::query("DELETE FROM image_metadef_items WHERE namespace_id = $1 AND kind = $2")
            .bind(ns_id)
            .bind(kind.as_str())
            .execute(&mut *tx)
            .await?;
    }
    for item in items {
        if !insert_item(&mut tx, ns_id, kind, item).await? {
            return Ok(false);
        }
    }
    tx.commit().await?;
    Ok(true)
}

/// One item by name.
pub async fn item_get(
    pool: &Pool,
    ns_id: &str,
    kind: ItemKind,
    name: &str,
) -> Result<Option<Item>, ImageError> {
    let row = sqlx::query(
        "SELECT name, body, created_at, updated_at FROM image_metadef_items
         WHERE namespace_id = $1 AND kind = $2 AND name = $3",
    )
    .bind(ns_id)
    .bind(kind.as_str())
    .bind(name)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(item_from_row).transpose()
}

/// Every item of `kind` in a namespace, oldest first.
pub async fn item_list(pool: &Pool, ns_id: &str, kind: ItemKind) -> Result<Vec<Item>, ImageError> {
    let rows = sqlx::query(
        "SELECT name, body, created_at, updated_at FROM image_metadef_items
         WHERE namespace_id = $1 AND kind = $2 ORDER BY created_at, name",
    )
    .bind(ns_id)
    .bind(kind.as_str())
    .fetch_all(pool)
    .await?;
    rows.iter().map(item_from_row).collect()
}

/// Renames and rewrites an item.
pub async fn item_update(
    pool: &Pool,
    ns_id: &str,
    kind: ItemKind,
    old_name: &str,
    name: &str,
    body: &Value,
) -> Result<Written, ImageError> {
    let done = sqlx::query(
        "UPDATE image_metadef_items SET name = $4, body = $5, updated_at = $6
         WHERE namespace_id = $1 AND kind = $2 AND name = $3",
    )
    .bind(ns_id)
    .bind(kind.as_str())
    .bind(old_name)
    .bind(name)
    .bind(body.to_string())
    .bind(now_micros())
    .execute(pool)
    .await;
    Ok(match dup_or(done)? {
        None => Written::Duplicate,
        Some(d) if d.rows_affected() == 0 => Written::Missing,
        Some(_) => Written::Done,
    })
}

/// Deletes one item (`Some(name)`) or all of `kind`; whether any went.
pub async fn item_delete(
    pool: &Pool,
    ns_id: &str,
    kind: ItemKind,
    name: Option<&str>,
) -> Result<bool, ImageError> {
    let done = match name {
        Some(name) => sqlx::query(
            "DELETE FROM image_metadef_items WHERE namespace_id = $1 AND kind = $2 AND name = $3",
        )
        .bind(ns_id)
        .bind(kind.as_str())
        .bind(name)
        .execute(pool)
        .await?,
        None => {
            sqlx::query("DELETE FROM image_metadef_items WHERE namespace_id = $1 AND kind = $2")
                .bind(ns_id)
                .bind(kind.as_str())
                .execute(pool)
                .await?
        }
    };
    Ok(done.rows_affected() > 0)
}

/// Makes sure the resource types in `names` exist (as protected ones).
pub async fn resource_types_ensure(pool: &Pool, names: &[&str]) -> Result<(), ImageError> {
    let now = now_micros();
    for name in names {
        sqlx::query(
            "INSERT INTO image_metadef_resource_types (name, protected, created_at, updated_at)
             VALUES ($1, 1, $2, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(*name)
        .bind(now)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// Every resource type.
pub async fn resource_type_list(pool: &Pool) -> Result<Vec<ResourceType>, ImageError> {
    let rows = sqlx::query(
        "SELECT name, created_at, updated_at FROM image_metadef_resource_types ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ResourceType {
                name: row.try_get("name")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .collect()
}

async fn insert_association(
    tx: &mut Tx<'_>,
    ns_id: &str,
    assoc: &Association,
) -> Result<bool, ImageError> {
    // As Glance: associating a resource type nobody defined creates it.
    let created = sqlx::query(
        "INSERT INTO image_metadef_resource_types (name, protected, created_at, updated_at)
         VALUES ($1, 0, $2, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(&assoc.name)
    .bind(assoc.created_at)
    .execute(&mut **tx)
    .await;
    // A failed statement would abort a PostgreSQL transaction, hence ON CONFLICT.
    created?;
    let done = sqlx::query(
        "INSERT INTO image_metadef_resource_type_associations
         (namespace_id, resource_type, prefix, properties_target, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ns_id)
    .bind(&assoc.name)
    .bind(assoc.prefix.as_deref())
    .bind(assoc.properties_target.as_deref())
    .bind(assoc.created_at)
    .bind(assoc.updated_at)
    .execute(&mut **tx)
    .await;
    Ok(dup_or(done)?.is_some())
}

/// Associates a namespace with a resource type; `false` if it already is.
pub async fn association_create(
    pool: &Pool,
    ns_id: &str,
    assoc: &Association,
) -> Result<bool, ImageError> {
    let mut tx = pool.begin().await?;
    if !insert_association(&mut tx, ns_id, assoc).await? {
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// A namespace's resource type associations.
pub async fn association_list(pool: &Pool, ns_id: &str) -> Result<Vec<Association>, ImageError> {
    let rows = sqlx::query(
        "SELECT resource_type, prefix, properties_target, created_at, updated_at
         FROM image_metadef_resource_type_associations WHERE namespace_id = $1
         ORDER BY created_at, resource_type",
    )
    .bind(ns_id)
    .fetch_all(pool)
    .await?;
    rows.iter().map(assoc_from_row).collect()
}

/// Removes an association; `false` if there was none.
pub async fn association_delete(pool: &Pool, ns_id: &str, name: &str) -> Result<bool, ImageError> {
    let done = sqlx::query(
        "DELETE FROM image_metadef_resource_type_associations
         WHERE namespace_id = $1 AND resource_type = $2",
    )
    .bind(ns_id)
    .bind(name)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() > 0)
}
