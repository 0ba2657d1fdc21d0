//! `/v3/auth/*`: issue, validate, revoke tokens; the caller's catalog,
//! projects and domains.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext, RequestId};
use serde_json::json;
use std::collections::HashMap;

use super::wire::{domain_json, list_links, project_json};
use crate::app::Identity;
use crate::app::tokens::AuthRequest;
use crate::auth::subject_token;

/// `POST /v3/auth/tokens`: 201, the token in `X-Subject-Token`.
pub async fn issue(
    State(identity): State<Identity>,
    Query(query): Query<HashMap<String, String>>,
    Json(request): Json<AuthRequest>,
) -> Result<Response, ApiError> {
    let (token, payload) = identity.authenticate(request).await?;
    let nocatalog = query.contains_key("nocatalog");
    let body = identity.token_body(&payload, !nocatalog);
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    let value = HeaderValue::from_str(&token).map_err(ApiError::internal)?;
    response.headers_mut().insert("x-subject-token", value);
    Ok(response)
}

fn caller(
    identity: &Identity,
    headers: &HeaderMap,
    request_id: &RequestId,
) -> Result<RequestContext, ApiError> {
    let payload = identity.auth_layer().check(headers)?;
    Ok(payload.context(&request_id.0))
}

/// `GET`/`HEAD /v3/auth/tokens`: the subject token's body.
pub async fn validate(
    State(identity): State<Identity>,
    request_id: RequestId,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = caller(&identity, &headers, &request_id)?;
    let subject = subject_token(&headers)?;
    let payload = identity.validate_subject(&ctx, subject)?;
    let body = identity.token_body(&payload, !query.contains_key("nocatalog"));
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(subject) {
        response.headers_mut().insert("x-subject-token", value);
    }
    Ok(response)
}

/// `DELETE /v3/auth/tokens`: revokes the subject token.
pub async fn revoke(
    State(identity): State<Identity>,
    request_id: RequestId,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let ctx = caller(&identity, &headers, &request_id)?;
    let subject = subject_token(&headers)?;
    identity.revoke_subject(&ctx, subject).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v3/auth/catalog`.
pub async fn auth_catalog(
    State(identity): State<Identity>,
    ctx: RequestContext,
) -> Result<Json<serde_json::Value>, ApiError> {
    let catalog = identity.catalog_for(&ctx)?;
    Ok(Json(json!({
        "catalog": catalog,
        "links": list_links(identity.public_url(), "auth/catalog"),
    })))
}

/// `GET /v3/auth/projects`: projects the caller has a role on.
pub async fn auth_projects(
    State(identity): State<Identity>,
    ctx: RequestContext,
) -> Result<Json<serde_json::Value>, ApiError> {
    let projects = identity.user_projects(&ctx, &ctx.user_id).await?;
    let base = identity.public_url();
    Ok(Json(json!({
        "projects": projects.iter().filter(|p| p.enabled).map(|p| project_json(base, p)).collect::<Vec<_>>(),
        "links": list_links(base, "auth/projects"),
    })))
}

/// `GET /v3/auth/domains`: domains the caller has a role on.
pub async fn auth_domains(
    State(identity): State<Identity>,
    ctx: RequestContext,
) -> Result<Json<serde_json::Value>, ApiError> {
    let domains = identity.user_domains(&ctx).await?;
    let base = identity.public_url();
    Ok(Json(json!({
        "domains": domains.iter().map(|d| domain_json(base, d)).collect::<Vec<_>>(),
        "links": list_links(base, "auth/domains"),
    })))
}
