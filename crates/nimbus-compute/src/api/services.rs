//! `/os-services` (admins): this host's nova-compute and nova-scheduler,
//! and disabling/enabling nova-compute in the forms before and from 2.53
//! (nova's `services.py`).

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Map, Value, json};

use crate::api::Microversion;
use crate::api::flavors::{Params, bool_param, query_map};
use crate::api::keypairs::timestamp;
use crate::app::ComputeService;
use crate::app::hosts;
use crate::store::services::ServiceRow;

/// The services routes.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/os-services", get(service_index))
        .route("/os-services/{id}", put(service_update))
}

/// One service at `v`.
fn service_view(s: &ServiceRow, v: Microversion) -> Value {
    let mut out = json!({
        "binary": s.binary,
        "host": s.host,
        "zone": hosts::zone_of(&s.binary),
        "status": if s.disabled { "disabled" } else { "enabled" },
        // Both services run in this process: up unless forced down.
        "state": if s.forced_down { "down" } else { "up" },
        "updated_at": timestamp(chrono::Utc::now().timestamp_micros()),
        "disabled_reason": s.disabled_reason,
        "id": if v.at_least(2, 53) { json!(s.uuid) } else { json!(s.id) },
    });
    if v.at_least(2, 11) {
        out["forced_down"] = json!(s.forced_down);
    }
    out
}

async fn service_index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    axum::extract::Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("os_compute_api:os-services:list")?;
    let q = query_map(&params, &["host", "binary"], v.at_least(2, 75))?;
    let services: Vec<Value> = hosts::services(&svc)
        .await?
        .iter()
        .filter(|s| q.get("host").is_none_or(|h| *h == s.host))
        .filter(|s| q.get("binary").is_none_or(|b| *b == s.binary))
        .map(|s| service_view(s, v))
        .collect();
    Ok(Json(json!({ "services": services })))
}

fn string_field(body: &Map<String, Value>, key: &str, max: usize) -> Result<String, ApiError> {
    match body.get(key) {
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => Ok(s.clone()),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {other}."
        ))),
        None => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute body. '{key}' is a required property"
        ))),
    }
}

fn only_keys(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(extra) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute body. Additional properties are not allowed \
             ('{extra}' was unexpected)"
        ))),
        None => Ok(()),
    }
}

async fn service_update(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("os_compute_api:os-services:update")?;
    let body = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("The request body must be an object."))?;
    let services = hosts::services(&svc).await?;
    if v.at_least(2, 53) {
        update_v253(&svc, &ctx, v, &id, body, &services).await
    } else {
        update_legacy(&svc, &ctx, v, &id, body, &services).await
    }
}

/// `PUT /os-services/{uuid}` with `status`, `disabled_reason`, `forced_down`.
async fn update_v253(
    svc: &ComputeService,
    ctx: &RequestContext,
    v: Microversion,
    id: &str,
    body: &Map<String, Value>,
    services: &[ServiceRow],
) -> Result<Json<Value>, ApiError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::bad_request(format!("Invalid uuid {id}")));
    }
    only_keys(body, &["status", "disabled_reason", "forced_down"])?;
    let service = services
        .iter()
        .find(|s| s.uuid == id)
        .ok_or_else(|| ApiError::not_found(format!("Service {id} could not be found.")))?;
    let status = match body.get("status") {
        None => None,
        Some(Value::String(s)) if s == "enabled" || s == "disabled" => Some(s.as_str()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute status. Value: {other}."
            )));
        }
    };
    let reason = match body.get("disabled_reason") {
        None => None,
        Some(_) => Some(string_field(body, "disabled_reason", 255)?),
    };
    let forced_down = body
        .get("forced_down")
        .map(|f| bool_param(f, "forced_down"))
        .transpose()?;
    if status.is_none() && forced_down.is_none() {
        return Err(ApiError::bad_request(
            "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
        ));
    }
    if reason.is_some() && status != Some("disabled") {
        return Err(ApiError::bad_request(
            "Specifying 'disabled_reason' with status 'enabled' is invalid.",
        ));
    }
    let disabled = status.map_or(service.disabled, |s| s == "disabled");
    let reason = if disabled {
        reason.or_else(|| service.disabled_reason.clone())
    } else {
        None
    };
    let updated = hosts::service_set(
        svc,
        ctx,
        service,
        disabled,
        reason.as_deref(),
        forced_down.unwrap_or(service.forced_down),
    )
    .await?;
    Ok(Json(json!({ "service": service_view(&updated, v) })))
}

/// `PUT /os-services/{enable|disable|disable-log-reason|force-down}` with
/// `host` and `binary` (before 2.53).
async fn update_legacy(
    svc: &ComputeService,
    ctx: &RequestContext,
    v: Microversion,
    action: &str,
    body: &Map<String, Value>,
    services: &[ServiceRow],
) -> Result<Json<Value>, ApiError> {
    let allowed: &[&str] = match action {
        "enable" | "disable" => &["host", "binary"],
        "disable-log-reason" => &["host", "binary", "disabled_reason"],
        "force-down" if v.at_least(2, 11) => &["host", "binary", "forced_down"],
        _ => return Err(ApiError::not_found("Unknown action")),
    };
    only_keys(body, allowed)?;
    let host = string_field(body, "host", 255)?;
    let binary = string_field(body, "binary", 255)?;
    let service = services
        .iter()
        .find(|s| s.host == host && s.binary == binary)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Compute host {host} with binary {binary} could not be found."
            ))
        })?;
    let mut out = json!({"host": host, "binary": binary});
    match action {
        "enable" => {
            hosts::service_set(svc, ctx, service, false, None, service.forced_down).await?;
            out["status"] = json!("enabled");
        }
        "disable" => {
            hosts::service_set(svc, ctx, service, true, None, service.forced_down).await?;
            out["status"] = json!("disabled");
        }
        "disable-log-reason" => {
            let reason = string_field(body, "disabled_reason", 255)?;
            hosts::service_set(svc, ctx, service, true, Some(&reason), service.forced_down).await?;
            out["status"] = json!("disabled");
            out["disabled_reason"] = json!(reason);
        }
        _ => {
            let forced = bool_param(
                body.get("forced_down").unwrap_or(&Value::Null),
                "forced_down",
            )?;
            hosts::service_set(
                svc,
                ctx,
                service,
                service.disabled,
                service.disabled_reason.as_deref(),
                forced,
            )
            .await?;
            out["forced_down"] = json!(forced);
        }
    }
    Ok(Json(json!({ "service": out })))
}
