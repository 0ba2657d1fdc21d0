//! `compute_instances` and `compute_instance_metadata`.

use std::collections::BTreeMap;

use nimbus_db::{Pool, now_micros};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::error::ComputeError;

/// An instance as stored: nova's `Instance` object, flavor copied in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// UUID.
    pub uuid: String,
    /// Owning project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// `name`.
    pub display_name: String,
    /// `description` (2.19).
    pub display_description: Option<String>,
    /// Guest hostname (sanitized name).
    pub hostname: String,
    /// Flavor vCPUs.
    pub vcpus: i64,
    /// Flavor RAM, MiB.
    pub memory_mb: i64,
    /// Flavor root disk, GiB.
    pub root_gb: i64,
    /// Flavor ephemeral disk, GiB.
    pub ephemeral_gb: i64,
    /// Flavor swap, MiB.
    pub swap_mb: i64,
    /// Flavor id at boot.
    pub flavor_id: String,
    /// Flavor name at boot.
    pub flavor_name: String,
    /// Flavor extra specs at boot.
    pub flavor_extra_specs: BTreeMap<String, String>,
    /// Image id, empty when booted from a volume.
    pub image_ref: String,
    /// Kernel image id (`kernel_id` property), or empty.
    pub kernel_id: String,
    /// Ramdisk image id, or empty.
    pub ramdisk_id: String,
    /// Key pair name.
    pub key_name: Option<String>,
    /// Public key text.
    pub key_data: Option<String>,
    /// Base64 user data as given.
    pub user_data: Option<String>,
    /// `"True"` or `""`, as nova stores it.
    pub config_drive: String,
    /// The local block devices as JSON (bdm v2 image/blank entries).
    pub block_devices: String,
    /// `r-xxxxxxxx`, shared by one multi-create.
    pub reservation_id: String,
    /// Index within the multi-create.
    pub launch_index: i64,
    /// Availability zone.
    pub availability_zone: String,
    /// The compute host.
    pub host: String,
    /// `accessIPv4`.
    pub access_ip_v4: Option<String>,
    /// `accessIPv6`.
    pub access_ip_v6: Option<String>,
    /// nova's vm_state.
    pub vm_state: String,
    /// nova's task_state.
    pub task_state: Option<String>,
    /// nova's power_state number.
    pub power_state: i64,
    /// When it first became ACTIVE.
    pub launched_at: Option<i64>,
    /// When it was deleted.
    pub terminated_at: Option<i64>,
    /// The last fault, if any.
    pub fault: Option<Fault>,
    /// Soft-deleted.
    pub deleted: bool,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
    /// Metadata key/values.
    pub metadata: BTreeMap<String, String>,
    /// `OS-DCF:diskConfig`: `AUTO` or `MANUAL` (nova's `auto_disk_config`).
    pub disk_config: String,
    /// Lock, tags and server group (filled by get and list).
    pub extras: super::extras::InstanceExtras,
}

/// nova's instance fault: what went wrong, shown on ERROR servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// HTTP-ish code (500 for internal failures).
    pub code: i64,
    /// Short message.
    pub message: String,
    /// Longer detail (admins only when the code is 500).
    pub details: String,
    /// Microseconds since the epoch.
    pub created_at: i64,
}

const COLUMNS: &str = "uuid, project_id, user_id, display_name, display_description, hostname, \
    vcpus, memory_mb, root_gb, ephemeral_gb, swap_mb, flavor_id, flavor_name, flavor_extra_specs, \
    image_ref, kernel_id, ramdisk_id, key_name, key_data, user_data, config_drive, block_devices, \
    reservation_id, launch_index, availability_zone, host, access_ip_v4, access_ip_v6, vm_state, \
    task_state, power_state, launched_at, terminated_at, fault_code, fault_message, fault_details, \
    fault_created_at, deleted, created_at, updated_at, disk_config";

