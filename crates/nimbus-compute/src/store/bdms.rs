//! `block_device_mapping`: the volumes mapped to an instance (nova's table of
//! the same name, seed 002).

use nimbus_db::{Pool, is_unique_violation, now_micros};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::error::{ComputeError, ComputeErrorKind};

const COLUMNS: &str = "id, uuid, instance_uuid, source_type, destination_type, device_name, \
     boot_index, volume_id, image_id, volume_size, delete_on_termination, attachment_id, \
     connection_info, tag, created_at, updated_at";

/// One block device mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Bdm {
    /// nova's integer id (assigned on insert).
    pub id: i64,
    /// `bdm_uuid` (2.89).
    pub uuid: String,
    /// The instance.
    pub instance_uuid: String,
    /// `volume` or `image` (a boot volume made from an image).
    pub source_type: String,
    /// `volume`.
    pub destination_type: String,
    /// `/dev/vdX`, reserved on the host.
    pub device_name: Option<String>,
    /// 0 for the root disk, else none.
    pub boot_index: Option<i64>,
    /// The Cinder volume.
    pub volume_id: Option<String>,
    /// The image a boot volume was made from.
    pub image_id: Option<String>,
    /// GiB.
    pub volume_size: Option<i64>,
    /// Delete the volume with the server.
    pub delete_on_termination: bool,
    /// The Cinder attachment.
    pub attachment_id: Option<String>,
    /// What the host connects with (`driver_volume_type`, `data`).
    pub connection_info: Option<Value>,
    /// Device tag (2.49+).
    pub tag: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

