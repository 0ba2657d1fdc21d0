//! Server actions (`POST /servers/{id}/action`): the state checks nova's
//! `check_instance_state` does at the API (409 otherwise), the task_state
//! claimed atomically, the work in a task.

use std::future::Future;
use std::pin::Pin;

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;

use super::ComputeService;
use super::servers::server_get;
use super::tasks::{GRACEFUL_SHUTDOWN, driver_error, record};
use crate::build;
use crate::driver::{Guest, PowerState, machine_file};
use crate::error::{ComputeError, ComputeErrorKind};
use crate::store::instance_actions;
use crate::store::instances::{self, Instance};

/// A power or lifecycle action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `os-stop`.
    Stop,
    /// `os-start`.
    Start,
    /// `reboot` SOFT.
    RebootSoft,
    /// `reboot` HARD.
    RebootHard,
    /// `pause`.
    Pause,
    /// `unpause`.
    Unpause,
    /// `suspend`.
    Suspend,
    /// `resume`.
    Resume,
}

impl Action {
    /// (nova's action name, allowed vm_states, task_state while it runs, event).
    fn rules(
        self,
    ) -> (
        &'static str,
        &'static [&'static str],
        &'static str,
        &'static str,
    ) {
        match self {
            Action::Stop => (
                "stop",
                &["active", "error"],
                "powering-off",
                "compute_stop_instance",
            ),
            Action::Start => (
                "start",
                &["stopped"],
                "powering-on",
                "compute_start_instance",
            ),
            Action::RebootSoft => (
                "reboot",
                &["active"],
                "rebooting",
                "compute_reboot_instance",
            ),
            Action::RebootHard => (
                "reboot",
                &["active", "paused", "suspended", "stopped", "error"],
                "rebooting_hard",
                "compute_reboot_instance",
            ),
            Action::Pause => ("pause", &["active"], "pausing", "compute_pause_instance"),
            Action::Unpause => (
                "unpause",
                &["paused"],
                "unpausing",
                "compute_unpause_instance",
            ),
            Action::Suspend => (
                "suspend",
                &["active"],
                "suspending",
                "compute_suspend_instance",
            ),
            Action::Resume => (
                "resume",
                &["suspended"],
                "resuming",
                "compute_resume_instance",
            ),
        }
    }
}

/// Checks the state, claims the task_state and starts the work.
pub async fn server_action(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    action: Action,
) -> Result<(), ApiError> {
    let instance = server_get(svc, ctx, id).await?;
    if !ctx.can_write() {
        return Err(ApiError::policy("os_compute_api:servers:action"));
    }
    super::lock::check_lock(ctx, &instance)?;
    let (name, allowed, task, event) = action.rules();
    claim(svc, &instance, name, allowed, task).await?;
    let action_id = instance_actions::action_start(
        svc.db().pool(),
        &instance.uuid,
        &ctx.request_id,
        name,
        &instance.project_id,
        &ctx.user_id,
    )
    .await?;
    let svc = svc.clone();
    let uuid = instance.uuid.clone();
    tokio::spawn(async move {
        let lock = svc.tasks().lock_for(&uuid);
        let _guard = lock.lock().await;
        let started = now_micros();
        let result = run(&svc, &uuid, action).await;
        finish(&svc, &uuid, &result).await;
        record(&svc, &action_id, event, started, &result).await;
    });
    Ok(())
}

/// Sets `task` if the server is in one of `allowed` with no task running
/// (nova's `InstanceInvalidState`/`InstanceInvalidState` 409 otherwise).
pub async fn claim(
    svc: &ComputeService,
    instance: &Instance,
    name: &str,
    allowed: &[&str],
    task: &str,
) -> Result<(), ApiError> {
    let conflict = |i: &Instance| {
        let attr = if i.task_state.is_some() {
            format!("task_state {}", i.task_state.as_deref().unwrap_or(""))
        } else {
            format!("vm_state {}", i.vm_state)
        };
        ApiError::conflict(format!(
            "Cannot '{name}' instance {} while it is in {attr}",
            i.uuid
        ))
    };
    if instance.task_state.is_some() || !allowed.contains(&instance.vm_state.as_str()) {
        return Err(conflict(instance));
    }
    if !instances::instance_claim_task(svc.db().pool(), &instance.uuid, allowed, task).await? {
        let now = instances::instance_get(svc.db().pool(), &instance.uuid)
            .await?
            .unwrap_or_else(|| instance.clone());
        return Err(conflict(&now));
    }
    Ok(())
}

