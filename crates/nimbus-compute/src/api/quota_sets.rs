//! `/os-quota-sets/{tenant_id}`: show, defaults, detail, and admin update
//! and delete, with the keys each microversion shows (nova's
//! `quota_sets.py`: 2.36 drops the network quotas, 2.57 the injected files).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Map, Value, json};

use crate::api::Microversion;
use crate::api::flavors::{Params, body_object, bool_param, query_map};
use crate::app::ComputeService;
use crate::app::quotas;

/// The quota set routes.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route(
            "/os-quota-sets/{tenant_id}",
            get(quota_show).put(quota_update).delete(quota_delete),
        )
        .route("/os-quota-sets/{tenant_id}/defaults", get(quota_defaults))
        .route("/os-quota-sets/{tenant_id}/detail", get(quota_detail))
        .route(
            "/os-quota-class-sets/{id}",
            get(class_show).put(class_update),
        )
}

/// The resources `v` no longer shows.
fn filtered(v: Microversion) -> &'static [&'static str] {
    if v.at_least(2, 57) {
        &NETWORK_AND_FILE_QUOTAS
    } else if v.at_least(2, 36) {
        &NETWORK_QUOTAS
    } else {
        &[]
    }
}

const NETWORK_QUOTAS: [&str; 4] = [
    "fixed_ips",
    "floating_ips",
    "security_group_rules",
    "security_groups",
];
const NETWORK_AND_FILE_QUOTAS: [&str; 7] = [
    "fixed_ips",
    "floating_ips",
    "security_group_rules",
    "security_groups",
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_bytes",
];

/// The resources a quota class request may not name at `v` (nova's
/// quota_classes.py moved the network cutoff to 2.50, not 2.36).
fn class_filtered(v: Microversion) -> &'static [&'static str] {
    if v.at_least(2, 57) {
        &NETWORK_AND_FILE_QUOTAS
    } else if v.at_least(2, 50) {
        &NETWORK_QUOTAS
    } else {
        &[]
    }
}

/// The resources a quota class reply leaves out at `v`: before 2.50 the
/// server group quotas were missing from it (nova's fix-quota-classes-api).
fn class_hidden(v: Microversion) -> &'static [&'static str] {
    const V21: [&str; 2] = ["server_groups", "server_group_members"];
    if v.at_least(2, 50) {
        class_filtered(v)
    } else {
        &V21
    }
}

fn quota_view(id: Option<&str>, values: BTreeMap<String, Value>, v: Microversion) -> Value {
    json!({ "quota_set": limits_object(id, values, filtered(v)) })
}

fn class_view(id: Option<&str>, values: BTreeMap<String, Value>, v: Microversion) -> Value {
    json!({ "quota_class_set": limits_object(id, values, class_hidden(v)) })
}

fn limits_object(
    id: Option<&str>,
    values: BTreeMap<String, Value>,
    hidden: &[&str],
) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(id) = id {
        out.insert("id".into(), json!(id));
    }
    for (resource, _) in quotas::DEFAULTS {
        if !hidden.contains(&resource)
            && let Some(value) = values.get(resource)
        {
            out.insert(resource.into(), value.clone());
        }
    }
    out
}

fn user_param(params: &[(String, String)], v: Microversion) -> Result<Option<String>, ApiError> {
    let q = query_map(params, &["user_id"], v.at_least(2, 75))?;
    Ok(q.get("user_id").cloned())
}

fn numbers(map: BTreeMap<String, i64>) -> BTreeMap<String, Value> {
    map.into_iter().map(|(k, n)| (k, json!(n))).collect()
}

async fn quota_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(project): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    quotas::require_reader(&ctx, &project, "os_compute_api:os-quota-sets:show")?;
    let user = user_param(&params, v)?;
    let limits = quotas::limits(&svc, &project, user.as_deref()).await?;
    Ok(Json(quota_view(Some(&project), numbers(limits), v)))
}

async fn quota_defaults(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    // Any authenticated caller may read the defaults, as nova's policy says.
    let _ = ctx;
    let limits = quotas::default_limits(&svc).await?;
    Ok(Json(quota_view(Some(&project), numbers(limits), v)))
}

async fn quota_detail(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(project): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    quotas::require_reader(&ctx, &project, "os_compute_api:os-quota-sets:detail")?;
    let user = user_param(&params, v)?;
    let limits = quotas::limits(&svc, &project, user.as_deref()).await?;
    let used = quotas::in_use(&svc, &project, user.as_deref()).await?;
    let values = limits
        .into_iter()
        .map(|(k, limit)| {
            let in_use = used.get(&k).copied().unwrap_or(0);
            (k, json!({"in_use": in_use, "limit": limit, "reserved": 0}))
        })
        .collect();
    Ok(Json(quota_view(Some(&project), values, v)))
}

