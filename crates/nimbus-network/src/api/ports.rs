//! `/v2.0/ports`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::Value;

use super::wire::port_json;
use super::{Api, Pairs, list, reply, shown};
use crate::app::input::{Attrs, Create};

/// `GET /v2.0/ports`: the common filters narrow the SQL, the rest the list.
pub async fn list(
    State(api): State<Api>,
    ctx: RequestContext,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let one = |key: &str| {
        let mut values = q.iter().filter(|(k, _)| k == key);
        match (values.next(), values.next()) {
            (Some((_, v)), None) => Some(v.as_str()),
            _ => None,
        }
    };
    let ports = api
        .svc
        .port_list(
            &ctx,
            one("network_id"),
            one("device_id"),
            one("device_owner"),
        )
        .await?;
    let dp = api.svc.dataplane();
    let items = ports.iter().map(|p| port_json(&ctx, dp, p)).collect();
    Ok(axum::Json(list::respond("ports", &api.url("ports"), &q, items)?).into_response())
}

/// `GET /v2.0/ports/{id}`.
pub async fn show(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let p = api.svc.port_visible(&ctx, &id).await?;
    Ok(shown("port", &q, port_json(&ctx, api.svc.dataplane(), &p)))
}

/// `POST /v2.0/ports`, one or in bulk.
pub async fn create(
    State(api): State<Api>,
    ctx: RequestContext,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let dp = api.svc.dataplane();
    match Attrs::from_create_body(body, "port", "ports")? {
        Create::One(a) => {
            let p = api.svc.port_create(&ctx, a).await?;
            Ok(reply(StatusCode::CREATED, "port", port_json(&ctx, dp, &p)))
        }
        Create::Bulk(items) => {
            let made = api.svc.port_create_bulk(&ctx, items).await?;
            let items = made.iter().map(|p| port_json(&ctx, dp, p)).collect();
            Ok(reply(StatusCode::CREATED, "ports", Value::Array(items)))
        }
    }
}

/// `PUT /v2.0/ports/{id}`.
pub async fn update(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let p = api
        .svc
        .port_update(&ctx, &id, Attrs::from_body(body, "port")?)
        .await?;
    Ok(reply(
        StatusCode::OK,
        "port",
        port_json(&ctx, api.svc.dataplane(), &p),
    ))
}

/// `DELETE /v2.0/ports/{id}`.
pub async fn delete(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.svc.port_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
