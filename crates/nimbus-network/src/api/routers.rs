//! `/v2.0/routers` and the interface actions.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::Value;

use super::wire::{interface_json, router_json};
use super::{Api, Pairs, list, reply, shown};
use crate::app::input::Attrs;
use crate::error::bad_request;

/// `GET /v2.0/routers`.
pub async fn list(
    State(api): State<Api>,
    ctx: RequestContext,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let items = api
        .svc
        .router_list(&ctx)
        .await?
        .iter()
        .map(router_json)
        .collect();
    Ok(axum::Json(list::respond("routers", &api.url("routers"), &q, items)?).into_response())
}

/// `GET /v2.0/routers/{id}`.
pub async fn show(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let r = api.svc.router_show(&ctx, &id).await?;
    Ok(shown("router", &q, router_json(&r)))
}

/// `POST /v2.0/routers`.
pub async fn create(
    State(api): State<Api>,
    ctx: RequestContext,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let r = api
        .svc
        .router_create(&ctx, Attrs::from_body(body, "router")?)
        .await?;
    Ok(reply(StatusCode::CREATED, "router", router_json(&r)))
}

/// `PUT /v2.0/routers/{id}`.
pub async fn update(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let r = api
        .svc
        .router_update(&ctx, &id, Attrs::from_body(body, "router")?)
        .await?;
    Ok(reply(StatusCode::OK, "router", router_json(&r)))
}

/// `DELETE /v2.0/routers/{id}`.
pub async fn delete(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.svc.router_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn interface_attrs(body: Value) -> Result<Attrs, ApiError> {
    match body {
        Value::Object(map) => Ok(Attrs::from_map(map)),
        _ => Err(bad_request("Body contains invalid data")),
    }
}

/// `PUT /v2.0/routers/{id}/add_router_interface`.
pub async fn add_interface(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let info = api
        .svc
        .router_add_interface(&ctx, &id, interface_attrs(body)?)
        .await?;
    Ok(axum::Json(interface_json(&info)).into_response())
}

/// `PUT /v2.0/routers/{id}/remove_router_interface`.
pub async fn remove_interface(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let info = api
        .svc
        .router_remove_interface(&ctx, &id, interface_attrs(body)?)
        .await?;
    Ok(axum::Json(interface_json(&info)).into_response())
}
