//! The work behind the 202s: one task per operation, serialized per server
//! by a lock, recording task_state, instance-action events and faults.
//! Running guests live in a registry keyed by instance uuid.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nimbus_common::RequestContext;
use nimbus_db::now_micros;
use tokio::sync::Mutex as AsyncMutex;

use super::ComputeService;
use super::servers::BlockDevice;
use crate::build::{self, ImageCache, InstanceSpec, KeySpec};
use crate::driver::{Guest, PowerState, QemuDriver, machine_file};
use crate::error::{ComputeError, ComputeErrorKind};
use crate::store::instance_actions;
use crate::store::instances::{self, Instance};

/// How long a guest gets to power off through ACPI before it is stopped hard.
pub const GRACEFUL_SHUTDOWN: Duration = Duration::from_secs(60);

/// A decoded personality file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Personality {
    /// Absolute guest path.
    pub path: String,
    /// Contents.
    pub contents: Vec<u8>,
}

/// Per-step timings of one build: (uuid, steps, create-to-running).
pub type BuildTiming = (String, Vec<(&'static str, Duration)>, Duration);

/// Everything a build needs that the row does not keep.
#[derive(Debug, Clone)]
pub struct BuildJob {
    /// The caller (image visibility for the fetch).
    pub ctx: RequestContext,
    /// The row as created.
    pub instance: Instance,
    /// The `create` action.
    pub action_id: String,
    /// The password to inject.
    pub admin_pass: String,
    /// Files to inject.
    pub personality: Vec<Personality>,
    /// Local block devices of the request.
    pub block_devices: Vec<BlockDevice>,
}

/// The driver, the image cache, the running guests and the per-server locks.
pub struct Tasks {
    driver: QemuDriver,
    cache: ImageCache,
    guests: Mutex<HashMap<String, Arc<AsyncMutex<Guest>>>>,
    locks: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
    /// Per-step timings of recent builds (for the benchmark), newest last.
    timings: Mutex<Vec<BuildTiming>>,
}

impl std::fmt::Debug for Tasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks").finish_non_exhaustive()
    }
}

impl Tasks {
    /// Tasks driving `driver`, caching images in `cache`.
    pub fn new(driver: QemuDriver, cache: ImageCache) -> Tasks {
        Tasks {
            driver,
            cache,
            guests: Mutex::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
            timings: Mutex::new(Vec::new()),
        }
    }

    /// The driver.
    pub fn driver(&self) -> &QemuDriver {
        &self.driver
    }

    /// The `_base` image cache.
    pub fn cache(&self) -> &ImageCache {
        &self.cache
    }

    /// The serialization lock of server `uuid`.
    pub fn lock_for(&self, uuid: &str) -> Arc<AsyncMutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(uuid.to_string()).or_default().clone()
    }

    /// The running guest of `uuid`, if any.
    pub fn guest(&self, uuid: &str) -> Option<Arc<AsyncMutex<Guest>>> {
        let guests = self.guests.lock().unwrap_or_else(|p| p.into_inner());
        guests.get(uuid).cloned()
    }

    /// Registers a running guest.
    pub fn register(&self, uuid: &str, guest: Guest) {
        let mut guests = self.guests.lock().unwrap_or_else(|p| p.into_inner());
        guests.insert(uuid.to_string(), Arc::new(AsyncMutex::new(guest)));
    }

    /// Registers a guest already shared (put back after a failed stop).
    pub fn register_arc(&self, uuid: &str, guest: Arc<AsyncMutex<Guest>>) {
        let mut guests = self.guests.lock().unwrap_or_else(|p| p.into_inner());
        guests.insert(uuid.to_string(), guest);
    }

    /// Forgets the guest of `uuid` (it is gone).
    pub fn unregister(&self, uuid: &str) -> Option<Arc<AsyncMutex<Guest>>> {
        let mut guests = self.guests.lock().unwrap_or_else(|p| p.into_inner());
        guests.remove(uuid)
    }

    fn forget_lock(&self, uuid: &str) {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.remove(uuid);
    }

    /// Per-step timings of the last builds: (uuid, steps, create-to-running).
    pub fn build_timings(&self) -> Vec<BuildTiming> {
        self.timings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Starts the build of a new server in its own task.
    pub fn spawn_build(&self, svc: ComputeService, job: BuildJob) {
        tokio::spawn(async move {
            let uuid = job.instance.uuid.clone();
            let lock = svc.tasks().lock_for(&uuid);
            let _guard = lock.lock().await;
            build_and_run(&svc, job).await;
            tracing::debug!(instance = %uuid, "build task done");
        });
    }

    /// Starts the delete of a server in its own task.
    pub fn spawn_delete(&self, svc: ComputeService, uuid: String, action_id: String) {
        tokio::spawn(async move {
            let lock = svc.tasks().lock_for(&uuid);
            let guard = lock.lock().await;
            let started = now_micros();
            let result = terminate(&svc, &uuid).await;
            if let Err(err) = &result {
                tracing::error!(instance = %uuid, error = %err.chain(), "delete failed");
                let _ = instances::instance_set_states(
                    svc.db().pool(),
                    &uuid,
                    "error",
                    None,
                    PowerState::NoState as i64,
                )
                .await;
                let _ = instances::instance_set_fault(
                    svc.db().pool(),
                    &uuid,
                    500,
                    "Deleting the instance failed",
                    &err.chain(),
                )
                .await;
            }
            record(
                &svc,
                &action_id,
                "compute_terminate_instance",
                started,
                &result,
            )
            .await;
            drop(guard);
            svc.tasks().forget_lock(&uuid);
        });
    }
}

