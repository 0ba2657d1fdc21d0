//! `/v2.0/floatingips`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::Value;

use super::wire::floatingip_json;
use super::{Api, Pairs, list, reply, shown};
use crate::app::input::Attrs;

/// `GET /v2.0/floatingips`.
pub async fn list(
    State(api): State<Api>,
    ctx: RequestContext,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let dp = api.svc.dataplane();
    let items = api
        .svc
        .floatingip_list(&ctx)
        .await?
        .iter()
        .map(|f| floatingip_json(dp, f))
        .collect();
    Ok(axum::Json(list::respond(
        "floatingips",
        &api.url("floatingips"),
        &q,
        items,
    )?)
    .into_response())
}

/// `GET /v2.0/floatingips/{id}`.
pub async fn show(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let f = api.svc.floatingip_visible(&ctx, &id).await?;
    Ok(shown(
        "floatingip",
        &q,
        floatingip_json(api.svc.dataplane(), &f),
    ))
}

/// `POST /v2.0/floatingips`.
pub async fn create(
    State(api): State<Api>,
    ctx: RequestContext,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let f = api
        .svc
        .floatingip_create(&ctx, Attrs::from_body(body, "floatingip")?)
        .await?;
    Ok(reply(
        StatusCode::CREATED,
        "floatingip",
        floatingip_json(api.svc.dataplane(), &f),
    ))
}

/// `PUT /v2.0/floatingips/{id}`.
pub async fn update(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let f = api
        .svc
        .floatingip_update(&ctx, &id, Attrs::from_body(body, "floatingip")?)
        .await?;
    Ok(reply(
        StatusCode::OK,
        "floatingip",
        floatingip_json(api.svc.dataplane(), &f),
    ))
}

/// `DELETE /v2.0/floatingips/{id}`.
pub async fn delete(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.svc.floatingip_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
