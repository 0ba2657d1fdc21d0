//! `rebuild`: the same server (uuid, flavor, name unless changed) on a new
//! root disk from an image, injected again (nova's `rebuild_instance`).

use std::collections::BTreeMap;

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;

use super::ComputeService;
use super::actions::{claim, power_off};
use super::servers::{generate_password, server_get};
use super::tasks::{Personality, driver_error, record, spec_for};
use crate::build;
use crate::driver::{PowerState, machine_file};
use crate::error::ComputeError;
use crate::store::instance_actions;
use crate::store::instances::{self, Instance};

/// A validated rebuild.
#[derive(Debug, Clone, Default)]
pub struct RebuildRequest {
    /// The new image.
    pub image_ref: String,
    /// New name.
    pub name: Option<String>,
    /// `adminPass` (generated when absent).
    pub admin_pass: Option<String>,
    /// Replaces the metadata when present.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Files to inject (up to 2.56).
    pub personality: Vec<Personality>,
    /// New description (2.19).
    pub description: Option<Option<String>>,
    /// Another key pair, or none (`null`), from 2.54.
    pub key_name: Option<Option<String>>,
    /// New user data (base64), or none (`null`), from 2.57.
    pub user_data: Option<Option<String>>,
    /// `OS-DCF:diskConfig`; `None` keeps the stored one.
    pub disk_config: Option<String>,
}

/// Checks and records the rebuild, starts the task; returns the server
/// (now REBUILD) and the password.
pub async fn server_rebuild(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    req: RebuildRequest,
) -> Result<(Instance, String), ApiError> {
    let instance = server_get(svc, ctx, id).await?;
    if !ctx.can_write() {
        return Err(ApiError::policy("os_compute_api:servers:rebuild"));
    }
    super::lock::check_lock(ctx, &instance)?;
    let image = svc
        .images()
        .image_get(ctx, &req.image_ref)
        .await
        .map_err(|_| {
            ApiError::bad_request(format!("Image {} could not be found.", req.image_ref))
        })?;
    let spec = build::FlavorSpec {
        name: instance.flavor_name.clone(),
        vcpus: u32::try_from(instance.vcpus).unwrap_or(1),
        memory_mb: u64::try_from(instance.memory_mb).unwrap_or(0),
        root_gb: u64::try_from(instance.root_gb).unwrap_or(0),
        ephemeral_gb: u64::try_from(instance.ephemeral_gb).unwrap_or(0),
        swap_mb: u64::try_from(instance.swap_mb).unwrap_or(0),
    };
    build::validate(&image, &spec, ctx.is_admin())?;
    let disk_config = match &req.disk_config {
        Some(dc) => super::servers::disk_config_for(Some(dc), &image.properties)?,
        None => instance.disk_config.clone(),
    };
    let key = match &req.key_name {
        Some(Some(name)) => Some(Some(
            super::keypairs::keypair_for_boot(svc, ctx, name).await?,
        )),
        Some(None) => Some(None),
        None => None,
    };
    claim(
        svc,
        &instance,
        "rebuild",
        &["active", "stopped", "error"],
        "rebuilding",
    )
    .await?;
    let pool = svc.db().pool();
    let mut updated = instance.clone();
    if let Some(name) = &req.name {
        updated.display_name = name.clone();
    }
    if let Some(desc) = &req.description {
        updated.display_description = desc.clone();
    }
    updated.disk_config = disk_config;
    instances::instance_update(pool, &updated).await?;
    instances::instance_set_image(pool, &instance.uuid, &req.image_ref).await?;
    if let Some(key) = &key {
        let (name, data) = match key {
            Some(k) => (Some(k.name.as_str()), Some(k.public_key.as_str())),
            None => (None, None),
        };
        instances::instance_set_key(pool, &instance.uuid, name, data).await?;
    }
    if let Some(user_data) = &req.user_data {
        instances::instance_set_user_data(pool, &instance.uuid, user_data.as_deref()).await?;
    }
    if let Some(meta) = &req.metadata {
        instances::metadata_write(pool, &instance.uuid, meta, true).await?;
    }
    let action_id = instance_actions::action_start(
        pool,
        &instance.uuid,
        &ctx.request_id,
        "rebuild",
        &instance.project_id,
        &ctx.user_id,
    )
    .await?;
    let admin_pass = req.admin_pass.clone().unwrap_or_else(generate_password);
    let was_stopped = instance.vm_state == "stopped";
    let task_svc = svc.clone();
    let task_ctx = ctx.clone();
    let uuid = instance.uuid.clone();
    let pass = admin_pass.clone();
    let files = req.personality.clone();
    tokio::spawn(async move {
        let svc = task_svc;
        let lock = svc.tasks().lock_for(&uuid);
        let _guard = lock.lock().await;
        let started = now_micros();
        let result = rebuild(&svc, &task_ctx, &uuid, pass, &files, was_stopped).await;
        let pool = svc.db().pool();
        match &result {
            Ok(()) => {
                let (vm, power) = if was_stopped {
                    ("stopped", PowerState::Shutdown)
                } else {
                    ("active", PowerState::Running)
                };
                let _ = instances::instance_set_states(pool, &uuid, vm, None, power as i64).await;
            }
            Err(err) => {
                let _ =
                    instances::instance_set_fault(pool, &uuid, 500, &err.to_string(), &err.chain())
                        .await;
                let _ = instances::instance_set_states(pool, &uuid, "error", None, 0).await;
            }
        }
        record(
            &svc,
            &action_id,
            "compute_rebuild_instance",
            started,
            &result,
        )
        .await;
    });
    let now = server_get(svc, ctx, id).await?;
    Ok((now, admin_pass))
}

async fn rebuild(
    svc: &ComputeService,
    ctx: &RequestContext,
    uuid: &str,
    admin_pass: String,
    files: &[Personality],
    was_stopped: bool,
) -> Result<(), ComputeError> {
    let pool = svc.db().pool();
    power_off(svc, uuid, true).await?;
    let Some(instance) = instances::instance_get(pool, uuid).await? else {
        return Ok(());
    };
    instances::instance_set_states(
        pool,
        uuid,
        &instance.vm_state,
        Some("rebuild_spawning"),
        PowerState::NoState as i64,
    )
    .await?;
    build::cleanup_instance(svc.config(), uuid).await?;
    let block_devices: Vec<super::servers::BlockDevice> =
        serde_json::from_str(&instance.block_devices).unwrap_or_default();
    let spec = spec_for(svc, ctx, &instance, Some(admin_pass), files, &block_devices).await?;
    let prepared = build::prepare_instance(svc, ctx, svc.tasks().cache(), &spec).await?;
    machine_file::save(&prepared.dir, &prepared.machine)
        .await
        .map_err(driver_error)?;
    if !was_stopped {
        let machine =
            super::volumes::with_volumes(svc, uuid, &prepared.dir, prepared.machine.clone())
                .await?;
        let guest = svc
            .tasks()
            .driver()
            .start(&prepared.dir, &machine)
            .await
            .map_err(driver_error)?;
        svc.tasks().register(uuid, guest);
    }
    Ok(())
}