/// Records an event of `action_id` from a result (best effort: the event
/// log must never turn a done operation into a failed one).
pub async fn record(
    svc: &ComputeService,
    action_id: &str,
    event: &str,
    started: i64,
    result: &Result<(), ComputeError>,
) {
    let chain = result.as_ref().err().map(|e| e.chain());
    let error = chain.as_deref().map(|c| (c, c));
    if let Err(err) =
        instance_actions::event_record(svc.db().pool(), action_id, event, started, error).await
    {
        tracing::warn!(error = %err.chain(), "recording an instance action event failed");
    }
}

/// The pipeline's spec of an instance row plus what the row does not keep.
pub async fn spec_for(
    svc: &ComputeService,
    ctx: &RequestContext,
    instance: &Instance,
    admin_pass: Option<String>,
    personality: &[Personality],
    block_devices: &[BlockDevice],
) -> Result<InstanceSpec, ComputeError> {
    let image = match super::volumes::boot_image(svc, ctx, instance).await? {
        Some(image) => image,
        None => svc
            .images()
            .image_get(ctx, &instance.image_ref)
            .await
            .map_err(|e| {
                ComputeError::new(
                    ComputeErrorKind::Image,
                    format!("Image {} is not available: {e}", instance.image_ref),
                )
            })?,
    };
    let mut flavor = build::FlavorSpec {
        name: instance.flavor_name.clone(),
        vcpus: u32::try_from(instance.vcpus).unwrap_or(1),
        memory_mb: u64::try_from(instance.memory_mb).unwrap_or(0),
        root_gb: u64::try_from(instance.root_gb).unwrap_or(0),
        ephemeral_gb: u64::try_from(instance.ephemeral_gb).unwrap_or(0),
        swap_mb: u64::try_from(instance.swap_mb).unwrap_or(0),
    };
    // Blank local block devices resize the flavor's ephemeral and swap
    // disks (the API checked they fit within the flavor).
    for bd in block_devices.iter().filter(|b| b.source_type == "blank") {
        let size = u64::try_from(bd.volume_size.unwrap_or(0)).unwrap_or(0);
        if bd.guest_format.as_deref() == Some("swap") {
            flavor.swap_mb = size;
        } else {
            flavor.ephemeral_gb = size;
        }
    }
    let user_data = match &instance.user_data {
        Some(text) => Some(super::servers::decode_base64(text).ok_or_else(|| {
            ComputeError::new(ComputeErrorKind::Corrupt, "stored user_data is not base64")
        })?),
        None => None,
    };
    let created_at = chrono::DateTime::from_timestamp_micros(instance.created_at)
        .unwrap_or_else(chrono::Utc::now);
    let (network_info, no_nic) = super::ports::network_info(svc, ctx, &instance.uuid).await?;
    Ok(InstanceSpec {
        uuid: instance.uuid.clone(),
        hostname: instance.hostname.clone(),
        display_name: instance.display_name.clone(),
        project_id: instance.project_id.clone(),
        user_id: instance.user_id.clone(),
        image,
        flavor,
        key: match (&instance.key_name, &instance.key_data) {
            (Some(name), Some(data)) => Some(KeySpec {
                name: name.clone(),
                key_type: if data.starts_with("-----BEGIN") {
                    "x509".into()
                } else {
                    "ssh".into()
                },
                public_key: data.clone(),
            }),
            _ => None,
        },
        admin_pass,
        metadata: instance.metadata.clone(),
        files: personality
            .iter()
            .map(|p| (p.path.clone(), p.contents.clone()))
            .collect(),
        user_data,
        config_drive: !instance.config_drive.is_empty(),
        network_info,
        no_nic,
        availability_zone: Some(instance.availability_zone.clone()),
        launch_index: instance.launch_index,
        reservation_id: instance.reservation_id.clone(),
        created_at,
    })
}

