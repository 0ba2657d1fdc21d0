//! `/v3/users/{id}/application_credentials`.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use nimbus_common::{ApiError, Json, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::list_links;
use crate::app::Identity;
use crate::app::app_creds::{AppCredRequest, AppCredView, RoleRef, format_expiry};
use crate::token::TokenPayload;

#[derive(Debug, Deserialize)]
pub struct CreateBody {
    application_credential: CreateFields,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateFields {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    roles: Option<Vec<RoleFields>>,
    #[serde(default)]
    unrestricted: Option<bool>,
    #[serde(default)]
    access_rules: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleFields {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    domain_id: Option<String>,
}

impl From<CreateFields> for AppCredRequest {
    fn from(f: CreateFields) -> AppCredRequest {
        AppCredRequest {
            name: f.name,
            description: f.description,
            secret: f.secret,
            expires_at: f.expires_at,
            roles: f
                .roles
                .unwrap_or_default()
                .into_iter()
                .map(|r| {
                    let _global_roles_only = r.domain_id;
                    RoleRef {
                        id: r.id,
                        name: r.name,
                    }
                })
                .collect(),
            unrestricted: f.unrestricted.unwrap_or(false),
            has_access_rules: f.access_rules.is_some_and(|r| !r.is_empty()),
        }
    }
}

fn view_json(base: &str, v: &AppCredView) -> Value {
    let c = &v.cred;
    let mut out = json!({
        "id": c.id,
        "name": c.name,
        "description": c.description,
        "expires_at": c.expires_at.map(format_expiry),
        "project_id": c.project_id,
        "user_id": c.user_id,
        "roles": v.roles.iter().map(|r| json!({"id": r.id, "name": r.name, "domain_id": null})).collect::<Vec<_>>(),
        "unrestricted": c.unrestricted,
        "access_rules": [],
        "links": {"self": format!("{base}/identity/v3/users/{}/application_credentials/{}", c.user_id, c.id)},
    });
    if let Some(secret) = &v.secret {
        out["secret"] = json!(secret);
    }
    out
}

pub async fn list(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(user_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let creds = identity
        .app_cred_list(&ctx, &user_id, query.get("name").map(String::as_str))
        .await?;
    let base = identity.public_url();
    Ok(Json(json!({
        "application_credentials": creds.iter().map(|c| view_json(base, c)).collect::<Vec<_>>(),
        "links": list_links(base, &format!("users/{user_id}/application_credentials")),
    })))
}

pub async fn create(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Extension(token): Extension<TokenPayload>,
    Path(user_id): Path<String>,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let view = identity
        .app_cred_create(&ctx, &token, &user_id, body.application_credential.into())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"application_credential": view_json(identity.public_url(), &view)})),
    ))
}

pub async fn show(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path((user_id, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let view = identity.app_cred_get(&ctx, &user_id, &id).await?;
    Ok(Json(
        json!({"application_credential": view_json(identity.public_url(), &view)}),
    ))
}

pub async fn delete(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Extension(token): Extension<TokenPayload>,
    Path((user_id, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    identity
        .app_cred_delete(&ctx, &token, &user_id, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
