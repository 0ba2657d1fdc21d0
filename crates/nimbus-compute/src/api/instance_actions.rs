//! `/servers/{id}/os-instance-actions`: what was done to a server, with
//! the events of each action.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Value, json};

use super::Microversion;
use super::views::{host_id, naive_time};
use crate::app::ComputeService;
use crate::store::instance_actions::{self, Action};
use crate::store::instances;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/servers/{id}/os-instance-actions", get(action_list))
        .route(
            "/servers/{id}/os-instance-actions/{request_id}",
            get(action_show),
        )
}

/// The server, deleted ones included from 2.21 (nova's show of a deleted
/// instance's actions).
async fn instance_for(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    mv: Microversion,
) -> Result<instances::Instance, ApiError> {
    let missing = || ApiError::not_found(format!("Instance {id} could not be found."));
    match instances::instance_get(svc.db().pool(), id).await? {
        Some(i) if ctx.may_see_project(&i.project_id) && (!i.deleted || mv.at_least(2, 21)) => {
            Ok(i)
        }
        _ => Err(missing()),
    }
}

fn action_json(a: &Action, mv: Microversion) -> Value {
    let mut v = json!({
        "action": a.action,
        "instance_uuid": a.instance_uuid,
        "message": a.message,
        "project_id": a.project_id,
        "request_id": a.request_id,
        "start_time": naive_time(a.start_time),
        "user_id": a.user_id,
    });
    if mv.at_least(2, 58) {
        v["updated_at"] = json!(naive_time(a.updated_at));
    }
    v
}

async fn action_list(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let i = instance_for(&svc, &ctx, &id, mv).await?;
    let actions = instance_actions::actions_list(svc.db().pool(), &i.uuid).await?;
    Ok(Json(json!({
        "instanceActions": actions.iter().map(|a| action_json(a, mv)).collect::<Vec<_>>(),
    })))
}

async fn action_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path((id, request_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let i = instance_for(&svc, &ctx, &id, mv).await?;
    let actions = instance_actions::actions_list(svc.db().pool(), &i.uuid).await?;
    let action = actions
        .iter()
        .find(|a| a.request_id == request_id)
        .ok_or_else(|| {
            ApiError::not_found(format!("Action {request_id} not found for instance {id}"))
        })?;
    let mut body = action_json(action, mv);
    // Events: admins always; everyone from 2.51 (without tracebacks).
    if ctx.is_admin() || mv.at_least(2, 51) {
        let events = instance_actions::events_list(svc.db().pool(), &action.id).await?;
        body["events"] = Value::Array(
            events
                .iter()
                .map(|e| {
                    let mut ev = json!({
                        "event": e.event,
                        "start_time": naive_time(e.start_time),
                        "finish_time": e.finish_time.map(naive_time),
                        "result": e.result,
                    });
                    if ctx.is_admin() {
                        ev["traceback"] = json!(e.traceback);
                    }
                    if mv.at_least(2, 62) {
                        ev["hostId"] = json!(host_id(&i.project_id, &i.host));
                        if ctx.is_admin() {
                            ev["host"] = json!(i.host);
                        }
                    }
                    if mv.at_least(2, 84) {
                        ev["details"] = json!(e.details);
                    }
                    ev
                })
                .collect(),
        );
    }
    Ok(Json(json!({"instanceAction": body})))
}
