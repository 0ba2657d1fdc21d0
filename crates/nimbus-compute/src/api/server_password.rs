//! `/servers/{id}/os-server-password` (nova's `server_password.py`, every
//! microversion): the encrypted password the guest posted to the metadata
//! service, and clearing it. Clearing does not change the guest's password.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Value, json};

use crate::app::ComputeService;
use crate::app::servers::server_get;
use crate::store::server_passwords;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new().route("/servers/{id}/os-server-password", get(index).delete(clear))
}

async fn index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    // nova finds the server first (404), then checks the policy
    // (project reader).
    let instance = server_get(&svc, &ctx, &id).await?;
    if !ctx.can_read() {
        return Err(ApiError::policy("os_compute_api:os-server-password:show"));
    }
    let password = server_passwords::password_get(svc.db().pool(), &instance.uuid)
        .await?
        .unwrap_or_default();
    Ok(Json(json!({ "password": password })))
}

async fn clear(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let instance = server_get(&svc, &ctx, &id).await?;
    if !ctx.can_write() {
        return Err(ApiError::policy("os_compute_api:os-server-password:clear"));
    }
    server_passwords::password_clear(svc.db().pool(), &instance.uuid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
