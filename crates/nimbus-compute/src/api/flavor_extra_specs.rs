//! `/flavors/{id}/os-extra_specs`: read by anyone who sees the flavor,
//! written by admins; keys and values checked as nova's schema, and from
//! 2.86 the keys of namespaces nova validates (`hw:`, `hw_rng:`, ...).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Map, Value, json};

use crate::api::Microversion;
use crate::app::ComputeService;
use crate::app::flavors as app;

/// The extra spec routes.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route(
            "/flavors/{id}/os-extra_specs",
            get(specs_index).post(specs_create),
        )
        .route(
            "/flavors/{id}/os-extra_specs/{key}",
            get(spec_show).put(spec_update).delete(spec_delete),
        )
}

/// nova's extra spec key: `^[a-zA-Z0-9-_:. /]{1,255}$`.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 255
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:. /".contains(&b))
}

/// The namespaces nova's validators own: a key in one of them must be a
/// spec nova knows (2.86); other namespaces are free.
const VALIDATED: [(&str, &[&str]); 4] = [
    (
        "hw",
        &[
            "cpu_policy",
            "cpu_thread_policy",
            "cpu_sockets",
            "cpu_cores",
            "cpu_threads",
            "cpu_max_sockets",
            "cpu_max_cores",
            "cpu_max_threads",
            "numa_nodes",
            "mem_page_size",
            "watchdog_action",
            "boot_menu",
            "machine_type",
            "emulator_threads_policy",
            "cpu_realtime",
            "cpu_realtime_mask",
            "mem_encryption",
            "pmu",
            "serial_port_count",
            "video:ram_max_mb",
            "vif_multiqueue_enabled",
            "locked_memory",
            "tpm_model",
            "tpm_version",
            "viommu_model",
            "ephemeral_encryption",
            "maxphysaddr_mode",
            "maxphysaddr_bits",
        ],
    ),
    ("hw_rng", &["allowed", "rate_bytes", "rate_period"]),
    ("hw_video", &["ram_max_mb"]),
    ("os", &["secure_boot", "monitors"]),
];

/// A few value rules of nova's validators, for the obvious mistakes.
fn valid_value(key: &str, value: &str) -> bool {
    let int = |min: i64| value.parse::<i64>().is_ok_and(|n| n >= min);
    let bool_like = || crate::api::flavors::parse_bool_text(value).is_some();
    match key {
        "hw:cpu_policy" => ["dedicated", "shared", "mixed"].contains(&value),
        "hw:cpu_thread_policy" => ["prefer", "isolate", "require"].contains(&value),
        "hw:cpu_sockets" | "hw:cpu_cores" | "hw:cpu_threads" | "hw:cpu_max_sockets"
        | "hw:cpu_max_cores" | "hw:cpu_max_threads" | "hw:numa_nodes" => int(1),
        "hw:serial_port_count"
        | "hw_rng:rate_bytes"
        | "hw_rng:rate_period"
        | "hw_video:ram_max_mb" => int(0),
        "hw:watchdog_action" => ["none", "pause", "poweroff", "reset", "disabled"].contains(&value),
        "hw:boot_menu"
        | "hw:cpu_realtime"
        | "hw:mem_encryption"
        | "hw:pmu"
        | "hw:vif_multiqueue_enabled"
        | "hw:locked_memory"
        | "hw_rng:allowed" => bool_like(),
        "hw:mem_page_size" => {
            ["large", "small", "any"].contains(&value)
                || value
                    .trim_end_matches(|c: char| c.is_ascii_alphabetic())
                    .parse::<u64>()
                    .is_ok()
        }
        _ => true,
    }
}

/// Validates a spec as nova's API does at `v`.
fn check_spec(key: &str, value: &str, v: Microversion) -> Result<(), ApiError> {
    if !valid_key(key) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute extra_specs. Value: {key}. \
             '{key}' does not match any of the regexes: '^[a-zA-Z0-9-_:. /]{{1,255}}$'"
        )));
    }
    if value.chars().count() > 255 {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value is too long."
        )));
    }
    if v.at_least(2, 86)
        && let Some((namespace, name)) = key.split_once(':')
        && let Some((_, known)) = VALIDATED.iter().find(|(ns, _)| *ns == namespace)
    {
        if !known.contains(&name) {
            return Err(ApiError::bad_request(format!(
                "Validation failed; extra spec {key} does not appear to be a valid extra spec."
            )));
        }
        if !valid_value(key, value) {
            return Err(ApiError::bad_request(format!(
                "Validation failed; '{value}' is not a valid value for {key}."
            )));
        }
    }
    Ok(())
}

/// Values may be strings, numbers or booleans; nova stores their text.
fn spec_value(key: &str, value: &Value) -> Result<String, ApiError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(if *b { "True" } else { "False" }.to_string()),
        other => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {other}."
        ))),
    }
}

fn parse_specs(
    map: &Map<String, Value>,
    v: Microversion,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let value = spec_value(key, value)?;
        check_spec(key, &value, v)?;
        out.insert(key.clone(), value);
    }
    Ok(out)
}

async fn specs_index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let specs = app::extra_specs_get(&svc, &ctx, &id).await?;
    Ok(Json(json!({ "extra_specs": specs })))
}

async fn specs_create(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("os_compute_api:os-flavor-extra-specs:create")?;
    let map = crate::api::flavors::body_object(&body, "extra_specs")?;
    let specs = parse_specs(map, v)?;
    app::extra_specs_set(&svc, &ctx, &id, &specs).await?;
    Ok(Json(json!({ "extra_specs": specs })))
}

async fn spec_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path((id, key)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let specs = app::extra_specs_get(&svc, &ctx, &id).await?;
    let value = specs.get(&key).ok_or_else(|| {
        ApiError::not_found(format!("Flavor {id} has no extra specs with key {key}."))
    })?;
    Ok(Json(json!({ key: value })))
}

async fn spec_update(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path((id, key)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("os_compute_api:os-flavor-extra-specs:update")?;
    let map = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("The request body must be an object."))?;
    if map.len() != 1 {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute body. The body must hold exactly one item.",
        ));
    }
    if !map.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let specs = parse_specs(map, v)?;
    app::extra_specs_set(&svc, &ctx, &id, &specs).await?;
    Ok(Json(json!(specs)))
}

async fn spec_delete(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    app::extra_spec_delete(&svc, &ctx, &id, &key).await?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_common::ApiVersion;

    fn v(minor: u16) -> Microversion {
        Microversion(ApiVersion::new(2, minor))
    }

    #[test]
    fn keys_are_checked_and_known_namespaces_validated_from_2_86() {
        assert!(check_spec("hw:cpu_policy", "dedicated", v(86)).is_ok());
        assert!(check_spec("hw:cpu_policy", "fast", v(86)).is_err());
        assert!(check_spec("hw:cpu_policy", "fast", v(85)).is_ok());
        assert!(check_spec("hw:no_such_thing", "1", v(86)).is_err());
        assert!(check_spec("hw:no_such_thing", "1", v(85)).is_ok());
        assert!(check_spec("custom:anything", "x", v(86)).is_ok());
        assert!(check_spec("bad key!", "x", v(2)).is_err());
        assert!(check_spec("", "x", v(2)).is_err());
        assert!(check_spec("k", &"x".repeat(256), v(2)).is_err());
    }
}
