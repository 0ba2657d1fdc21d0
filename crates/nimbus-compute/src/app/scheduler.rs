//! The scheduler's decision for one new server on Nimbus's one host, as
//! nova's filter scheduler would make it: the host takes no servers when
//! its nova-compute service is disabled or forced down (nova's
//! `compute_status_filter`/`ComputeFilter`), and a member of an
//! anti-affinity group fits only while the group has fewer than
//! `max_server_per_host` (1) members on it. Affinity and the soft policies
//! always fit one host. A server that does not fit ends in ERROR with
//! nova's `NoValidHost` fault and no host.

use nimbus_db::now_micros;
use tokio::sync::Mutex;

use super::ComputeService;
use super::tasks::record;
use crate::driver::PowerState;
use crate::error::{ComputeError, ComputeErrorKind};
use crate::store::instances::{self, Instance};
use crate::store::server_groups::{self as groups, Member};

/// One decision at a time: a member counts as placed once its decision
/// is recorded, so two concurrent anti-affinity members cannot both fit.
static SCHEDULING: Mutex<()> = Mutex::const_new(());

/// nova's `NoValidHost` with the filter scheduler's reason.
const NOT_ENOUGH_HOSTS: &str = "No valid host was found. There are not enough hosts available.";
/// nova's `NoValidHost` when placement offers no candidate (disabled host).
const NO_CANDIDATES: &str = "No valid host was found. ";

/// Why the host does not take the server, if it does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoValidHost {
    /// The fault message users see.
    pub message: &'static str,
    /// What the operator needs to know (the fault's details).
    pub details: String,
}

/// Whether a member already holds its place on the host: scheduled (it has
/// a host and is past `scheduling`), and not one of the servers being
/// scheduled together with the new one (one multi-create fits or fails as
/// a whole, as nova schedules it).
fn placed(m: &Member, reservation_id: &str) -> bool {
    !m.host.is_empty()
        && m.reservation_id != reservation_id
        && !(m.vm_state == "building" && m.task_state.as_deref() == Some("scheduling"))
}

/// Whether `group`'s policy lets `together` more members onto a host that
/// holds `on_host` of them already.
pub fn group_fits(
    policy: &str,
    max_server_per_host: Option<i64>,
    on_host: usize,
    together: usize,
) -> bool {
    match policy {
        "anti-affinity" => {
            let max = usize::try_from(max_server_per_host.unwrap_or(1)).unwrap_or(1);
            on_host + together <= max
        }
        _ => true,
    }
}

async fn decide(svc: &ComputeService, instance: &Instance) -> Result<(), NoValidHost> {
    let db_failed = |e: &dyn std::fmt::Display| NoValidHost {
        message: NOT_ENOUGH_HOSTS,
        details: format!("scheduling failed: {e}"),
    };
    let accepting = super::hosts::accepting_servers(svc)
        .await
        .map_err(|e| db_failed(&e))?;
    if !accepting {
        return Err(NoValidHost {
            message: NO_CANDIDATES,
            details: format!(
                "the nova-compute service of host {} is disabled or forced down",
                super::hosts::host_name()
            ),
        });
    }
    let pool = svc.db().pool();
    let Some(group_id) = groups::group_of_instance(pool, &instance.uuid)
        .await
        .map_err(|e| db_failed(&e))?
    else {
        return Ok(());
    };
    let Some(group) = groups::group_get(pool, &group_id)
        .await
        .map_err(|e| db_failed(&e))?
    else {
        return Ok(());
    };
    let members = groups::members_live(pool, &group.uuid)
        .await
        .map_err(|e| db_failed(&e))?;
    let on_host = members
        .iter()
        .filter(|m| placed(m, &instance.reservation_id))
        .count();
    let together = members
        .iter()
        .filter(|m| m.reservation_id == instance.reservation_id)
        .count()
        .max(1);
    if group_fits(&group.policy, group.max_server_per_host, on_host, together) {
        Ok(())
    } else {
        Err(NoValidHost {
            message: NOT_ENOUGH_HOSTS,
            details: format!(
                "ServerGroupAntiAffinityFilter: server group {} already has {on_host} member(s) \
                 on the only host ({} allowed per host); {together} more requested",
                group.uuid,
                group.max_server_per_host.unwrap_or(1)
            ),
        })
    }
}

/// Schedules the new server `instance` (create action `action_id`): true
/// when it goes on to spawn (its task_state is then `spawning`), false when
/// it ended in ERROR with a NoValidHost fault.
pub async fn schedule(svc: &ComputeService, instance: &Instance, action_id: &str) -> bool {
    let started = now_micros();
    let pool = svc.db().pool();
    let _turn = SCHEDULING.lock().await;
    match decide(svc, instance).await {
        Ok(()) => {
            let _ = instances::instance_set_states(
                pool,
                &instance.uuid,
                "building",
                Some("spawning"),
                PowerState::NoState as i64,
            )
            .await;
            true
        }
        Err(no_host) => {
            tracing::warn!(instance = %instance.uuid, reason = %no_host.details, "no valid host");
            let _ = groups::instance_clear_host(pool, &instance.uuid).await;
            let _ = instances::instance_set_fault(
                pool,
                &instance.uuid,
                500,
                no_host.message,
                &no_host.details,
            )
            .await;
            let _ = instances::instance_set_states(
                pool,
                &instance.uuid,
                "error",
                None,
                PowerState::NoState as i64,
            )
            .await;
            let err = ComputeError::new(ComputeErrorKind::Build, no_host.message.trim_end());
            record(
                svc,
                action_id,
                "conductor_schedule_and_build_instances",
                started,
                &Err(err),
            )
            .await;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(host: &str, reservation: &str, vm: &str, task: Option<&str>) -> Member {
        Member {
            uuid: "u".into(),
            host: host.into(),
            reservation_id: reservation.into(),
            vm_state: vm.into(),
            task_state: task.map(str::to_string),
        }
    }

    #[test]
    fn anti_affinity_allows_max_server_per_host() {
        assert!(group_fits("anti-affinity", None, 0, 1));
        assert!(!group_fits("anti-affinity", None, 1, 1));
        assert!(!group_fits("anti-affinity", None, 0, 2));
        assert!(group_fits("anti-affinity", Some(3), 2, 1));
        assert!(!group_fits("anti-affinity", Some(3), 2, 2));
        for p in ["affinity", "soft-affinity", "soft-anti-affinity"] {
            assert!(group_fits(p, None, 5, 5));
        }
    }

    #[test]
    fn only_scheduled_members_of_other_requests_hold_a_place() {
        assert!(placed(&member("nimbus", "r-1", "active", None), "r-2"));
        assert!(placed(
            &member("nimbus", "r-1", "building", Some("spawning")),
            "r-2"
        ));
        assert!(!placed(
            &member("nimbus", "r-1", "building", Some("scheduling")),
            "r-2"
        ));
        assert!(!placed(&member("", "r-1", "error", None), "r-2"));
        assert!(!placed(&member("nimbus", "r-2", "active", None), "r-2"));
    }
}
