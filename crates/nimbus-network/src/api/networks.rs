//! `/v2.0/networks`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::Value;

use super::wire::network_json;
use super::{Api, Pairs, list, reply, shown};
use crate::app::input::{Attrs, Create};

/// `GET /v2.0/networks`.
pub async fn list(
    State(api): State<Api>,
    ctx: RequestContext,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let networks = api.svc.network_list(&ctx).await?;
    let mut subnets: HashMap<String, Vec<String>> = HashMap::new();
    for s in api.svc.subnet_list(&ctx).await? {
        subnets.entry(s.network_id).or_default().push(s.id);
    }
    let items = networks
        .iter()
        .map(|n| network_json(&ctx, n, subnets.remove(&n.id).unwrap_or_default()))
        .collect();
    Ok(axum::Json(list::respond("networks", &api.url("networks"), &q, items)?).into_response())
}

/// `GET /v2.0/networks/{id}`.
pub async fn show(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    let n = api.svc.network_visible(&ctx, &id).await?;
    let subnets = api.svc.network_subnet_ids(&n.id).await?;
    Ok(shown("network", &q, network_json(&ctx, &n, subnets)))
}

/// `POST /v2.0/networks`, one or in bulk.
pub async fn create(
    State(api): State<Api>,
    ctx: RequestContext,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    match Attrs::from_create_body(body, "network", "networks")? {
        Create::One(a) => {
            let n = api.svc.network_create(&ctx, a).await?;
            Ok(reply(
                StatusCode::CREATED,
                "network",
                network_json(&ctx, &n, Vec::new()),
            ))
        }
        Create::Bulk(items) => {
            let made = api.svc.network_create_bulk(&ctx, items).await?;
            let items = made
                .iter()
                .map(|n| network_json(&ctx, n, Vec::new()))
                .collect();
            Ok(reply(StatusCode::CREATED, "networks", Value::Array(items)))
        }
    }
}

/// `PUT /v2.0/networks/{id}`.
pub async fn update(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let n = api
        .svc
        .network_update(&ctx, &id, Attrs::from_body(body, "network")?)
        .await?;
    let subnets = api.svc.network_subnet_ids(&n.id).await?;
    Ok(reply(
        StatusCode::OK,
        "network",
        network_json(&ctx, &n, subnets),
    ))
}

/// `DELETE /v2.0/networks/{id}`.
pub async fn delete(
    State(api): State<Api>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    api.svc.network_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