/// Records the outcome: the new states on success, ERROR-free rollback of
/// the task_state with a fault on failure (the guest keeps its state).
async fn finish(svc: &ComputeService, uuid: &str, result: &Result<(), ComputeError>) {
    let pool = svc.db().pool();
    if let Err(err) = result {
        tracing::warn!(instance = %uuid, error = %err.chain(), "action failed");
        let _ =
            instances::instance_set_fault(pool, uuid, 500, &err.to_string(), &err.chain()).await;
        let (vm, power) = observed(svc, uuid).await;
        let _ = instances::instance_set_states(pool, uuid, vm, None, power as i64).await;
    }
}

/// The vm_state and power_state the guest is actually in.
pub async fn observed(svc: &ComputeService, uuid: &str) -> (&'static str, PowerState) {
    if let Some(guest) = svc.tasks().guest(uuid) {
        let power = guest.lock().await.power_state().await;
        match power {
            PowerState::Running => return ("active", power),
            PowerState::Paused => return ("paused", power),
            PowerState::Shutdown => {}
            _ => return ("active", power),
        }
        svc.tasks().unregister(uuid);
    }
    if let Ok(dir) = build::instance_dir(svc.config(), uuid)
        && crate::driver::QemuDriver::is_suspended(&dir)
    {
        return ("suspended", PowerState::Suspended);
    }
    ("stopped", PowerState::Shutdown)
}

type Work<'a> = Pin<Box<dyn Future<Output = Result<(), ComputeError>> + Send + 'a>>;

fn run<'a>(svc: &'a ComputeService, uuid: &'a str, action: Action) -> Work<'a> {
    Box::pin(async move {
        let pool = svc.db().pool();
        let set = |vm: &'static str, power: PowerState| async move {
            instances::instance_set_states(pool, uuid, vm, None, power as i64).await
        };
        match action {
            Action::Stop => {
                power_off(svc, uuid, false).await?;
                set("stopped", PowerState::Shutdown).await
            }
            Action::Start => {
                power_on(svc, uuid).await?;
                set("active", PowerState::Running).await
            }
            Action::RebootSoft | Action::RebootHard => {
                let hard = action == Action::RebootHard;
                if hard {
                    // A suspended guest loses its saved memory, as with
                    // libvirt's hard reboot of a managed-saved domain.
                    if let Ok(dir) = build::instance_dir(svc.config(), uuid) {
                        let _ = tokio::fs::remove_file(dir.join("suspend.state")).await;
                    }
                }
                power_off(svc, uuid, hard).await?;
                power_on(svc, uuid).await?;
                set("active", PowerState::Running).await
            }
            Action::Pause => {
                with_guest(svc, uuid, |g| Box::pin(async move { g.pause().await })).await?;
                set("paused", PowerState::Paused).await
            }
            Action::Unpause => {
                with_guest(svc, uuid, |g| Box::pin(async move { g.unpause().await })).await?;
                set("active", PowerState::Running).await
            }
            Action::Suspend => {
                let guest = running(svc, uuid)?;
                guest.lock().await.suspend().await.map_err(driver_error)?;
                svc.tasks().unregister(uuid);
                set("suspended", PowerState::Suspended).await
            }
            Action::Resume => {
                let dir = build::instance_dir(svc.config(), uuid)?;
                let machine = machine_file::load(&dir).await.map_err(driver_error)?;
                let machine = super::volumes::with_volumes(svc, uuid, &dir, machine).await?;
                let guest = svc
                    .tasks()
                    .driver()
                    .resume(&dir, &machine)
                    .await
                    .map_err(driver_error)?;
                svc.tasks().register(uuid, guest);
                set("active", PowerState::Running).await
            }
        }
    })
}

fn running(
    svc: &ComputeService,
    uuid: &str,
) -> Result<std::sync::Arc<tokio::sync::Mutex<Guest>>, ComputeError> {
    svc.tasks().guest(uuid).ok_or_else(|| {
        ComputeError::new(
            ComputeErrorKind::Driver,
            format!("instance {uuid} has no running QEMU"),
        )
    })
}

