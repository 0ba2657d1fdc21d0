//! `/flavors`: list, detail, show, and admin create/update/delete, shaped
//! per microversion as nova's `views/flavors.py` (2.55 description, 2.61
//! extra_specs, 2.75 swap 0), validated as nova's `schemas/flavors.py`.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use nimbus_common::{ApiError, Json, PageParams, RequestContext};
use serde_json::{Map, Value, json};

use crate::api::{Microversion, PublicBase};
use crate::app::ComputeService;
use crate::app::flavors::{self as app, Flavor, ListParams, NewFlavor};

/// Query parameters in order.
pub(crate) type Params = axum::extract::Query<Vec<(String, String)>>;

/// The most a listing returns (nova's `max_limit`).
pub(crate) const MAX_LIMIT: usize = 1000;

const SORT_KEYS: [&str; 15] = [
    "created_at",
    "description",
    "disabled",
    "ephemeral_gb",
    "flavorid",
    "id",
    "is_public",
    "memory_mb",
    "name",
    "root_gb",
    "rxtx_factor",
    "swap",
    "updated_at",
    "vcpu_weight",
    "vcpus",
];

/// The flavor routes.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/flavors", get(flavor_index).post(flavor_create))
        .route("/flavors/detail", get(flavor_detail))
        .route(
            "/flavors/{id}",
            get(flavor_show).put(flavor_update).delete(flavor_delete),
        )
}

/// The detail view of one flavor at `v`.
pub(crate) fn flavor_view(f: &Flavor, v: Microversion, base: &PublicBase) -> Value {
    let swap = if v.at_least(2, 75) || f.swap != 0 {
        json!(f.swap)
    } else {
        json!("")
    };
    let mut out = json!({
        "id": f.id,
        "name": f.name,
        "ram": f.memory_mb,
        "disk": f.root_gb,
        "swap": swap,
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral_gb,
        "OS-FLV-DISABLED:disabled": f.disabled,
        "vcpus": f.vcpus,
        "os-flavor-access:is_public": f.is_public,
        "rxtx_factor": f.rxtx_factor,
        "links": base.links(&format!("flavors/{}", f.id)),
    });
    if v.at_least(2, 55) {
        out["description"] = json!(f.description);
    }
    if v.at_least(2, 61) {
        out["extra_specs"] = json!(f.extra_specs);
    }
    out
}

fn flavor_brief(f: &Flavor, v: Microversion, base: &PublicBase) -> Value {
    let mut out = json!({
        "id": f.id,
        "name": f.name,
        "links": base.links(&format!("flavors/{}", f.id)),
    });
    if v.at_least(2, 55) {
        out["description"] = json!(f.description);
    }
    out
}

/// The first value of each known parameter; 400 for unknown ones from
/// `strict_from` on (nova's `additionalProperties: false`).
pub(crate) fn query_map(
    params: &[(String, String)],
    known: &[&str],
    strict: bool,
) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    let mut out = std::collections::BTreeMap::new();
    for (key, value) in params {
        if !known.contains(&key.as_str()) {
            if strict {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for query parameters {key}. Value: {value}. \
                     Additional properties are not allowed ('{key}' was unexpected)"
                )));
            }
            continue;
        }
        out.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Ok(out)
}

