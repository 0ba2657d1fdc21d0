//! Grants (`/v3/{projects,domains}/{id}/users/{u}/roles/{r}`) and
//! `GET /v3/role_assignments`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Value, json};

use super::wire::{list_links, parse_bool, role_json};
use crate::app::Identity;
use crate::app::assignments::{AssignmentQuery, AssignmentView, TargetView};
use crate::model::TargetType;

type Grant = Path<(String, String, String)>;

pub async fn project_grant(
    State(id): State<Identity>,
    ctx: RequestContext,
    Path((target, user, role)): Grant,
) -> Result<StatusCode, ApiError> {
    id.role_grant(&ctx, TargetType::Project, &target, &user, &role)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn project_check(
    State(id): State<Identity>,
    ctx: RequestContext,
    Path((target, user, role)): Grant,
) -> Result<StatusCode, ApiError> {
    id.role_check(&ctx, TargetType::Project, &target, &user, &role)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn project_revoke(
    State(id): State<Identity>,
    ctx: RequestContext,
    Path((target, user, role)): Grant,
) -> Result<StatusCode, ApiError> {
    id.role_revoke(&ctx, TargetType::Project, &target, &user, &role)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn project_roles(
    State(id): State<Identity>,
    ctx: RequestContext,
    Path((target, user)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let roles = id
        .roles_on_target(&ctx, TargetType::Project, &target, &user)
        .await?;
    let base = id.public_url();
    Ok(Json(json!({
        "roles": roles.iter().map(|r| role_json(base, r)).collect::<Vec<_>>(),
        "links": list_links(base, &format!("projects/{target}/users/{user}/roles")),
    })))
}

pub async fn domain_grant(
    State(id): State<Identity>,
    ctx: RequestContext,
    Path((target, user, role)): Grant,
) -> Result<StatusCode, ApiError> {
    id.role_grant(&ctx, TargetType::Domain, &target, &user, &role)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn domain_check(
    State(id): State<Identity>,
    ctx: RequestContext,
    Path((target, user, role)): Grant,
) -> Result<StatusCode, ApiError> {
    id.role_check(&ctx, TargetType::Domain, &target, &user, &role)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn domain_revoke(
    State(id): State<Identity>,
    ctx: RequestContext,
    Path((target, user, role)): Grant,
) -> Result<StatusCode, ApiError> {
    id.role_revoke(&ctx, TargetType::Domain, &target, &user, &role)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn domain_roles(
    State(id): State<Identity>,
    ctx: RequestContext,
    Path((target, user)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let roles = id
        .roles_on_target(&ctx, TargetType::Domain, &target, &user)
        .await?;
    let base = id.public_url();
    Ok(Json(json!({
        "roles": roles.iter().map(|r| role_json(base, r)).collect::<Vec<_>>(),
        "links": list_links(base, &format!("domains/{target}/users/{user}/roles")),
    })))
}

/// A flag that counts as set when present without a value (`?effective`).
fn flag(query: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match query.get(name) {
        None => Ok(false),
        Some(v) if v.is_empty() => Ok(true),
        Some(v) => parse_bool(name, v),
    }
}

pub async fn list(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let q = AssignmentQuery {
        user_id: query.get("user.id").cloned(),
        role_id: query.get("role.id").cloned(),
        project_id: query.get("scope.project.id").cloned(),
        domain_id: query.get("scope.domain.id").cloned(),
        effective: flag(&query, "effective")?,
        impossible: query.contains_key("group.id")
            || query.contains_key("scope.system")
            || query.contains_key("scope.OS-INHERIT:inherited_to"),
    };
    let names = flag(&query, "include_names")?;
    let rows = identity.role_assignment_list(&ctx, &q).await?;
    let base = identity.public_url();
    Ok(Json(json!({
        "role_assignments": rows.iter().map(|a| assignment_json(base, a, names)).collect::<Vec<_>>(),
        "links": list_links(base, "role_assignments"),
    })))
}

fn named(id: &str, name: &str, names: bool) -> Value {
    if names {
        json!({"id": id, "name": name})
    } else {
        json!({"id": id})
    }
}

fn assignment_json(base: &str, a: &AssignmentView, names: bool) -> Value {
    let mut user = named(&a.user.id, &a.user.name, names);
    if names {
        user["domain"] = json!({"id": a.user_domain.id, "name": a.user_domain.name});
    }
    let (scope, target_path) = match &a.target {
        TargetView::Project(p, d) => {
            let mut project = named(&p.id, &p.name, names);
            if names {
                project["domain"] = json!({"id": d.id, "name": d.name});
            }
            (json!({"project": project}), format!("projects/{}", p.id))
        }
        TargetView::Domain(d) => (
            json!({"domain": named(&d.id, &d.name, names)}),
            format!("domains/{}", d.id),
        ),
    };
    let granted = a.prior_role_id.as_deref().unwrap_or(&a.role.id);
    let mut links = json!({
        "assignment": format!("{base}/identity/v3/{target_path}/users/{}/roles/{granted}", a.user.id),
    });
    if let Some(prior) = &a.prior_role_id {
        links["prior_role"] = json!(format!("{base}/identity/v3/roles/{prior}"));
    }
    json!({
        "role": named(&a.role.id, &a.role.name, names),
        "scope": scope,
        "user": user,
        "links": links,
    })
}
