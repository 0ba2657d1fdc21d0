//! `/v3/roles`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use nimbus_common::{ApiError, Json, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::{list_links, role_json};
use crate::app::Identity;

#[derive(Debug, Deserialize)]
pub struct RoleBody {
    role: RoleFields,
}

#[derive(Debug, Deserialize)]
struct RoleFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    domain_id: Option<String>,
}

pub async fn list(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    // Domain-specific roles do not exist here.
    let roles = if query.get("domain_id").is_some_and(|d| !d.is_empty()) {
        Vec::new()
    } else {
        identity
            .role_list(&ctx, query.get("name").map(String::as_str))
            .await?
    };
    let base = identity.public_url();
    Ok(Json(json!({
        "roles": roles.iter().map(|r| role_json(base, r)).collect::<Vec<_>>(),
        "links": list_links(base, "roles"),
    })))
}

pub async fn show(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = identity.role_get(&ctx, &id).await?;
    Ok(Json(json!({"role": role_json(identity.public_url(), &r)})))
}

pub async fn create(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Json(body): Json<RoleBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let f = body.role;
    if f.domain_id.is_some() {
        return Err(ApiError::bad_request(
            "Domain-specific roles are not supported.",
        ));
    }
    let name = f
        .name
        .ok_or_else(|| ApiError::bad_request("Invalid input for field 'name': required."))?;
    let r = identity
        .role_create(&ctx, name, f.description.unwrap_or_default())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"role": role_json(identity.public_url(), &r)})),
    ))
}

pub async fn update(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<RoleBody>,
) -> Result<Json<Value>, ApiError> {
    let r = identity
        .role_update(&ctx, &id, body.role.name, body.role.description)
        .await?;
    Ok(Json(json!({"role": role_json(identity.public_url(), &r)})))
}

pub async fn delete(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    identity.role_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
