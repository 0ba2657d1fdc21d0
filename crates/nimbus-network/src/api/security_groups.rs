//! `/v2.0/security-groups` and `/v2.0/security-group-rules`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::Value;

use super::wire::{rule_json, security_group_json};
use super::{Api, Pairs, list, reply, shown};
use crate::app::input::Attrs;

/// `GET /v2.0/security-groups`.
pub async fn list(
    State(api): State<Api>,
    ctx: RequestContext,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let items = api
        .svc
        .security_group_list(&ctx)
        .await?
        .iter()
        .map(security_group_json)
        .collect();
    Ok(axum::Json(list::respond(
        "security_groups",
        &api.url("security-groups"),
        &q,
        items,
    )?)
    .into_response())
}

/// `GET /v2.0/security-groups/{id}`.
pub async fn show(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let g = api.svc.security_group_visible(&ctx, &id).await?;
    Ok(shown("security_group", &q, security_group_json(&g)))
}

/// `POST /v2.0/security-groups`.
pub async fn create(
    State(api): State<Api>,
    ctx: RequestContext,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let g = api
        .svc
        .security_group_create(&ctx, Attrs::from_body(body, "security_group")?)
        .await?;
    Ok(reply(
        StatusCode::CREATED,
        "security_group",
        security_group_json(&g),
    ))
}

/// `PUT /v2.0/security-groups/{id}`.
pub async fn update(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let g = api
        .svc
        .security_group_update(&ctx, &id, Attrs::from_body(body, "security_group")?)
        .await?;
    Ok(reply(
        StatusCode::OK,
        "security_group",
        security_group_json(&g),
    ))
}

/// `DELETE /v2.0/security-groups/{id}`.
pub async fn delete(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.svc.security_group_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v2.0/security-group-rules`.
pub async fn rule_list(
    State(api): State<Api>,
    ctx: RequestContext,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let items = api
        .svc
        .security_group_rule_list(&ctx)
        .await?
        .iter()
        .map(|r| rule_json(r, false))
        .collect();
    Ok(axum::Json(list::respond(
        "security_group_rules",
        &api.url("security-group-rules"),
        &q,
        items,
    )?)
    .into_response())
}

/// `GET /v2.0/security-group-rules/{id}`.
pub async fn rule_show(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let r = api.svc.security_group_rule_visible(&ctx, &id).await?;
    Ok(shown("security_group_rule", &q, rule_json(&r, false)))
}

/// `POST /v2.0/security-group-rules`.
pub async fn rule_create(
    State(api): State<Api>,
    ctx: RequestContext,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let r = api
        .svc
        .security_group_rule_create(&ctx, Attrs::from_body(body, "security_group_rule")?)
        .await?;
    Ok(reply(
        StatusCode::CREATED,
        "security_group_rule",
        rule_json(&r, false),
    ))
}

/// `DELETE /v2.0/security-group-rules/{id}`.
pub async fn rule_delete(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.svc.security_group_rule_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
