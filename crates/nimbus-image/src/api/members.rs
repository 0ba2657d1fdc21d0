//! `/v2/images/{id}/members`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde::Deserialize;
use serde_json::json;

use super::wire::member_json;
use crate::app::ImageService;

/// `POST` body: `{"member": "<project id>"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    member: String,
}

/// `PUT` body: `{"status": "accepted"}`. Glance reads only `status`;
/// openstacksdk also sends `member`, so other keys are ignored.
#[derive(Debug, Deserialize)]
pub struct MemberStatusBody {
    status: String,
}

/// `GET /v2/images/{id}/members`.
pub async fn list(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let members = svc.member_list(&ctx, &id).await?;
    Ok(axum::Json(json!({
        "members": members.iter().map(member_json).collect::<Vec<_>>(),
        "schema": "/v2/schemas/members",
    }))
    .into_response())
}

/// `POST /v2/images/{id}/members`.
pub async fn create(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<NewMember>,
) -> Result<Response, ApiError> {
    let member = svc.member_create(&ctx, &id, &body.member).await?;
    Ok(axum::Json(member_json(&member)).into_response())
}

/// `GET /v2/images/{id}/members/{member}`.
pub async fn show(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((id, member)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let member = svc.member_show(&ctx, &id, &member).await?;
    Ok(axum::Json(member_json(&member)).into_response())
}

/// `PUT /v2/images/{id}/members/{member}`.
pub async fn update(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((id, member)): Path<(String, String)>,
    Json(body): Json<MemberStatusBody>,
) -> Result<Response, ApiError> {
    let member = svc.member_update(&ctx, &id, &member, &body.status).await?;
    Ok(axum::Json(member_json(&member)).into_response())
}

/// `DELETE /v2/images/{id}/members/{member}`.
pub async fn delete(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((id, member)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    svc.member_delete(&ctx, &id, &member).await?;
    Ok(StatusCode::NO_CONTENT)
}
