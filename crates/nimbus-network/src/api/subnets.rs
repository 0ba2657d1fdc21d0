//! `/v2.0/subnets`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::Value;

use super::wire::subnet_json;
use super::{Api, Pairs, list, reply, shown};
use crate::app::input::{Attrs, Create};

/// `GET /v2.0/subnets`.
pub async fn list(
    State(api): State<Api>,
    ctx: RequestContext,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let items = api
        .svc
        .subnet_list(&ctx)
        .await?
        .iter()
        .map(subnet_json)
        .collect();
    Ok(axum::Json(list::respond("subnets", &api.url("subnets"), &q, items)?).into_response())
}

/// `GET /v2.0/subnets/{id}`.
pub async fn show(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let s = api.svc.subnet_visible(&ctx, &id).await?;
    Ok(shown("subnet", &q, subnet_json(&s)))
}

/// `POST /v2.0/subnets`, one or in bulk.
pub async fn create(
    State(api): State<Api>,
    ctx: RequestContext,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    match Attrs::from_create_body(body, "subnet", "subnets")? {
        Create::One(a) => {
            let s = api.svc.subnet_create(&ctx, a).await?;
            Ok(reply(StatusCode::CREATED, "subnet", subnet_json(&s)))
        }
        Create::Bulk(items) => {
            let made = api.svc.subnet_create_bulk(&ctx, items).await?;
            let items = made.iter().map(subnet_json).collect();
            Ok(reply(StatusCode::CREATED, "subnets", Value::Array(items)))
        }
    }
}

/// `PUT /v2.0/subnets/{id}`.
pub async fn update(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let s = api
        .svc
        .subnet_update(&ctx, &id, Attrs::from_body(body, "subnet")?)
        .await?;
    Ok(reply(StatusCode::OK, "subnet", subnet_json(&s)))
}

/// `DELETE /v2.0/subnets/{id}`.
pub async fn delete(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.svc.subnet_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
