//! `/v2/images/{id}/file`, `/stage`, `/import`.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{header_str, media_type, wire};
use crate::app::ImageService;
use crate::app::upload::Download;

fn check_octet_stream(headers: &HeaderMap) -> Result<(), ApiError> {
    let media = media_type(headers);
    if media == "application/octet-stream" {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(format!(
            "Content-Type must be application/octet-stream, not '{media}'."
        )))
    }
}

/// The announced size: `x-openstack-image-size` (glanceclient sends it with
/// chunked uploads), else `Content-Length`. The data must match it.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let parse = |v: &str| v.trim().parse().map(Some);
    if let Some(v) = headers.get("x-openstack-image-size") {
        return v.to_str().ok().and_then(|v| parse(v).ok()).ok_or_else(|| {
            ApiError::bad_request("Invalid or missing image size in request headers.")
        });
    }
    match header_str(headers, "content-length") {
        None => Ok(None),
        Some(v) => parse(v).map_err(|_| ApiError::bad_request("Invalid Content-Length.")),
    }
}

/// `PUT /v2/images/{id}/file`.
pub async fn upload(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    check_octet_stream(&headers)?;
    let length = content_length(&headers)?;
    let store = header_str(&headers, "x-image-meta-store");
    svc.image_upload(&ctx, &id, store, length, body.into_data_stream())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v2/images/{id}/stage`.
pub async fn stage(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    check_octet_stream(&headers)?;
    let length = content_length(&headers)?;
    svc.image_stage(&ctx, &id, length, body.into_data_stream())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The import method (`{"method": {"name": "web-download", "uri": ...}}`).
#[derive(Debug, Deserialize)]
pub struct ImportMethod {
    name: String,
    #[serde(default)]
    uri: Option<String>,
}

/// `POST /v2/images/{id}/import` body.
#[derive(Debug, Deserialize)]
pub struct ImportRequest {
    method: ImportMethod,
    #[serde(default)]
    stores: Option<Vec<String>>,
    #[serde(default)]
    all_stores: Option<bool>,
}

/// `POST /v2/images/{id}/import`.
pub async fn import(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<ImportRequest>,
) -> Result<StatusCode, ApiError> {
    if body.all_stores == Some(true) || body.stores.as_ref().is_some_and(|s| s.len() > 1) {
        return Err(ApiError::bad_request(
            "Importing into several stores at once is not supported.",
        ));
    }
    let store = body
        .stores
        .as_ref()
        .and_then(|s| s.first().cloned())
        .or_else(|| header_str(&headers, "x-image-meta-store").map(str::to_string));
    let method = &body.method;
    svc.image_import(
        &ctx,
        &id,
        &method.name,
        method.uri.as_deref(),
        store.as_deref(),
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}

/// `GET /v2/images/{id}/tasks` (glance 2.12): the image's import tasks.
pub async fn tasks(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tasks = svc.image_tasks(&ctx, &id).await?;
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    let tasks: Vec<Value> = tasks
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "type": t.task_type,
                "status": t.status,
                "owner": t.owner,
                "image_id": t.image_id,
                "input": parse(&t.input),
                "result": t.result.as_deref().map(parse),
                "message": t.message,
                "request_id": t.request_id,
                "user_id": t.user_id,
                "created_at": wire::timestamp(t.created_at),
                "updated_at": wire::timestamp(t.updated_at),
                "expires_at": t.expires_at.map(wire::timestamp),
            })
        })
        .collect();
    Ok(Json(json!({ "tasks": tasks })))
}

/// `GET /v2/images/{id}/file`.
pub async fn download(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // A header that is not text is an invalid range (416), not no range.
    let text = |name| {
        headers
            .get(name)
            .map(|v: &HeaderValue| v.to_str().unwrap_or(""))
    };
    let (range, content_range) = (text("range"), text("content-range"));
    let octet = HeaderValue::from_static("application/octet-stream");
    Ok(
        match svc.image_download(&ctx, &id, range, content_range).await? {
            Download::NoData => StatusCode::NO_CONTENT.into_response(),
            Download::Full { stream, size, md5 } => {
                let mut response = Body::from_stream(stream).into_response();
                let h = response.headers_mut();
                h.insert(header::CONTENT_TYPE, octet);
                h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
                if let Some(md5) = md5.and_then(|m| HeaderValue::from_str(&m).ok()) {
                    h.insert("content-md5", md5);
                }
                response
            }
            Download::Partial {
                stream,
                range,
                total,
            } => {
                let mut response =
                    (StatusCode::PARTIAL_CONTENT, Body::from_stream(stream)).into_response();
                let h = response.headers_mut();
                h.insert(header::CONTENT_TYPE, octet);
                h.insert(
                    header::CONTENT_LENGTH,
                    HeaderValue::from(range.end - range.start),
                );
                let content_range = format!("bytes {}-{}/{total}", range.start, range.end - 1);
                if let Ok(v) = HeaderValue::from_str(&content_range) {
                    h.insert(header::CONTENT_RANGE, v);
                }
                response
            }
        },
    )
}