/// nova's `_do_build_and_run_instance`: disks, then the guest, then ACTIVE;
/// any failure leaves ERROR with a fault, no QEMU and no instance dir.
async fn build_and_run(svc: &ComputeService, job: BuildJob) {
    let uuid = job.instance.uuid.clone();
    let pool = svc.db().pool();
    let started_at = Instant::now();
    let started = now_micros();
    // From the API's row insert to this task running: the hand-off after the 202.
    let queued =
        Duration::from_micros(u64::try_from(started - job.instance.created_at).unwrap_or(0));
    // A delete that came first wins: nothing to build.
    match instances::instance_get(pool, &uuid).await {
        Ok(Some(i)) if !i.deleted && i.task_state.as_deref() != Some("deleting") => {}
        _ => return,
    }
    // The scheduler's turn: task_state spawning, or ERROR with NoValidHost.
    if !super::scheduler::schedule(svc, &job.instance, &job.action_id).await {
        return;
    }
    let scheduled = started_at.elapsed();
    let result = async {
        let mut steps = vec![("queue", queued), ("schedule", scheduled)];
        let mut step_started = Instant::now();
        // Ports before the disks, as nova's _build_resources.
        super::ports::allocate(svc, &job.ctx, &uuid).await?;
        // Then the volumes (nova's _prep_block_device).
        super::volumes::prepare_boot_volumes(svc, &job.ctx, &job.instance, &job.block_devices)
            .await?;
        steps.push(("ports+volumes", step_started.elapsed()));
        let spec = spec_for(
            svc,
            &job.ctx,
            &job.instance,
            Some(job.admin_pass.clone()),
            &job.personality,
            &job.block_devices,
        )
        .await?;
        let prepared = build::prepare_instance(svc, &job.ctx, svc.tasks().cache(), &spec).await?;
        steps.extend(prepared.timings.iter().copied());
        step_started = Instant::now();
        machine_file::save(&prepared.dir, &prepared.machine)
            .await
            .map_err(driver_error)?;
        let machine =
            super::volumes::with_volumes(svc, &uuid, &prepared.dir, prepared.machine.clone())
                .await?;
        let guest = svc
            .tasks()
            .driver()
            .start(&prepared.dir, &machine)
            .await
            .map_err(driver_error)?;
        svc.tasks().register(&uuid, guest);
        // QEMU's process start until its QMP socket answers `qmp_capabilities`.
        steps.push(("qemu", step_started.elapsed()));
        Ok::<_, ComputeError>(steps)
    }
    .await;
    match result {
        Ok(mut timings) => {
            let total = started_at.elapsed();
            let step_started = Instant::now();
            let _ = instances::instance_set_launched(pool, &uuid).await;
            let _ = instances::instance_set_states(
                pool,
                &uuid,
                "active",
                None,
                PowerState::Running as i64,
            )
            .await;
            timings.push(("active", step_started.elapsed()));
            let steps: Vec<String> = timings
                .iter()
                .map(|(step, d)| format!("{step}={:.1}", d.as_secs_f64() * 1000.0))
                .collect();
            // One line per build, for scripts/bench/compute-create.sh.
            tracing::info!(
                instance = %uuid,
                "build timings ms: total={:.1} {}",
                total.as_secs_f64() * 1000.0,
                steps.join(" ")
            );
            {
                let mut all = svc
                    .tasks()
                    .timings
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                all.push((uuid.clone(), timings, total));
                let excess = all.len().saturating_sub(1000);
                all.drain(..excess);
            }
            record(
                svc,
                &job.action_id,
                "compute__do_build_and_run_instance",
                started,
                &Ok(()),
            )
            .await;
        }
        Err(err) => {
            tracing::warn!(instance = %uuid, error = %err.chain(), "build failed");
            if let Some(guest) = svc.tasks().unregister(&uuid) {
                let _ = guest.lock().await.destroy().await;
            }
            let _ = build::cleanup_instance(svc.config(), &uuid).await;
            if let Err(e) = super::ports::release(svc, &uuid).await {
                tracing::warn!(instance = %uuid, error = %e.chain(), "releasing ports failed");
            }
            let _ = instances::instance_set_fault(pool, &uuid, 500, &err.to_string(), &err.chain())
                .await;
            let _ = instances::instance_set_states(
                pool,
                &uuid,
                "error",
                None,
                PowerState::NoState as i64,
            )
            .await;
            record(
                svc,
                &job.action_id,
                "compute__do_build_and_run_instance",
                started,
                &Err(err),
            )
            .await;
        }
    }
}

/// Stops the guest, removes the instance dir, marks the row deleted.
async fn terminate(svc: &ComputeService, uuid: &str) -> Result<(), ComputeError> {
    if let Some(guest) = svc.tasks().unregister(uuid) {
        guest.lock().await.destroy().await.map_err(driver_error)?;
    } else if let Ok(dir) = build::instance_dir(svc.config(), uuid)
        && let Some(mut guest) = svc.tasks().driver().find(&dir, uuid).await
    {
        guest.destroy().await.map_err(driver_error)?;
    }
    build::cleanup_instance(svc.config(), uuid).await?;
    if let Some(instance) = instances::instance_get(svc.db().pool(), uuid).await? {
        super::volumes::instance_volumes_cleanup(svc, &instance).await?;
    }
    super::ports::forget(svc, uuid).await?;
    instances::instance_mark_deleted(svc.db().pool(), uuid).await
}

/// A driver failure as a compute error.
pub fn driver_error(err: crate::driver::DriverError) -> ComputeError {
    ComputeError::new(ComputeErrorKind::Driver, "the hypervisor driver failed").with_source(err)
}