/// A query string rebuilt with `marker` replaced, for `next` links.
pub(crate) fn next_query(params: &[(String, String)], marker: &str) -> String {
    let mut parts: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    parts.push(format!("marker={}", encode(marker)));
    parts.join("&")
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn list_params(params: &[(String, String)], v: Microversion) -> Result<ListParams, ApiError> {
    let q = query_map(
        params,
        &[
            "limit",
            "marker",
            "is_public",
            "minRam",
            "minDisk",
            "sort_key",
            "sort_dir",
        ],
        v.at_least(2, 75),
    )?;
    let page = PageParams::parse(
        q.get("limit").map(String::as_str),
        q.get("marker").map(String::as_str),
        MAX_LIMIT,
    )?;
    let is_public = match q.get("is_public").map(|s| s.to_ascii_lowercase()) {
        None => Some(true),
        Some(s) if s == "none" => None,
        Some(s) => Some(
            parse_bool_text(&s)
                .ok_or_else(|| ApiError::bad_request(format!("Invalid is_public filter [{s}]")))?,
        ),
    };
    let min = |name: &str| -> Result<Option<i64>, ApiError> {
        q.get(name)
            .map(|s| {
                s.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| ApiError::bad_request(format!("Invalid {name} filter [{s}]")))
            })
            .transpose()
    };
    let sort_key = q.get("sort_key").map(String::as_str).unwrap_or("flavorid");
    if !SORT_KEYS.contains(&sort_key) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for query parameters sort_key. Value: {sort_key}."
        )));
    }
    // vcpu_weight is a nova column we do not keep: every flavor has none.
    let sort_key = if sort_key == "vcpu_weight" {
        "flavorid"
    } else {
        sort_key
    };
    let descending = match q.get("sort_dir").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for query parameters sort_dir. Value: {other}."
            )));
        }
    };
    Ok(ListParams {
        is_public,
        min_ram: min("minRam")?,
        min_disk: min("minDisk")?,
        sort_key: sort_key.to_string(),
        descending,
        limit: page.limit,
        marker: page.marker,
    })
}

/// oslo's `bool_from_string(strict=True)`.
pub(crate) fn parse_bool_text(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

async fn list(
    svc: &ComputeService,
    ctx: &RequestContext,
    v: Microversion,
    base: &PublicBase,
    params: &[(String, String)],
    detail: bool,
) -> Result<Value, ApiError> {
    let lp = list_params(params, v)?;
    let flavors = app::flavor_list(svc, ctx, &lp).await?;
    let items: Vec<Value> = flavors
        .iter()
        .map(|f| {
            if detail {
                flavor_view(f, v, base)
            } else {
                flavor_brief(f, v, base)
            }
        })
        .collect();
    let mut out = json!({ "flavors": items });
    if flavors.len() == lp.limit
        && let Some(last) = flavors.last()
    {
        let path = if detail { "flavors/detail" } else { "flavors" };
        out["flavors_links"] = base.next(&format!("{path}?{}", next_query(params, &last.id)));
    }
    Ok(out)
}

async fn flavor_index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    base: PublicBase,
    axum::extract::Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(list(&svc, &ctx, v, &base, &params, false).await?))
}

async fn flavor_detail(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    base: PublicBase,
    axum::extract::Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(list(&svc, &ctx, v, &base, &params, true).await?))
}

async fn flavor_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    base: PublicBase,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let flavor = app::flavor_get(&svc, &ctx, &id).await?;
    Ok(Json(json!({"flavor": flavor_view(&flavor, v, &base)})))
}

/// The object under `key` of a request body, 400 otherwise.
pub(crate) fn body_object<'a>(
    body: &'a Value,
    key: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    let top = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("The request body must be an object."))?;
    if let Some(extra) = top.keys().find(|k| *k != key) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {extra}. Additional properties are not allowed \
             ('{extra}' was unexpected)"
        )));
    }
    top.get(key)
        .ok_or_else(|| ApiError::bad_request(format!("'{key}' is a required property")))?
        .as_object()
        .ok_or_else(|| ApiError::bad_request(format!("Invalid input for field/attribute {key}.")))
}

/// nova's `flavor_param_positive`/`non_negative`: an integer or a string of
/// digits, at least `min`, at most the database's int.
pub(crate) fn int_param(value: &Value, field: &str, min: i64) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {value}."
        ))
    };
    let n = match value {
        Value::Number(n) => n.as_i64().ok_or_else(bad)?,
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i64>().map_err(|_| bad())?
        }
        _ => return Err(bad()),
    };
    if n < min || n > i64::from(i32::MAX) {
        return Err(bad());
    }
    Ok(n)
}