fn from_row(row: &AnyRow) -> Result<Instance, ComputeError> {
    let specs: String = row.try_get("flavor_extra_specs")?;
    let flavor_extra_specs =
        serde_json::from_str(&specs).map_err(|_| ComputeError::corrupt("flavor_extra_specs"))?;
    let fault_code: Option<i64> = row.try_get("fault_code")?;
    let fault = match fault_code {
        Some(code) => Some(Fault {
            code,
            message: row
                .try_get::<Option<String>, _>("fault_message")?
                .unwrap_or_default(),
            details: row
                .try_get::<Option<String>, _>("fault_details")?
                .unwrap_or_default(),
            created_at: row
                .try_get::<Option<i64>, _>("fault_created_at")?
                .unwrap_or_default(),
        }),
        None => None,
    };
    Ok(Instance {
        uuid: row.try_get("uuid")?,
        project_id: row.try_get("project_id")?,
        user_id: row.try_get("user_id")?,
        display_name: row.try_get("display_name")?,
        display_description: row.try_get("display_description")?,
        hostname: row.try_get("hostname")?,
        vcpus: row.try_get("vcpus")?,
        memory_mb: row.try_get("memory_mb")?,
        root_gb: row.try_get("root_gb")?,
        ephemeral_gb: row.try_get("ephemeral_gb")?,
        swap_mb: row.try_get("swap_mb")?,
        flavor_id: row.try_get("flavor_id")?,
        flavor_name: row.try_get("flavor_name")?,
        flavor_extra_specs,
        image_ref: row.try_get("image_ref")?,
        kernel_id: row.try_get("kernel_id")?,
        ramdisk_id: row.try_get("ramdisk_id")?,
        key_name: row.try_get("key_name")?,
        key_data: row.try_get("key_data")?,
        user_data: row.try_get("user_data")?,
        config_drive: row.try_get("config_drive")?,
        block_devices: row.try_get("block_devices")?,
        reservation_id: row.try_get("reservation_id")?,
        launch_index: row.try_get("launch_index")?,
        availability_zone: row.try_get("availability_zone")?,
        host: row.try_get("host")?,
        access_ip_v4: row.try_get("access_ip_v4")?,
        access_ip_v6: row.try_get("access_ip_v6")?,
        vm_state: row.try_get("vm_state")?,
        task_state: row.try_get("task_state")?,
        power_state: row.try_get("power_state")?,
        launched_at: row.try_get("launched_at")?,
        terminated_at: row.try_get("terminated_at")?,
        fault,
        deleted: row.try_get::<i64, _>("deleted")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        metadata: BTreeMap::new(),
        disk_config: row.try_get("disk_config")?,
        extras: Default::default(),
    })
}

/// Inserts instances (one multi-create) with their metadata, all or none.
pub async fn instances_create(pool: &Pool, instances: &[Instance]) -> Result<(), ComputeError> {
    let mut tx = pool.begin().await?;
    for i in instances {
        let specs = serde_json::to_string(&i.flavor_extra_specs)
            .map_err(|_| ComputeError::corrupt("flavor_extra_specs"))?;
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO compute_instances ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, \
             $26, $27, $28, $29, $30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40, $41)"
        )))
        .bind(&i.uuid)
        .bind(&i.project_id)
        .bind(&i.user_id)
        .bind(&i.display_name)
        .bind(i.display_description.as_deref())
        .bind(&i.hostname)
        .bind(i.vcpus)
        .bind(i.memory_mb)
        .bind(i.root_gb)
        .bind(i.ephemeral_gb)
        .bind(i.swap_mb)
        .bind(&i.flavor_id)
        .bind(&i.flavor_name)
        .bind(specs)
        .bind(&i.image_ref)
        .bind(&i.kernel_id)
        .bind(&i.ramdisk_id)
        .bind(i.key_name.as_deref())
        .bind(i.key_data.as_deref())
        .bind(i.user_data.as_deref())
        .bind(&i.config_drive)
        .bind(&i.block_devices)
        .bind(&i.reservation_id)
        .bind(i.launch_index)
        .bind(&i.availability_zone)
        .bind(&i.host)
        .bind(i.access_ip_v4.as_deref())
        .bind(i.access_ip_v6.as_deref())
        .bind(&i.vm_state)
        .bind(i.task_state.as_deref())
        .bind(i.power_state)
        .bind(i.launched_at)
        .bind(i.terminated_at)
        .bind(None::<i64>)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(None::<i64>)
        .bind(0_i64)
        .bind(i.created_at)
        .bind(i.updated_at)
        .bind(&i.disk_config)
        .execute(&mut *tx)
        .await?;
        for (key, value) in &i.metadata {
            sqlx::query(
                "INSERT INTO compute_instance_metadata (instance_uuid, key, value) VALUES ($1, $2, $3)",
            )
            .bind(&i.uuid)
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// One instance by uuid (deleted ones too), with its metadata.
pub async fn instance_get(pool: &Pool, uuid: &str) -> Result<Option<Instance>, ComputeError> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM compute_instances WHERE uuid = $1"
    )))
    .bind(uuid)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let mut instance = from_row(&row)?;
    instance.metadata = metadata_get(pool, uuid).await?;
    super::extras::extras_fill_one(pool, &mut instance).await?;
    Ok(Some(instance))
}

