//! `/v3/projects`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use nimbus_common::{ApiError, Json, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::{list_filter, list_links, project_json};
use crate::app::Identity;
use crate::app::resources::ProjectChange;

#[derive(Debug, Deserialize)]
pub struct ProjectBody {
    project: ProjectFields,
}

#[derive(Debug, Deserialize)]
struct ProjectFields {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    domain_id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    is_domain: Option<bool>,
}

impl ProjectFields {
    fn change(self) -> Result<ProjectChange, ApiError> {
        if self.is_domain == Some(true) {
            return Err(ApiError::bad_request(
                "Projects acting as domains are not supported.",
            ));
        }
        if let Some(parent) = &self.parent_id
            && self.domain_id.as_ref() != Some(parent)
            && parent != "default"
        {
            return Err(ApiError::bad_request(
                "Only top-level projects are supported: parent_id must be the domain.",
            ));
        }
        Ok(ProjectChange {
            name: self.name,
            domain_id: self.domain_id.or(self.parent_id),
            description: self.description,
            enabled: self.enabled,
        })
    }
}

pub async fn list(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let projects = identity.project_list(&ctx, &list_filter(&query)?).await?;
    let base = identity.public_url();
    Ok(Json(json!({
        "projects": projects.iter().map(|p| project_json(base, p)).collect::<Vec<_>>(),
        "links": list_links(base, "projects"),
    })))
}

pub async fn show(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = identity.project_get(&ctx, &id).await?;
    Ok(Json(
        json!({"project": project_json(identity.public_url(), &p)}),
    ))
}

pub async fn create(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Json(body): Json<ProjectBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let p = identity
        .project_create(&ctx, body.project.change()?)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"project": project_json(identity.public_url(), &p)})),
    ))
}

pub async fn update(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<ProjectBody>,
) -> Result<Json<Value>, ApiError> {
    let p = identity
        .project_update(&ctx, &id, body.project.change()?)
        .await?;
    Ok(Json(
        json!({"project": project_json(identity.public_url(), &p)}),
    ))
}

pub async fn delete(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    identity.project_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
