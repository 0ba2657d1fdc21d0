//! Nova's image proxy (`/images` below 2.36, nova's `images.py` and
//! `views/images.py`): Glance's images in nova's shape. Visibility and
//! policy are Glance's, through the in-process image service.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use nimbus_image::app::model::{Image, Status};
use serde_json::{Map, Value, json};

use super::require_proxy;
use super::views::isotime;
use super::{Microversion, PublicBase};
use crate::app::ComputeService;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/images", get(index))
        .route("/images/detail", get(detail))
        .route("/images/{id}", get(show).delete(destroy))
}

fn not_found() -> ApiError {
    ApiError::not_found("Image not found.")
}

/// nova's `_get_status`: Glance's status in nova's vocabulary.
fn status(s: Status) -> &'static str {
    match s.as_str() {
        "active" => "ACTIVE",
        "queued" | "saving" => "SAVING",
        "deleted" | "pending_delete" => "DELETED",
        "killed" => "ERROR",
        _ => "UNKNOWN",
    }
}

fn brief(base: &PublicBase, img: &Image) -> Value {
    json!({
        "id": img.id,
        "name": img.name,
        "links": links(base, img),
    })
}

fn links(base: &PublicBase, img: &Image) -> Value {
    let mut l = base.links(&format!("images/{}", img.id));
    if let Some(arr) = l.as_array_mut() {
        arr.push(json!({
            "rel": "alternate",
            "type": "application/vnd.openstack.image",
            "href": format!("{}/image/images/{}", base.0, img.id),
        }));
    }
    l
}

/// nova's `ViewBuilder.show`.
fn full(base: &PublicBase, img: &Image) -> Value {
    let metadata: Map<String, Value> = img
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let st = status(img.status);
    // nova's `_get_progress`.
    let progress = match img.status.as_str() {
        "active" => 100,
        "saving" => 50,
        "queued" => 25,
        _ => 0,
    };
    let mut out = json!({
        "id": img.id,
        "name": img.name,
        "minRam": img.min_ram,
        "minDisk": img.min_disk,
        "progress": progress,
        "status": st,
        "created": isotime(img.created_at),
        "updated": isotime(img.updated_at),
        "metadata": metadata,
        "OS-EXT-IMG-SIZE:size": img.size,
        "links": links(base, img),
    });
    if let Some(server) = img.properties.get("instance_uuid") {
        out["server"] = json!({
            "id": server,
            "links": base.links(&format!("servers/{server}")),
        });
    }
    out
}

async fn list(svc: &ComputeService, ctx: &RequestContext) -> Result<Vec<Image>, ApiError> {
    let (images, _) = svc.images().service().image_list(ctx, &[]).await?;
    Ok(images)
}

async fn index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    base: PublicBase,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let images = list(&svc, &ctx).await?;
    let out: Vec<Value> = images.iter().map(|i| brief(&base, i)).collect();
    Ok(Json(json!({ "images": out })))
}

async fn detail(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    base: PublicBase,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let images = list(&svc, &ctx).await?;
    let out: Vec<Value> = images.iter().map(|i| full(&base, i)).collect();
    Ok(Json(json!({ "images": out })))
}

async fn show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    base: PublicBase,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let img = svc
        .images()
        .image_get(&ctx, &id)
        .await
        .map_err(|_| not_found())?;
    Ok(Json(json!({ "image": full(&base, &img) })))
}

async fn destroy(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_proxy(mv)?;
    svc.images().service().image_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_nova_map() {
        assert_eq!(status(Status::Active), "ACTIVE");
        assert_eq!(status(Status::Queued), "SAVING");
        assert_eq!(status(Status::Saving), "SAVING");
        assert_eq!(status(Status::PendingDelete), "DELETED");
        assert_eq!(status(Status::Killed), "ERROR");
        assert_eq!(status(Status::Deactivated), "UNKNOWN");
        assert_eq!(status(Status::Importing), "UNKNOWN");
    }
}