/// Filters of a server listing, already validated.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only this project (None: all projects, for admins).
    pub project_id: Option<String>,
    /// Include deleted rows (`changes-since` or `deleted=true`).
    pub include_deleted: bool,
    /// Only deleted rows.
    pub only_deleted: bool,
    /// Changed at or after (microseconds).
    pub changes_since: Option<i64>,
    /// Changed before (microseconds).
    pub changes_before: Option<i64>,
    /// vm_states allowed (from `status`).
    pub vm_states: Option<Vec<String>>,
    /// Exact image id.
    pub image: Option<String>,
    /// Exact flavor id.
    pub flavor: Option<String>,
    /// Exact reservation id.
    pub reservation_id: Option<String>,
    /// Exact user id.
    pub user_id: Option<String>,
    /// Exact key pair name.
    pub key_name: Option<String>,
}

/// Instances matching `filter`, oldest first (name regexes and markers are
/// applied by the caller, which needs the whole ordered set for them).
pub async fn instances_list(pool: &Pool, f: &ListFilter) -> Result<Vec<Instance>, ComputeError> {
    let mut sql = format!("SELECT {COLUMNS} FROM compute_instances WHERE 1 = 1");
    let mut args: Vec<String> = Vec::new();
    let mut ints: Vec<(usize, i64)> = Vec::new();
    let push = |sql: &mut String, column: &str, value: &str, args: &mut Vec<String>| {
        args.push(value.to_string());
        sql.push_str(&format!(" AND {column} = ${}", args.len()));
    };
    if let Some(p) = &f.project_id {
        push(&mut sql, "project_id", p, &mut args);
    }
    if let Some(v) = &f.image {
        push(&mut sql, "image_ref", v, &mut args);
    }
    if let Some(v) = &f.flavor {
        push(&mut sql, "flavor_id", v, &mut args);
    }
    if let Some(v) = &f.reservation_id {
        push(&mut sql, "reservation_id", v, &mut args);
    }
    if let Some(v) = &f.user_id {
        push(&mut sql, "user_id", v, &mut args);
    }
    if let Some(v) = &f.key_name {
        push(&mut sql, "key_name", v, &mut args);
    }
    if f.only_deleted {
        sql.push_str(" AND deleted = 1");
    } else if !f.include_deleted {
        sql.push_str(" AND deleted = 0");
    }
    if let Some(states) = &f.vm_states {
        if states.is_empty() {
            return Ok(Vec::new());
        }
        let mut marks = Vec::new();
        for s in states {
            args.push(s.clone());
            marks.push(format!("${}", args.len()));
        }
        sql.push_str(&format!(" AND vm_state IN ({})", marks.join(", ")));
    }
    if let Some(t) = f.changes_since {
        ints.push((args.len() + ints.len() + 1, t));
        sql.push_str(&format!(" AND updated_at >= ${}", args.len() + ints.len()));
    }
    if let Some(t) = f.changes_before {
        ints.push((args.len() + ints.len() + 1, t));
        sql.push_str(&format!(" AND updated_at <= ${}", args.len() + ints.len()));
    }
    sql.push_str(" ORDER BY created_at DESC, uuid DESC");
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for a in &args {
        query = query.bind(a.clone());
    }
    for (_, t) in &ints {
        query = query.bind(*t);
    }
    let rows = query.fetch_all(pool).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(from_row(row)?);
    }
    let meta = metadata_all(pool).await?;
    for i in &mut out {
        if let Some(m) = meta.get(&i.uuid) {
            i.metadata = m.clone();
        }
    }
    super::extras::extras_fill(pool, &mut out).await?;
    Ok(out)
}