async fn with_guest<F>(svc: &ComputeService, uuid: &str, f: F) -> Result<(), ComputeError>
where
    F: for<'g> FnOnce(
        &'g mut Guest,
    ) -> Pin<Box<dyn Future<Output = crate::driver::Result<()>> + Send + 'g>>,
{
    let guest = running(svc, uuid)?;
    let mut g = guest.lock().await;
    f(&mut g).await.map_err(driver_error)
}

/// Stops the guest (ACPI first unless `hard`) and forgets it.
pub async fn power_off(svc: &ComputeService, uuid: &str, hard: bool) -> Result<(), ComputeError> {
    if let Some(guest) = svc.tasks().unregister(uuid) {
        let mut g = guest.lock().await;
        let graceful = if hard {
            std::time::Duration::ZERO
        } else {
            GRACEFUL_SHUTDOWN
        };
        if let Err(err) = g.power_off(graceful).await {
            svc.tasks().register_arc(uuid, guest.clone());
            return Err(driver_error(err));
        }
    }
    Ok(())
}

/// Starts the guest from its saved machine definition (resuming it when
/// its memory was saved by `suspend`).
pub async fn power_on(svc: &ComputeService, uuid: &str) -> Result<(), ComputeError> {
    if svc.tasks().guest(uuid).is_some() {
        return Ok(());
    }
    let dir = build::instance_dir(svc.config(), uuid)?;
    let machine = machine_file::load(&dir).await.map_err(driver_error)?;
    let machine = super::volumes::with_volumes(svc, uuid, &dir, machine).await?;
    let driver = svc.tasks().driver();
    let guest = if crate::driver::QemuDriver::is_suspended(&dir) {
        driver.resume(&dir, &machine).await
    } else {
        driver.start(&dir, &machine).await
    }
    .map_err(driver_error)?;
    svc.tasks().register(uuid, guest);
    Ok(())
}

/// `os-getConsoleOutput`: the last `length` lines (all when `None`).
pub async fn console_output(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    length: Option<usize>,
) -> Result<String, ApiError> {
    let instance = server_get(svc, ctx, id).await?;
    if instance.vm_state == "building" {
        return Err(ApiError::conflict(format!(
            "Cannot 'get_console_output' instance {id} while it is in vm_state building"
        )));
    }
    let dir = build::instance_dir(svc.config(), &instance.uuid)?;
    // nova's libvirt driver reads at most the last 100 KiB.
    let bytes = Guest::console_output(&dir, 100 * 1024)
        .await
        .map_err(|e| ApiError::from(driver_error(e)))?;
    let text = String::from_utf8_lossy(&bytes).replace('\r', "");
    Ok(match length {
        None => text,
        Some(n) => tail_lines(&text, n),
    })
}

/// nova's `_tail_log`: the last `n` pieces of the log split at newlines,
/// joined again (a final newline counts as an empty last line, so
/// `length=3` of a log ending in `\n` gives two lines and that newline).
fn tail_lines(text: &str, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    let pieces: Vec<&str> = text.split('\n').collect();
    pieces[pieces.len().saturating_sub(n)..].join("\n")
}

/// `changePassword`: nova's libvirt driver sets it through the QEMU guest
/// agent; our guests run none, so this is nova's 409 for that case.
pub async fn change_password(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<(), ApiError> {
    let instance = server_get(svc, ctx, id).await?;
    if instance.vm_state != "active" || instance.task_state.is_some() {
        return Err(ApiError::conflict(format!(
            "Cannot 'changePassword' instance {id} while it is in vm_state {}",
            instance.vm_state
        )));
    }
    Err(ApiError::conflict("QEMU guest agent is not enabled"))
}

#[cfg(test)]
mod tests {
    use super::tail_lines;

    #[test]
    fn console_tail_counts_lines_as_nova() {
        let log = "a\nb\nc\nd\n";
        assert_eq!(tail_lines(log, 3), "c\nd\n");
        assert_eq!(tail_lines(log, 3).split('\n').count(), 3);
        assert_eq!(tail_lines("a\nb", 5), "a\nb");
        assert_eq!(tail_lines(log, 0), "");
    }
}
