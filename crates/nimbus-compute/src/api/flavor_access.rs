//! `/flavors/{id}/os-flavor-access` and the `addTenantAccess` /
//! `removeTenantAccess` actions on private flavors (admins only).

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Value, json};

use crate::app::ComputeService;
use crate::app::flavors as app;

/// The flavor access routes.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/flavors/{id}/os-flavor-access", get(access_index))
        .route("/flavors/{id}/action", post(flavor_action))
}

fn access_view(id: &str, projects: &[String]) -> Value {
    let items: Vec<Value> = projects
        .iter()
        .map(|p| json!({"flavor_id": id, "tenant_id": p}))
        .collect();
    json!({ "flavor_access": items })
}

async fn access_index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let projects = app::access_list(&svc, &ctx, &id).await?;
    Ok(Json(access_view(&id, &projects)))
}

/// The `tenant` of an access action body, validated as nova's schema
/// (a string of 1-255 characters, nothing else in the object).
fn tenant_of(action: &str, body: &Value) -> Result<String, ApiError> {
    let inner = crate::api::flavors::body_object(body, action)?;
    if let Some(extra) = inner.keys().find(|k| *k != "tenant") {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {action}. Additional properties are not allowed \
             ('{extra}' was unexpected)"
        )));
    }
    match inner.get("tenant") {
        Some(Value::String(t)) if !t.is_empty() && t.chars().count() <= 255 => Ok(t.clone()),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute tenant. Value: {other}."
        ))),
        None => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {action}. 'tenant' is a required property"
        ))),
    }
}

async fn flavor_action(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let action = body
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    let projects = match action.as_str() {
        "addTenantAccess" => {
            ctx.require_admin("os_compute_api:os-flavor-access:add_tenant_access")?;
            let tenant = tenant_of(&action, &body)?;
            app::access_add(&svc, &ctx, &id, &tenant).await?
        }
        "removeTenantAccess" => {
            ctx.require_admin("os_compute_api:os-flavor-access:remove_tenant_access")?;
            let tenant = tenant_of(&action, &body)?;
            app::access_remove(&svc, &ctx, &id, &tenant).await?
        }
        _ => {
            return Err(ApiError::bad_request(
                "There is no such action on a flavor.",
            ));
        }
    };
    Ok(Json(access_view(&id, &projects)))
}