/// Every instance not deleted, for the periodic tasks and recovery.
pub async fn instances_live(pool: &Pool) -> Result<Vec<Instance>, ComputeError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM compute_instances WHERE deleted = 0"
    )))
    .fetch_all(pool)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Sets vm_state, task_state and power_state.
pub async fn instance_set_states(
    pool: &Pool,
    uuid: &str,
    vm_state: &str,
    task_state: Option<&str>,
    power_state: i64,
) -> Result<(), ComputeError> {
    sqlx::query(
        "UPDATE compute_instances SET vm_state = $1, task_state = $2, power_state = $3, \
         updated_at = $4 WHERE uuid = $5",
    )
    .bind(vm_state)
    .bind(task_state)
    .bind(power_state)
    .bind(now_micros())
    .bind(uuid)
    .execute(pool)
    .await?;
    Ok(())
}

/// Sets task_state only if the current one is `expected` (nova's
/// `expected_task_state`): false when another operation got there first.
pub async fn instance_claim_task(
    pool: &Pool,
    uuid: &str,
    allowed_vm_states: &[&str],
    task_state: &str,
) -> Result<bool, ComputeError> {
    let mut marks = Vec::new();
    for n in 0..allowed_vm_states.len() {
        marks.push(format!("${}", n + 4));
    }
    let sql = format!(
        "UPDATE compute_instances SET task_state = $1, updated_at = $2 \
         WHERE uuid = $3 AND deleted = 0 AND task_state IS NULL AND vm_state IN ({})",
        marks.join(", ")
    );
    let mut q = sqlx::query(AssertSqlSafe(sql))
        .bind(task_state)
        .bind(now_micros())
        .bind(uuid);
    for s in allowed_vm_states {
        q = q.bind(*s);
    }
    Ok(q.execute(pool).await?.rows_affected() == 1)
}