/// nova's `parameter_types.boolean`.
pub(crate) fn bool_param(value: &Value, field: &str) -> Result<bool, ApiError> {
    let parsed = match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => parse_bool_text(s),
        _ => None,
    };
    parsed.ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {value}."
        ))
    })
}

/// nova's `parameter_types.name`: 1-255 printable characters without
/// leading or trailing whitespace.
pub(crate) fn name_param(value: &Value, field: &str) -> Result<String, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {value}."
        ))
    };
    let s = value.as_str().ok_or_else(bad)?;
    let chars = s.chars().count();
    if chars == 0
        || chars > 255
        || s.starts_with(char::is_whitespace)
        || s.ends_with(char::is_whitespace)
        || s.chars().any(char::is_control)
    {
        return Err(bad());
    }
    Ok(s.to_string())
}

fn description_param(value: &Value) -> Result<Option<String>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s)
            if s.chars().count() <= 65535
                && !s.chars().any(|c| c.is_control() && !"\n\r\t".contains(c)) =>
        {
            Ok(Some(s.clone()))
        }
        _ => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute description. Value: {value}."
        ))),
    }
}

fn flavor_id_param(value: &Value) -> Result<Option<String>, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute id. Value: {value}."
        ))
    };
    let s = match value {
        Value::Null => return Ok(None),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(bad()),
    };
    let ok = !s.is_empty()
        && s.len() <= 255
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b". _-".contains(&b));
    if ok { Ok(Some(s)) } else { Err(bad()) }
}

fn rxtx_param(value: &Value) -> Result<f64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute rxtx_factor. Value: {value}."
        ))
    };
    let f = match value {
        Value::Number(n) => n.as_f64().ok_or_else(bad)?,
        Value::String(s) => {
            let well_formed = s.split_once('.').map_or_else(
                || !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
                |(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && a.bytes().all(|c| c.is_ascii_digit())
                        && b.bytes().all(|c| c.is_ascii_digit())
                },
            );
            if !well_formed {
                return Err(bad());
            }
            s.parse::<f64>().map_err(|_| bad())?
        }
        _ => return Err(bad()),
    };
    if !(f > 0.0 && f <= 3.40282e38) {
        return Err(bad());
    }
    Ok(f)
}

fn parse_create(body: &Value, v: Microversion) -> Result<NewFlavor, ApiError> {
    let flavor = body_object(body, "flavor")?;
    let mut allowed = vec![
        "name",
        "id",
        "ram",
        "vcpus",
        "disk",
        "OS-FLV-EXT-DATA:ephemeral",
        "swap",
        "rxtx_factor",
        "os-flavor-access:is_public",
    ];
    if v.at_least(2, 55) {
        allowed.push("description");
    }
    if let Some(extra) = flavor.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute flavor. Additional properties are not allowed \
             ('{extra}' was unexpected)"
        )));
    }
    for required in ["name", "ram", "vcpus", "disk"] {
        if !flavor.contains_key(required) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute flavor. '{required}' is a required property"
            )));
        }
    }
    let int = |key: &str, min: i64| -> Result<i64, ApiError> {
        match flavor.get(key) {
            None => Ok(0),
            Some(value) => int_param(value, key, min),
        }
    };
    // swap may be "" (none) as nova's views print it.
    let swap = match flavor.get("swap") {
        Some(Value::String(s)) if s.is_empty() => 0,
        _ => int("swap", 0)?,
    };
    Ok(NewFlavor {
        id: flavor.get("id").map(flavor_id_param).transpose()?.flatten(),
        name: name_param(&flavor["name"], "name")?,
        vcpus: int("vcpus", 1)?,
        memory_mb: int("ram", 1)?,
        root_gb: int("disk", 0)?,
        ephemeral_gb: int("OS-FLV-EXT-DATA:ephemeral", 0)?,
        swap,
        rxtx_factor: flavor
            .get("rxtx_factor")
            .map(rxtx_param)
            .transpose()?
            .unwrap_or(1.0),
        is_public: flavor
            .get("os-flavor-access:is_public")
            .map(|b| bool_param(b, "os-flavor-access:is_public"))
            .transpose()?
            .unwrap_or(true),
        description: flavor
            .get("description")
            .map(description_param)
            .transpose()?
            .flatten(),
    })
}