impl Bdm {
    /// A new mapping of `volume_id` to `instance_uuid` (ids and times set
    /// on insert).
    pub fn new(instance_uuid: &str, source_type: &str, volume_id: Option<&str>) -> Bdm {
        Bdm {
            id: 0,
            uuid: uuid::Uuid::new_v4().to_string(),
            instance_uuid: instance_uuid.to_string(),
            source_type: source_type.to_string(),
            destination_type: "volume".into(),
            device_name: None,
            boot_index: None,
            volume_id: volume_id.map(str::to_string),
            image_id: None,
            volume_size: None,
            delete_on_termination: false,
            attachment_id: None,
            connection_info: None,
            tag: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// nova's `is_root`.
    pub fn is_root(&self) -> bool {
        self.boot_index == Some(0)
    }
}

/// Why an insert was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertConflict {
    /// The volume is already mapped to this instance.
    Volume,
    /// The device name is taken on this instance.
    Device,
}

fn bdm_from(row: &AnyRow) -> Result<Bdm, ComputeError> {
    let info: Option<String> = row.try_get("connection_info")?;
    let connection_info = match info {
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|_| ComputeError::corrupt("block_device_mapping.connection_info"))?,
        ),
        None => None,
    };
    Ok(Bdm {
        id: row.try_get("id")?,
        uuid: row.try_get("uuid")?,
        instance_uuid: row.try_get("instance_uuid")?,
        source_type: row.try_get("source_type")?,
        destination_type: row.try_get("destination_type")?,
        device_name: row.try_get("device_name")?,
        boot_index: row.try_get("boot_index")?,
        volume_id: row.try_get("volume_id")?,
        image_id: row.try_get("image_id")?,
        volume_size: row.try_get("volume_size")?,
        delete_on_termination: row.try_get::<i64, _>("delete_on_termination")? != 0,
        attachment_id: row.try_get("attachment_id")?,
        connection_info,
        tag: row.try_get("tag")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Inserts `bdm` (assigning its id and times). A volume already mapped to
/// the instance or a taken device name is a conflict, decided by the
/// database's unique indexes so that concurrent attaches cannot both win.
pub async fn bdm_insert(
    pool: &Pool,
    bdm: &mut Bdm,
) -> Result<Option<InsertConflict>, ComputeError> {
    let now = now_micros();
    bdm.created_at = now;
    bdm.updated_at = now;
    for _ in 0..5 {
        let result = sqlx::query(
            "INSERT INTO block_device_mapping (id, uuid, instance_uuid, source_type, \
             destination_type, device_name, boot_index, volume_id, image_id, volume_size, \
             delete_on_termination, attachment_id, connection_info, tag, created_at, updated_at) \
             VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM block_device_mapping), $1, $2, $3, $4, \
             $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(&bdm.uuid)
        .bind(&bdm.instance_uuid)
        .bind(&bdm.source_type)
        .bind(&bdm.destination_type)
        .bind(&bdm.device_name)
        .bind(bdm.boot_index)
        .bind(&bdm.volume_id)
        .bind(&bdm.image_id)
        .bind(bdm.volume_size)
        .bind(i64::from(bdm.delete_on_termination))
        .bind(&bdm.attachment_id)
        .bind(bdm.connection_info.as_ref().map(Value::to_string))
        .bind(&bdm.tag)
        .bind(bdm.created_at)
        .bind(bdm.updated_at)
        .execute(pool)
        .await;
        match result {
            Ok(_) => {
                if let Some(row) = bdm_get_by_uuid(pool, &bdm.uuid).await? {
                    bdm.id = row.id;
                }
                return Ok(None);
            }
            Err(err) if is_unique_violation(&err) => {
                let all = bdm_list(pool, &bdm.instance_uuid).await?;
                if bdm.volume_id.is_some() && all.iter().any(|b| b.volume_id == bdm.volume_id) {
                    return Ok(Some(InsertConflict::Volume));
                }
                if bdm.device_name.is_some() && all.iter().any(|b| b.device_name == bdm.device_name)
                {
                    return Ok(Some(InsertConflict::Device));
                }
                // A concurrent insert took the id: try again.
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(ComputeError::new(
        ComputeErrorKind::Db,
        "could not allocate a block device mapping id",
    ))
}

/// The mappings of an instance, root first, then by id.
pub async fn bdm_list(pool: &Pool, instance_uuid: &str) -> Result<Vec<Bdm>, ComputeError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM block_device_mapping WHERE instance_uuid = $1 AND deleted = 0 \
         ORDER BY CASE WHEN boot_index = 0 THEN 0 ELSE 1 END, id"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(instance_uuid)
        .fetch_all(pool)
        .await?;
    rows.iter().map(bdm_from).collect()
}

/// The mappings of several instances (one query for a server listing).
pub async fn bdm_list_for(
    pool: &Pool,
    instance_uuids: &[String],
) -> Result<Vec<Bdm>, ComputeError> {
    if instance_uuids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=instance_uuids.len())
        .map(|n| format!("${n}"))
        .collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM block_device_mapping WHERE deleted = 0 AND instance_uuid IN ({}) \
         ORDER BY id",
        marks.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for uuid in instance_uuids {
        query = query.bind(uuid);
    }
    let rows = query.fetch_all(pool).await?;
    rows.iter().map(bdm_from).collect()
}

/// The mapping of `volume_id` to `instance_uuid`.
pub async fn bdm_get_by_volume(
    pool: &Pool,
    instance_uuid: &str,
    volume_id: &str,
) -> Result<Option<Bdm>, ComputeError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM block_device_mapping \
         WHERE instance_uuid = $1 AND volume_id = $2 AND deleted = 0"
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(instance_uuid)
        .bind(volume_id)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(bdm_from).transpose()
}

async fn bdm_get_by_uuid(pool: &Pool, uuid: &str) -> Result<Option<Bdm>, ComputeError> {
    let sql = format!("SELECT {COLUMNS} FROM block_device_mapping WHERE uuid = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(uuid)
        .fetch_optional(pool)
        .await?;
    row.as_ref().map(bdm_from).transpose()
}

/// Saves the fields that change after insert (device, attachment,
/// connection info, delete_on_termination, volume).
pub async fn bdm_save(pool: &Pool, bdm: &Bdm) -> Result<(), ComputeError> {
    sqlx::query(
        "UPDATE block_device_mapping SET device_name = $1, volume_id = $2, attachment_id = $3, \
         connection_info = $4, delete_on_termination = $5, volume_size = $6, updated_at = $7 \
         WHERE uuid = $8",
    )
    .bind(&bdm.device_name)
    .bind(&bdm.volume_id)
    .bind(&bdm.attachment_id)
    .bind(bdm.connection_info.as_ref().map(Value::to_string))
    .bind(i64::from(bdm.delete_on_termination))
    .bind(bdm.volume_size)
    .bind(now_micros())
    .bind(&bdm.uuid)
    .execute(pool)
    .await?;
    Ok(())
}

/// Removes a mapping (the volume is detached).
pub async fn bdm_delete(pool: &Pool, uuid: &str) -> Result<(), ComputeError> {
    sqlx::query("DELETE FROM block_device_mapping WHERE uuid = $1")
        .bind(uuid)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn db() -> nimbus_db::Db {
        let dir = tempfile::tempdir().unwrap();
        let db = nimbus_db::Db::open_sqlite(&dir.path().join("t.db"), 2)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        std::mem::forget(dir);
        db
    }

    #[tokio::test]
    async fn the_database_settles_volume_and_device_conflicts() {
        let db = db().await;
        let pool = db.pool();
        let mut a = Bdm::new("i1", "volume", Some("v1"));
        a.device_name = Some("/dev/vdb".into());
        a.connection_info = Some(serde_json::json!({"driver_volume_type": "local"}));
        assert_eq!(bdm_insert(pool, &mut a).await.unwrap(), None);
        assert_eq!(a.id, 1);
        let mut again = Bdm::new("i1", "volume", Some("v1"));
        again.device_name = Some("/dev/vdc".into());
        assert_eq!(
            bdm_insert(pool, &mut again).await.unwrap(),
            Some(InsertConflict::Volume)
        );
        let mut same_dev = Bdm::new("i1", "volume", Some("v2"));
        same_dev.device_name = Some("/dev/vdb".into());
        assert_eq!(
            bdm_insert(pool, &mut same_dev).await.unwrap(),
            Some(InsertConflict::Device)
        );
        // Another instance may use the same name; the volume too (Cinder
        // decides whether it is free).
        let mut other = Bdm::new("i2", "volume", Some("v1"));
        other.device_name = Some("/dev/vdb".into());
        assert_eq!(bdm_insert(pool, &mut other).await.unwrap(), None);
        assert_eq!(other.id, 2);

        let got = bdm_get_by_volume(pool, "i1", "v1").await.unwrap().unwrap();
        assert_eq!(got, a);
        let both = bdm_list_for(pool, &["i1".into(), "i2".into()])
            .await
            .unwrap();
        assert_eq!(both.len(), 2);
        a.delete_on_termination = true;
        a.attachment_id = Some("att".into());
        bdm_save(pool, &a).await.unwrap();
        let got = bdm_list(pool, "i1").await.unwrap();
        assert!(got[0].delete_on_termination);
        assert_eq!(got[0].attachment_id.as_deref(), Some("att"));
        bdm_delete(pool, &a.uuid).await.unwrap();
        assert!(bdm_list(pool, "i1").await.unwrap().is_empty());
    }
}
