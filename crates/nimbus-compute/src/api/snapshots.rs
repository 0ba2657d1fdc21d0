//! Nova's volume snapshot proxy (`os-snapshots` below 2.36, nova's
//! `snapshots.py`): the volume service's snapshots in nova's view.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use nimbus_volume::Snapshot;
use serde_json::{Value, json};

use super::flavors::Params;
use super::servers::invalid;
use super::views::naive_time;
use super::volumes::{limited, only, opt_string, over_quota_is_forbidden};
use super::{Microversion, require_proxy};
use crate::app::ComputeService;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/os-snapshots", get(index).post(create))
        .route("/os-snapshots/detail", get(detail))
        .route("/os-snapshots/{id}", get(show).delete(destroy))
}

/// nova's `_translate_snapshot_summary_view` (the detail view is the same).
fn view(s: &Snapshot) -> Value {
    json!({
        "id": s.id,
        "volumeId": s.volume_id,
        "status": s.status.as_str(),
        "size": s.size,
        "createdAt": naive_time(s.created_at),
        "displayName": s.name,
        "displayDescription": s.description,
    })
}

async fn list(
    svc: &ComputeService,
    ctx: &RequestContext,
    mv: Microversion,
    params: &[(String, String)],
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let all = svc.volume().snapshot_list(ctx, false).await?;
    let out: Vec<Value> = limited(all, params)?.iter().map(view).collect();
    Ok(Json(json!({ "snapshots": out })))
}

async fn index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    list(&svc, &ctx, mv, &params.0).await
}

async fn detail(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    list(&svc, &ctx, mv, &params.0).await
}

async fn show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let s = svc.volume().snapshot_get(&ctx, &id).await?;
    Ok(Json(json!({ "snapshot": view(&s) })))
}

async fn destroy(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_proxy(mv)?;
    svc.volume().snapshot_delete(&ctx, &id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// nova's `parameter_types.boolean`, read with `bool_from_string(strict)`.
fn force(v: Option<&Value>) -> Result<bool, ApiError> {
    match v {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.as_str() {
            "True" | "TRUE" | "true" | "1" | "ON" | "On" | "on" | "YES" | "Yes" | "yes" => Ok(true),
            "False" | "FALSE" | "false" | "0" | "OFF" | "Off" | "off" | "NO" | "No" | "no" => {
                Ok(false)
            }
            _ => Err(invalid(
                "force",
                format!("'{s}' is not one of the allowed values"),
            )),
        },
        Some(other) => Err(invalid(
            "force",
            format!("{other} is not of type 'boolean', 'string'"),
        )),
    }
}

async fn create(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let top = body
        .as_object()
        .ok_or_else(|| invalid("body", format!("{body} is not of type 'object'")))?;
    only(top, &["snapshot"], "body")?;
    let snap = match top.get("snapshot") {
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(invalid(
                "snapshot",
                format!("{other} is not of type 'object'"),
            ));
        }
        None => return Err(invalid("body", "'snapshot' is a required property")),
    };
    only(
        snap,
        &["volume_id", "force", "display_name", "display_description"],
        "snapshot",
    )?;
    let volume_id = opt_string(snap, "volume_id")?
        .ok_or_else(|| invalid("snapshot", "'volume_id' is a required property"))?;
    let force = force(snap.get("force"))?;
    let s = svc
        .volume()
        .snapshot_create(
            &ctx,
            &volume_id,
            opt_string(snap, "display_name")?,
            opt_string(snap, "display_description")?,
            BTreeMap::new(),
            force,
        )
        .await
        .map_err(over_quota_is_forbidden)?;
    Ok(Json(json!({ "snapshot": view(&s) })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_takes_novas_boolean_spellings_only() {
        assert!(force(Some(&json!("Yes"))).unwrap());
        assert!(force(Some(&json!(true))).unwrap());
        assert!(!force(Some(&json!("off"))).unwrap());
        assert!(!force(None).unwrap());
        assert!(force(Some(&json!("t"))).is_err());
        assert!(force(Some(&json!(1))).is_err());
    }
}
