//! `/servers/{id}/metadata`: nova's server metadata API.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Value, json};

use crate::app::ComputeService;
use crate::app::servers::{check_metadata, server_get};
use crate::store::instances;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route(
            "/servers/{id}/metadata",
            get(metadata_index)
                .post(metadata_update)
                .put(metadata_replace),
        )
        .route(
            "/servers/{id}/metadata/{key}",
            get(metadata_show).put(metadata_set).delete(metadata_delete),
        )
}

fn items(body: &Value, wrapper: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let map = body
        .get(wrapper)
        .and_then(Value::as_object)
        .ok_or_else(|| {
            ApiError::bad_request(format!("Malformed request body: '{wrapper}' is required"))
        })?;
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let v = v.as_str().ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input for field/attribute {wrapper}. Value of {k} is not a string"
            ))
        })?;
        out.insert(k.clone(), v.to_string());
    }
    check_metadata(&out)?;
    Ok(out)
}

/// Metadata changes are refused while the server builds or is deleted
/// (nova's `check_instance_state` for update_instance_metadata).
async fn writable(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<crate::store::instances::Instance, ApiError> {
    let i = server_get(svc, ctx, id).await?;
    if !ctx.can_write() {
        return Err(ApiError::policy("os_compute_api:server-metadata:update"));
    }
    crate::app::lock::check_lock(ctx, &i)?;
    if !matches!(
        i.vm_state.as_str(),
        "active" | "paused" | "suspended" | "stopped" | "building"
    ) || i.task_state.as_deref() == Some("deleting")
    {
        return Err(ApiError::conflict(format!(
            "Cannot 'update metadata' instance {id} while it is in vm_state {}",
            i.vm_state
        )));
    }
    Ok(i)
}

async fn check_quota(
    svc: &ComputeService,
    ctx: &RequestContext,
    count: usize,
) -> Result<(), ApiError> {
    let limits = crate::app::quotas::injection_limits(svc, ctx).await?;
    if limits.metadata_items >= 0
        && i64::try_from(count).unwrap_or(i64::MAX) > limits.metadata_items
    {
        return Err(ApiError::forbidden(format!(
            "Quota exceeded for metadata_items: Requested {count}, but already used 0 of {} metadata_items",
            limits.metadata_items
        )));
    }
    Ok(())
}

async fn metadata_index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let i = server_get(&svc, &ctx, &id).await?;
    Ok(Json(json!({"metadata": i.metadata})))
}

async fn metadata_update(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let new = items(&body, "metadata")?;
    let i = writable(&svc, &ctx, &id).await?;
    let mut merged = i.metadata.clone();
    merged.extend(new.clone());
    check_quota(&svc, &ctx, merged.len()).await?;
    instances::metadata_write(svc.db().pool(), &i.uuid, &new, false).await?;
    Ok(Json(json!({"metadata": merged})))
}

async fn metadata_replace(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let new = items(&body, "metadata")?;
    let i = writable(&svc, &ctx, &id).await?;
    check_quota(&svc, &ctx, new.len()).await?;
    instances::metadata_write(svc.db().pool(), &i.uuid, &new, true).await?;
    Ok(Json(json!({"metadata": new})))
}

async fn metadata_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let i = server_get(&svc, &ctx, &id).await?;
    let value = i
        .metadata
        .get(&key)
        .ok_or_else(|| ApiError::not_found("Metadata item was not found"))?;
    Ok(Json(json!({"meta": {key: value}})))
}

async fn metadata_set(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path((id, key)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let new = items(&body, "meta")?;
    if new.len() != 1 {
        return Err(ApiError::bad_request(
            "Request body contains too many items",
        ));
    }
    if !new.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let i = writable(&svc, &ctx, &id).await?;
    let mut merged = i.metadata.clone();
    merged.extend(new.clone());
    check_quota(&svc, &ctx, merged.len()).await?;
    instances::metadata_write(svc.db().pool(), &i.uuid, &new, false).await?;
    Ok(Json(json!({"meta": new})))
}

async fn metadata_delete(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let i = writable(&svc, &ctx, &id).await?;
    if !instances::metadata_delete(svc.db().pool(), &i.uuid, &key).await? {
        return Err(ApiError::not_found("Metadata item was not found"));
    }
    Ok(StatusCode::NO_CONTENT)
}
