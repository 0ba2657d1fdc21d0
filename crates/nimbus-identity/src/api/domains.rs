//! `/v3/domains`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use nimbus_common::{ApiError, Json, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::{domain_json, list_filter, list_links};
use crate::app::Identity;

#[derive(Debug, Deserialize)]
pub struct DomainBody {
    domain: DomainFields,
}

#[derive(Debug, Deserialize)]
struct DomainFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
}

pub async fn list(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let domains = identity.domain_list(&ctx, &list_filter(&query)?).await?;
    let base = identity.public_url();
    Ok(Json(json!({
        "domains": domains.iter().map(|d| domain_json(base, d)).collect::<Vec<_>>(),
        "links": list_links(base, "domains"),
    })))
}

pub async fn show(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = identity.domain_get(&ctx, &id).await?;
    Ok(Json(
        json!({"domain": domain_json(identity.public_url(), &d)}),
    ))
}

pub async fn create(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Json(body): Json<DomainBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let f = body.domain;
    let name = f
        .name
        .ok_or_else(|| ApiError::bad_request("Invalid input for field 'name': required."))?;
    let d = identity
        .domain_create(
            &ctx,
            name,
            f.description.unwrap_or_default(),
            f.enabled.unwrap_or(true),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"domain": domain_json(identity.public_url(), &d)})),
    ))
}

pub async fn update(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<DomainBody>,
) -> Result<Json<Value>, ApiError> {
    let f = body.domain;
    let d = identity
        .domain_update(&ctx, &id, f.name, f.description, f.enabled)
        .await?;
    Ok(Json(
        json!({"domain": domain_json(identity.public_url(), &d)}),
    ))
}

pub async fn delete(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    identity.domain_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