/// A quota value: an integer or a string of one, at least -1.
fn quota_value(key: &str, value: &Value) -> Result<i64, ApiError> {
    let n = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    n.filter(|n| (-1..=i64::from(i32::MAX)).contains(n))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input for field/attribute {key}. Value: {value}."
            ))
        })
}

async fn quota_update(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(project): Path<String>,
    axum::extract::Query(params): Params,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("os_compute_api:os-quota-sets:update")?;
    let user = user_param(&params, v)?;
    let set = body_object(&body, "quota_set")?;
    let hidden = filtered(v);
    let mut force = false;
    let mut requested = BTreeMap::new();
    for (key, value) in set {
        if key == "force" {
            force = bool_param(value, "force")?;
            continue;
        }
        if !quotas::is_resource(key) || hidden.contains(&key.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute quota_set. Additional properties are not \
                 allowed ('{key}' was unexpected)"
            )));
        }
        requested.insert(key.clone(), quota_value(key, value)?);
    }
    if !force {
        let used = quotas::in_use(&svc, &project, user.as_deref()).await?;
        // A user's limit may not exceed the project's.
        let project_limits = quotas::limits(&svc, &project, None).await?;
        for (key, limit) in &requested {
            let minimum = used.get(key).copied().unwrap_or(0);
            if *limit != -1 && *limit < minimum {
                return Err(ApiError::bad_request(format!(
                    "Quota limit {limit} for {key} must be greater than or equal to already \
                     used and reserved {minimum}."
                )));
            }
            if user.is_some() {
                let maximum = project_limits.get(key).copied().unwrap_or(-1);
                if maximum != -1 && (*limit == -1 || *limit > maximum) {
                    return Err(ApiError::bad_request(format!(
                        "Quota limit {limit} for {key} must be less than or equal to {maximum}."
                    )));
                }
            }
        }
    }
    quotas::quota_update(&svc, &ctx, &project, user.as_deref(), &requested).await?;
    let limits = quotas::limits(&svc, &project, user.as_deref()).await?;
    Ok(Json(quota_view(None, numbers(limits), v)))
}

async fn class_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(class): Path<String>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("os_compute_api:os-quota-class-sets:show")?;
    let limits = quotas::class_limits(&svc, &class).await?;
    Ok(Json(class_view(Some(&class), numbers(limits), v)))
}

async fn class_update(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(class): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("os_compute_api:os-quota-class-sets:update")?;
    if class.is_empty() || class.len() > 255 {
        return Err(ApiError::bad_request(
            "The quota class name must be 1 to 255 characters.",
        ));
    }
    let set = body_object(&body, "quota_class_set")?;
    let refused = class_filtered(v);
    let mut requested = BTreeMap::new();
    for (key, value) in set {
        if !quotas::is_resource(key) || refused.contains(&key.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute quota_class_set. Additional properties are \
                 not allowed ('{key}' was unexpected)"
            )));
        }
        requested.insert(key.clone(), quota_value(key, value)?);
    }
    let limits = quotas::class_update(&svc, &ctx, &class, &requested).await?;
    // As nova: the update's reply has no id.
    Ok(Json(class_view(None, numbers(limits), v)))
}

async fn quota_delete(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(project): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<StatusCode, ApiError> {
    ctx.require_admin("os_compute_api:os-quota-sets:delete")?;
    let user = user_param(&params, v)?;
    quotas::quota_delete(&svc, &ctx, &project, user.as_deref()).await?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_common::ApiVersion;

    #[test]
    fn keys_follow_the_version() {
        let at = |minor| {
            quota_view(
                Some("p"),
                numbers(quotas::defaults()),
                Microversion(ApiVersion::new(2, minor)),
            )
        };
        let v21 = at(1);
        assert_eq!(v21["quota_set"].as_object().unwrap().len(), 15);
        assert_eq!(v21["quota_set"]["id"], "p");
        assert_eq!(v21["quota_set"]["instances"], 10);
        assert!(at(36)["quota_set"].get("floating_ips").is_none());
        assert!(at(36)["quota_set"].get("injected_files").is_some());
        let v257 = at(57);
        assert!(v257["quota_set"].get("injected_files").is_none());
        assert_eq!(v257["quota_set"].as_object().unwrap().len(), 8);
    }

    #[test]
    fn values_are_integers_from_minus_one() {
        assert_eq!(quota_value("x", &json!("-1")).unwrap(), -1);
        assert_eq!(quota_value("x", &json!(5)).unwrap(), 5);
        assert!(quota_value("x", &json!(-2)).is_err());
        assert!(quota_value("x", &json!("a")).is_err());
        assert!(quota_value("x", &json!(1.5)).is_err());
    }
}
