//! Server locks (nova's `lock`/`unlock` actions and `check_instance_lock`):
//! a locked server refuses actions and delete for everyone but admins.
//! Who locked matters: an admin's lock is not the owner's to lift.

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;

use super::ComputeService;
use super::servers::server_get;
use crate::store::instances::Instance;
use crate::store::{extras, instance_actions};

/// nova's `check_instance_lock`: 409 `InstanceIsLocked` for non-admins.
pub fn check_lock(ctx: &RequestContext, instance: &Instance) -> Result<(), ApiError> {
    if instance.extras.locked() && !ctx.is_admin() {
        return Err(ApiError::conflict(format!(
            "Instance {} is locked",
            instance.uuid
        )));
    }
    Ok(())
}

/// Who a lock by `ctx` is recorded as: the owning project, or an admin
/// from elsewhere.
fn locker(ctx: &RequestContext, instance: &Instance) -> &'static str {
    if ctx.project_id.as_deref() == Some(instance.project_id.as_str()) {
        "owner"
    } else {
        "admin"
    }
}

/// `lock`: a lock already held is kept as is when the owner asks again
/// (nova only lets an admin take over a lock).
pub async fn server_lock(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    reason: Option<&str>,
) -> Result<(), ApiError> {
    let instance = server_get(svc, ctx, id).await?;
    if !ctx.can_write() {
        return Err(ApiError::policy("os_compute_api:os-lock-server:lock"));
    }
    let by = locker(ctx, &instance);
    if instance.extras.locked() && by == "owner" {
        return Ok(());
    }
    record(svc, ctx, &instance, "lock", || async {
        extras::lock_set(svc.db().pool(), &instance.uuid, Some(by), reason).await
    })
    .await
}

/// `unlock`: the owner may lift its own lock; lifting someone else's
/// (`locked_by` differs) needs nova's `unlock:unlock_override` (admins).
pub async fn server_unlock(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<(), ApiError> {
    let instance = server_get(svc, ctx, id).await?;
    if !ctx.can_write() {
        return Err(ApiError::policy("os_compute_api:os-lock-server:unlock"));
    }
    let expected = locker(ctx, &instance);
    if let Some(by) = &instance.extras.locked_by
        && by != expected
    {
        ctx.require_admin("os_compute_api:os-lock-server:unlock:unlock_override")?;
    }
    record(svc, ctx, &instance, "unlock", || async {
        extras::lock_set(svc.db().pool(), &instance.uuid, None, None).await
    })
    .await
}

/// Runs `work` as instance action `name` with its `api_<name>` event.
async fn record<F, Fut>(
    svc: &ComputeService,
    ctx: &RequestContext,
    instance: &Instance,
    name: &str,
    work: F,
) -> Result<(), ApiError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), crate::error::ComputeError>>,
{
    let pool = svc.db().pool();
    let action = instance_actions::action_start(
        pool,
        &instance.uuid,
        &ctx.request_id,
        name,
        &instance.project_id,
        &ctx.user_id,
    )
    .await?;
    let started = now_micros();
    let result = work().await;
    let chain = result.as_ref().err().map(|e| e.chain());
    instance_actions::event_record(
        pool,
        &action,
        &format!("api_{name}"),
        started,
        chain.as_deref().map(|c| (c, c)),
    )
    .await?;
    Ok(result?)
}
