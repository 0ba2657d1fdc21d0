//! `/v3/users`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use nimbus_common::{ApiError, Json, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::{double_option, list_filter, list_links, project_json, user_json};
use crate::app::Identity;
use crate::app::resources::UserChange;

#[derive(Debug, Deserialize)]
pub struct UserBody {
    user: UserFields,
}

#[derive(Debug, Deserialize)]
struct UserFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    domain_id: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    password: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    default_project_id: Option<Option<String>>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    email: Option<Option<String>>,
    #[serde(default)]
    enabled: Option<bool>,
}

impl From<UserFields> for UserChange {
    fn from(f: UserFields) -> UserChange {
        UserChange {
            name: f.name,
            domain_id: f.domain_id,
            password: f.password.flatten(),
            default_project_id: f.default_project_id,
            description: f.description,
            email: f.email,
            enabled: f.enabled,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct PasswordBody {
    user: PasswordFields,
}

#[derive(Debug, Deserialize)]
struct PasswordFields {
    original_password: String,
    password: String,
}

pub async fn list(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let users = identity.user_list(&ctx, &list_filter(&query)?).await?;
    let base = identity.public_url();
    Ok(Json(json!({
        "users": users.iter().map(|u| user_json(base, u)).collect::<Vec<_>>(),
        "links": list_links(base, "users"),
    })))
}

pub async fn show(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let u = identity.user_get(&ctx, &id).await?;
    Ok(Json(json!({"user": user_json(identity.public_url(), &u)})))
}

pub async fn create(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Json(body): Json<UserBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let u = identity.user_create(&ctx, body.user.into()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user": user_json(identity.public_url(), &u)})),
    ))
}

pub async fn update(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<UserBody>,
) -> Result<Json<Value>, ApiError> {
    let u = identity.user_update(&ctx, &id, body.user.into()).await?;
    Ok(Json(json!({"user": user_json(identity.public_url(), &u)})))
}

pub async fn delete(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    identity.user_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn projects(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let projects = identity.user_projects(&ctx, &id).await?;
    let base = identity.public_url();
    Ok(Json(json!({
        "projects": projects.iter().map(|p| project_json(base, p)).collect::<Vec<_>>(),
        "links": list_links(base, &format!("users/{id}/projects")),
    })))
}

pub async fn change_password(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<PasswordBody>,
) -> Result<StatusCode, ApiError> {
    identity
        .user_change_password(&ctx, &id, body.user.original_password, body.user.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
