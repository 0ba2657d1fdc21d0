//! What a (re)started Nimbus does before serving, and the periodic power
//! state sync: nova's `init_host` and `_sync_power_states`.

use std::time::Duration;

use super::ComputeService;
use crate::build;
use crate::driver::{PowerState, QemuDriver};
use crate::error::ComputeError;
use crate::store::instances;

/// How often power states are synced from QEMU.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(10);

/// Re-attaches to running guests; guests whose QEMU died become SHUTOFF;
/// builds and operations a restart interrupted end (ERROR with a fault for
/// builds, their QEMU killed and their files removed); half-done deletes
/// finish; instance dirs with no live instance are removed.
pub async fn recover(svc: &ComputeService) -> Result<(), ComputeError> {
    let pool = svc.db().pool();
    let driver = svc.tasks().driver().clone();
    let live = instances::instances_live(pool).await?;
    for i in &live {
        let Ok(dir) = build::instance_dir(svc.config(), &i.uuid) else {
            continue;
        };
        let found = driver.find(&dir, &i.uuid).await;
        if i.task_state.as_deref() == Some("deleting") {
            if let Some(mut guest) = found {
                let _ = guest.destroy().await;
            }
            build::cleanup_instance(svc.config(), &i.uuid).await?;
            super::ports::forget(svc, &i.uuid).await?;
            instances::instance_mark_deleted(pool, &i.uuid).await?;
            continue;
        }
        if i.vm_state == "building" {
            if let Some(mut guest) = found {
                let _ = guest.destroy().await;
            }
            build::cleanup_instance(svc.config(), &i.uuid).await?;
            super::ports::release(svc, &i.uuid).await?;
            instances::instance_set_fault(
                pool,
                &i.uuid,
                500,
                "Build of instance aborted: the compute service restarted during the build",
                "Nimbus stopped while this instance was being built; its partial files were \
                 removed.",
            )
            .await?;
            instances::instance_set_states(pool, &i.uuid, "error", None, 0).await?;
            continue;
        }
        // Any other interrupted operation: the guest's real state wins.
        let (vm_state, power) = match found {
            Some(mut guest) => {
                let power = guest.power_state().await;
                svc.tasks().register(&i.uuid, guest);
                match power {
                    PowerState::Paused => ("paused", power),
                    _ => ("active", power),
                }
            }
            None if QemuDriver::is_suspended(&dir) => ("suspended", PowerState::Suspended),
            None if i.vm_state == "error" => ("error", PowerState::Shutdown),
            None => ("stopped", PowerState::Shutdown),
        };
        if i.task_state.is_some() {
            tracing::warn!(instance = %i.uuid, task = ?i.task_state, "operation interrupted by a restart");
        }
        if i.vm_state != vm_state || i.task_state.is_some() || i.power_state != power as i64 {
            instances::instance_set_states(pool, &i.uuid, vm_state, None, power as i64).await?;
        }
    }
    remove_orphans(svc, &live).await;
    Ok(())
}

/// Instance dirs that belong to no live instance (a crash between the
/// delete's cleanup and its row update, or files of deleted rows).
async fn remove_orphans(svc: &ComputeService, live: &[instances::Instance]) {
    let Ok(mut entries) = tokio::fs::read_dir(&svc.config().instances_path).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if uuid::Uuid::parse_str(&name).is_err() || live.iter().any(|i| i.uuid == name) {
            continue;
        }
        if let Some(mut guest) = svc.tasks().driver().find(&entry.path(), &name).await {
            let _ = guest.destroy().await;
        }
        tracing::info!(dir = %entry.path().display(), "removing an orphaned instance dir");
        let _ = build::cleanup_instance(svc.config(), &name).await;
    }
}

/// One pass of nova's `_sync_power_states`: the power state from QEMU, and
/// an ACTIVE guest whose QEMU is gone (shut down from inside) becomes SHUTOFF.
pub async fn sync_power_states(svc: &ComputeService) -> Result<(), ComputeError> {
    let pool = svc.db().pool();
    for i in instances::instances_live(pool).await? {
        if i.task_state.is_some() || i.vm_state == "building" {
            continue;
        }
        let lock = svc.tasks().lock_for(&i.uuid);
        let Ok(_guard) = lock.try_lock() else {
            continue;
        };
        let power = match svc.tasks().guest(&i.uuid) {
            Some(guest) => guest.lock().await.power_state().await,
            None if i.vm_state == "suspended" => PowerState::Suspended,
            None => PowerState::Shutdown,
        };
        if power == PowerState::Shutdown {
            svc.tasks().unregister(&i.uuid);
        }
        if matches!(i.vm_state.as_str(), "active" | "paused") && power == PowerState::Shutdown {
            tracing::info!(instance = %i.uuid, "guest shut down by itself: SHUTOFF");
            instances::instance_set_states(pool, &i.uuid, "stopped", None, power as i64).await?;
        } else if i.power_state != power as i64 {
            instances::instance_set_power(pool, &i.uuid, power as i64).await?;
        }
    }
    Ok(())
}

/// Runs [`sync_power_states`] every [`SYNC_INTERVAL`] while the service lives.
pub fn spawn_power_sync(svc: &ComputeService) {
    let weak = svc.downgrade();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SYNC_INTERVAL).await;
            let Some(svc) = ComputeService::upgrade(&weak) else {
                return;
            };
            if let Err(err) = sync_power_states(&svc).await {
                tracing::warn!(error = %err.chain(), "power state sync failed");
            }
        }
    });
}