async fn flavor_create(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    base: PublicBase,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    // Policy before validation, as nova's `context.can` comes first.
    ctx.require_admin("os_compute_api:os-flavor-manage:create")?;
    let new = parse_create(&body, v)?;
    let flavor = app::flavor_create(&svc, &ctx, new).await?;
    Ok(Json(json!({"flavor": flavor_view(&flavor, v, &base)})))
}

async fn flavor_update(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    base: PublicBase,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    if !v.at_least(2, 55) {
        return Err(ApiError::new(
            nimbus_common::error::ErrorKind::MethodNotAllowed,
            "The method is not allowed for this resource.",
        ));
    }
    ctx.require_admin("os_compute_api:os-flavor-manage:update")?;
    let flavor = body_object(&body, "flavor")?;
    if let Some(extra) = flavor.keys().find(|k| *k != "description") {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute flavor. Additional properties are not allowed \
             ('{extra}' was unexpected)"
        )));
    }
    let description = description_param(flavor.get("description").ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute flavor. 'description' is a required property",
        )
    })?)?;
    let flavor = app::flavor_update(&svc, &ctx, &id, description).await?;
    Ok(Json(json!({"flavor": flavor_view(&flavor, v, &base)})))
}

async fn flavor_delete(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    app::flavor_delete(&svc, &ctx, &id).await?;
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
    fn create_bodies_are_validated_as_nova_schema() {
        let ok = json!({"flavor": {"name": "m1", "ram": "256", "vcpus": 1, "disk": 0,
            "swap": "", "id": null, "os-flavor-access:is_public": "false"}});
        let new = parse_create(&ok, v(1)).unwrap();
        assert_eq!((new.memory_mb, new.swap, new.is_public), (256, 0, false));
        assert!(new.id.is_none());
        for bad in [
            json!({"flavor": {"name": "m1", "ram": 0, "vcpus": 1, "disk": 0}}),
            json!({"flavor": {"name": " m1", "ram": 1, "vcpus": 1, "disk": 0}}),
            json!({"flavor": {"name": "m1", "ram": 1, "vcpus": 1}}),
            json!({"flavor": {"name": "m1", "ram": 1, "vcpus": 1, "disk": -1}}),
            json!({"flavor": {"name": "m1", "ram": 1, "vcpus": 1, "disk": 0, "id": "a/b"}}),
            json!({"flavor": {"name": "m1", "ram": 1, "vcpus": 1, "disk": 0, "rxtx_factor": 0}}),
            json!({"flavor": {"name": "m1", "ram": 1, "vcpus": 1, "disk": 0, "x": 1}}),
            json!({"flavor": {"name": "m1", "ram": 1e20, "vcpus": 1, "disk": 0}}),
        ] {
            assert_eq!(parse_create(&bad, v(1)).unwrap_err().status(), 400, "{bad}");
        }
        let described = json!({"flavor": {"name": "m1", "ram": 1, "vcpus": 1, "disk": 0,
            "description": "d"}});
        assert!(parse_create(&described, v(54)).is_err());
        assert_eq!(
            parse_create(&described, v(55))
                .unwrap()
                .description
                .as_deref(),
            Some("d")
        );
    }

    #[test]
    fn next_links_keep_the_query_and_replace_the_marker() {
        let params = vec![
            ("limit".to_string(), "1".to_string()),
            ("marker".to_string(), "old".to_string()),
            ("is_public".to_string(), "None".to_string()),
        ];
        assert_eq!(
            next_query(&params, "a b"),
            "limit=1&is_public=None&marker=a%20b"
        );
    }
}