/// Sets power_state only (the periodic sync).
pub async fn instance_set_power(pool: &Pool, uuid: &str, power: i64) -> Result<(), ComputeError> {
    sqlx::query("UPDATE compute_instances SET power_state = $1 WHERE uuid = $2")
        .bind(power)
        .bind(uuid)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records the first launch.
pub async fn instance_set_launched(pool: &Pool, uuid: &str) -> Result<(), ComputeError> {
    sqlx::query(
        "UPDATE compute_instances SET launched_at = COALESCE(launched_at, $1) WHERE uuid = $2",
    )
    .bind(now_micros())
    .bind(uuid)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a fault.
pub async fn instance_set_fault(
    pool: &Pool,
    uuid: &str,
    code: i64,
    message: &str,
    details: &str,
) -> Result<(), ComputeError> {
    sqlx::query(
        "UPDATE compute_instances SET fault_code = $1, fault_message = $2, fault_details = $3, \
         fault_created_at = $4 WHERE uuid = $5",
    )
    .bind(code)
    .bind(message)
    .bind(details)
    .bind(now_micros())
    .bind(uuid)
    .execute(pool)
    .await?;
    Ok(())
}

/// Updates name, description, hostname, access IPs.
pub async fn instance_update(pool: &Pool, i: &Instance) -> Result<(), ComputeError> {
    sqlx::query(
        "UPDATE compute_instances SET display_name = $1, display_description = $2, \
         hostname = $3, access_ip_v4 = $4, access_ip_v6 = $5, updated_at = $6, \
         disk_config = $8 WHERE uuid = $7",
    )
    .bind(&i.display_name)
    .bind(i.display_description.as_deref())
    .bind(&i.hostname)
    .bind(i.access_ip_v4.as_deref())
    .bind(i.access_ip_v6.as_deref())
    .bind(now_micros())
    .bind(&i.uuid)
    .bind(&i.disk_config)
    .execute(pool)
    .await?;
    Ok(())
}

/// Changes the image (rebuild, which may give a new image).
pub async fn instance_set_image(pool: &Pool, uuid: &str, image: &str) -> Result<(), ComputeError> {
    sqlx::query("UPDATE compute_instances SET image_ref = $1, updated_at = $2 WHERE uuid = $3")
        .bind(image)
        .bind(now_micros())
        .bind(uuid)
        .execute(pool)
        .await?;
    Ok(())
}

/// Changes the key pair injected at the next (re)build (rebuild, 2.54).
pub async fn instance_set_key(
    pool: &Pool,
    uuid: &str,
    key_name: Option<&str>,
    key_data: Option<&str>,
) -> Result<(), ComputeError> {
    sqlx::query(
        "UPDATE compute_instances SET key_name = $1, key_data = $2, updated_at = $3 WHERE uuid = $4",
    )
    .bind(key_name)
    .bind(key_data)
    .bind(now_micros())
    .bind(uuid)
    .execute(pool)
    .await?;
    Ok(())
}

/// Changes the user data (rebuild, 2.57).
pub async fn instance_set_user_data(
    pool: &Pool,
    uuid: &str,
    user_data: Option<&str>,
) -> Result<(), ComputeError> {
    sqlx::query("UPDATE compute_instances SET user_data = $1, updated_at = $2 WHERE uuid = $3")
        .bind(user_data)
        .bind(now_micros())
        .bind(uuid)
        .execute(pool)
        .await?;
    Ok(())
}

/// Soft-deletes: vm_state deleted, deleted = 1, quota freed.
pub async fn instance_mark_deleted(pool: &Pool, uuid: &str) -> Result<(), ComputeError> {
    let now = now_micros();
    sqlx::query(
        "UPDATE compute_instances SET vm_state = 'deleted', task_state = NULL, power_state = 0, \
         deleted = 1, deleted_at = $1, terminated_at = $1, updated_at = $1 WHERE uuid = $2",
    )
    .bind(now)
    .bind(uuid)
    .execute(pool)
    .await?;
    Ok(())
}

async fn metadata_get(pool: &Pool, uuid: &str) -> Result<BTreeMap<String, String>, ComputeError> {
    let rows =
        sqlx::query("SELECT key, value FROM compute_instance_metadata WHERE instance_uuid = $1")
            .bind(uuid)
            .fetch_all(pool)
            .await?;
    let mut out = BTreeMap::new();
    for row in rows {
        out.insert(row.try_get("key")?, row.try_get("value")?);
    }
    Ok(out)
}

async fn metadata_all(
    pool: &Pool,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ComputeError> {
    let rows = sqlx::query("SELECT instance_uuid, key, value FROM compute_instance_metadata")
        .fetch_all(pool)
        .await?;
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in rows {
        out.entry(row.try_get("instance_uuid")?)
            .or_default()
            .insert(row.try_get("key")?, row.try_get("value")?);
    }
    Ok(out)
}

/// Replaces all metadata (`PUT .../metadata`) or merges into it (`POST`).
pub async fn metadata_write(
    pool: &Pool,
    uuid: &str,
    items: &BTreeMap<String, String>,
    replace: bool,
) -> Result<(), ComputeError> {
    let mut tx = pool.begin().await?;
    if replace {
        sqlx::query("DELETE FROM compute_instance_metadata WHERE instance_uuid = $1")
            .bind(uuid)
            .execute(&mut *tx)
            .await?;
    }
    for (key, value) in items {
        sqlx::query("DELETE FROM compute_instance_metadata WHERE instance_uuid = $1 AND key = $2")
            .bind(uuid)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO compute_instance_metadata (instance_uuid, key, value) VALUES ($1, $2, $3)",
        )
        .bind(uuid)
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("UPDATE compute_instances SET updated_at = $1 WHERE uuid = $2")
        .bind(now_micros())
        .bind(uuid)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes one metadata key; false when it was not there.
pub async fn metadata_delete(pool: &Pool, uuid: &str, key: &str) -> Result<bool, ComputeError> {
    let done =
        sqlx::query("DELETE FROM compute_instance_metadata WHERE instance_uuid = $1 AND key = $2")
            .bind(uuid)
            .bind(key)
            .execute(pool)
            .await?;
    Ok(done.rows_affected() == 1)
}
