//! `/snapshots/{id}/metadata` and `/snapshots/{id}/metadata/{key}`, as
//! Cinder's `snapshot_metadata` controller (the same shapes as a volume's).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Value, json};

use super::{ApiState, S, body_object};
use crate::app::check_metadata;

pub(super) async fn show(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let s = st.svc.snapshot_get(&ctx, &id).await?;
    Ok(Json(json!({"metadata": s.metadata})).into_response())
}

async fn set(
    st: ApiState,
    ctx: RequestContext,
    id: String,
    body: Value,
    replace: bool,
) -> Result<Response, ApiError> {
    let items = check_metadata(body_object(&body, "metadata")?)?;
    let all = st
        .svc
        .snapshot_metadata_set(&ctx, &id, items, replace)
        .await?;
    Ok(Json(json!({"metadata": all})).into_response())
}

pub(super) async fn merge(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    set(st, ctx, id, body, false).await
}

pub(super) async fn replace(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    set(st, ctx, id, body, true).await
}

pub(super) async fn key_show(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id, key)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let s = st.svc.snapshot_get(&ctx, &id).await?;
    let value = s.metadata.get(&key).ok_or_else(|| {
        ApiError::not_found(format!("Snapshot {id} has no metadata with key {key}."))
    })?;
    Ok(Json(json!({"meta": {key: value}})).into_response())
}

pub(super) async fn key_set(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id, key)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let meta = body_object(&body, "meta")?;
    if meta.len() != 1 || !meta.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let items = check_metadata(meta)?;
    st.svc
        .snapshot_metadata_set(&ctx, &id, items.clone(), false)
        .await?;
    Ok(Json(json!({"meta": items})).into_response())
}

pub(super) async fn key_delete(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id, key)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    st.svc.snapshot_metadata_delete(&ctx, &id, &key).await?;
    Ok(StatusCode::OK.into_response())
}
