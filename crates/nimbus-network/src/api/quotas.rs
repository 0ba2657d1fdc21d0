//! `/v2.0/quotas`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Value, json};

use super::{Api, reply};
use crate::app::input::Attrs;
use crate::app::quotas::DEFAULTS;
use crate::error::policy;

fn quota_json(limits: &BTreeMap<String, i64>) -> Value {
    json!(limits)
}

/// `GET /v2.0/quotas` (admin): projects with overrides.
pub async fn list(State(api): State<Api>, ctx: RequestContext) -> Result<Response, ApiError> {
    let all = api.svc.quota_list(&ctx).await?;
    let quotas: Vec<Value> = all
        .into_iter()
        .map(|(project, limits)| {
            let mut v = quota_json(&limits);
            v["project_id"] = json!(project);
            v["tenant_id"] = json!(project);
            v
        })
        .collect();
    Ok(axum::Json(json!({ "quotas": quotas })).into_response())
}

/// `GET /v2.0/quotas/{project}`.
pub async fn show(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    let limits = api.svc.quota_show(&ctx, &project).await?;
    Ok(reply(StatusCode::OK, "quota", quota_json(&limits)))
}

/// `GET /v2.0/quotas/{project}/default`.
pub async fn defaults(
    ctx: RequestContext,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    if !ctx.is_admin() && ctx.project_id.as_deref() != Some(project.as_str()) {
        return Err(policy("get_quota"));
    }
    let limits: BTreeMap<String, i64> = DEFAULTS.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    Ok(reply(StatusCode::OK, "quota", quota_json(&limits)))
}

/// `GET /v2.0/quotas/{project}/details`: limit, used, reserved.
pub async fn details(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    let limits = api.svc.quota_show(&ctx, &project).await?;
    let used = api.svc.quota_usage(&project).await?;
    let detail: serde_json::Map<String, Value> = limits
        .iter()
        .map(|(k, limit)| {
            (
                k.clone(),
                json!({"limit": limit, "used": used.get(k).copied().unwrap_or(0), "reserved": 0}),
            )
        })
        .collect();
    Ok(reply(StatusCode::OK, "quota", Value::Object(detail)))
}

/// `PUT /v2.0/quotas/{project}` (admin).
pub async fn update(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(project): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let limits = api
        .svc
        .quota_update(&ctx, &project, Attrs::from_body(body, "quota")?)
        .await?;
    Ok(reply(StatusCode::OK, "quota", quota_json(&limits)))
}

/// `DELETE /v2.0/quotas/{project}` (admin).
pub async fn delete(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(project): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.svc.quota_reset(&ctx, &project).await?;
    Ok(StatusCode::NO_CONTENT)
}
