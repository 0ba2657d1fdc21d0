//! Nova's image metadata proxy (`/images/{id}/metadata` below 2.36, nova's
//! `image_metadata.py`): an image's Glance properties as nova metadata.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use nimbus_image::app::images::{PatchFlavor, PatchOp};
use nimbus_image::app::model::Image;
use serde_json::{Value, json};

use super::Microversion;
use super::require_proxy;
use crate::app::ComputeService;

/// Nova's `metadata_items` quota, which also bounds image metadata.
const MAX_ITEMS: usize = 128;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route(
            "/images/{id}/metadata",
            get(index).post(create).put(update_all),
        )
        .route(
            "/images/{id}/metadata/{key}",
            get(show).put(update).delete(destroy),
        )
}

async fn image(svc: &ComputeService, ctx: &RequestContext, id: &str) -> Result<Image, ApiError> {
    svc.images()
        .image_get(ctx, id)
        .await
        .map_err(|_| ApiError::not_found("Image not found."))
}

/// The string map under `key` of a request body (nova's schema: string keys
/// of 1-255 characters, string values up to 255).
fn items(body: &Value, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let Some(obj) = body.get(key).and_then(Value::as_object) else {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}."
        )));
    };
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        let Some(v) = v.as_str() else {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {k}. Value must be a string."
            )));
        };
        if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {key}."
            )));
        }
        out.insert(k.clone(), v.to_owned());
    }
    Ok(out)
}

fn check_quota(count: usize) -> Result<(), ApiError> {
    if count > MAX_ITEMS {
        return Err(ApiError::forbidden(format!(
            "Quota exceeded for metadata_items: Requested {count}, but already used 0 of {MAX_ITEMS} metadata_items"
        )));
    }
    Ok(())
}

async fn apply(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    ops: &[PatchOp],
) -> Result<Image, ApiError> {
    svc.images()
        .service()
        .image_update(ctx, id, PatchFlavor::V21, ops)
        .await
}

async fn index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let img = image(&svc, &ctx, &id).await?;
    Ok(Json(json!({ "metadata": img.properties })))
}

async fn create(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let new = items(&body, "metadata")?;
    let img = image(&svc, &ctx, &id).await?;
    let mut merged = img.properties.clone();
    merged.extend(new.clone());
    check_quota(merged.len())?;
    let ops: Vec<PatchOp> = new
        .into_iter()
        .map(|(k, v)| PatchOp::Add(k, json!(v)))
        .collect();
    let img = apply(&svc, &ctx, &id, &ops).await?;
    Ok(Json(json!({ "metadata": img.properties })))
}

async fn update_all(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let new = items(&body, "metadata")?;
    check_quota(new.len())?;
    let img = image(&svc, &ctx, &id).await?;
    let mut ops: Vec<PatchOp> = img
        .properties
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| PatchOp::Remove(k.clone()))
        .collect();
    ops.extend(new.iter().map(|(k, v)| PatchOp::Add(k.clone(), json!(v))));
    apply(&svc, &ctx, &id, &ops).await?;
    Ok(Json(json!({ "metadata": new })))
}

async fn show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let img = image(&svc, &ctx, &id).await?;
    match img.properties.get(&key) {
        Some(v) => Ok(Json(json!({ "meta": { key: v } }))),
        None => Err(ApiError::not_found("Metadata item was not found")),
    }
}

async fn update(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path((id, key)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let meta = items(&body, "meta")?;
    if meta.len() != 1 {
        return Err(ApiError::bad_request(
            "Request body contains too many items",
        ));
    }
    let Some(value) = meta.get(&key) else {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    };
    let img = image(&svc, &ctx, &id).await?;
    let count = img.properties.len() + usize::from(!img.properties.contains_key(&key));
    check_quota(count)?;
    apply(&svc, &ctx, &id, &[PatchOp::Add(key.clone(), json!(value))]).await?;
    Ok(Json(json!({ "meta": { key: value } })))
}

async fn destroy(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_proxy(mv)?;
    let img = image(&svc, &ctx, &id).await?;
    if !img.properties.contains_key(&key) {
        return Err(ApiError::not_found("Invalid metadata key"));
    }
    apply(&svc, &ctx, &id, &[PatchOp::Remove(key)]).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
