//! `/servers`: create, list, detail, show, update, delete, with nova's
//! request schema per microversion (unknown fields are 400, as its
//! `additionalProperties: false`).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nimbus_common::{ApiError, Json, PageParams, RequestContext};
use serde_json::{Map, Value, json};

use super::Microversion;
use super::views::{self, BaseUrl, View};
use crate::app::servers::{
    self, BlockDevice, CreateRequest, ListQuery, UpdateRequest, check_metadata, decode_base64,
};
use crate::app::tasks::Personality;
use crate::app::{ComputeService, ports};
use crate::store::instances::ListFilter;

/// Most servers one create makes.
const MAX_COUNT: u32 = 1000;

/// Most servers one page returns (nova's `max_limit`).
const MAX_LIMIT: usize = 1000;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/servers", get(server_list).post(server_create))
        .route("/servers/detail", get(server_detail))
        .route(
            "/servers/{id}",
            get(server_show).put(server_update).delete(server_delete),
        )
}

pub(crate) fn invalid(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {why}"
    ))
}

pub(crate) fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object()
        .ok_or_else(|| invalid(what, format!("{v} is not of type 'object'")))
}

pub(crate) fn string(v: &Value, field: &str, max: usize) -> Result<String, ApiError> {
    let s = v
        .as_str()
        .ok_or_else(|| invalid(field, format!("{v} is not of type 'string'")))?;
    if s.chars().count() > max {
        return Err(invalid(field, format!("'{field}' is too long")));
    }
    Ok(s.to_string())
}

/// nova's `parameter_types.name`: 1-255 characters, no leading or trailing
/// whitespace.
pub(crate) fn name(v: &Value) -> Result<String, ApiError> {
    let s = string(v, "name", 255)?;
    if s.is_empty() || s.trim() != s {
        return Err(invalid(
            "name",
            format!("{v} does not match the name pattern"),
        ));
    }
    Ok(s)
}

pub(crate) fn description(v: &Value) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        other => Ok(Some(string(other, "description", 255)?)),
    }
}

/// nova's `parameter_types.boolean` (and `''` for config_drive).
fn boolean(v: &Value, field: &str) -> Result<bool, ApiError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => Ok(true),
            "false" | "0" | "off" | "no" | "" => Ok(false),
            _ => Err(invalid(field, format!("{v} is not a boolean"))),
        },
        _ => Err(invalid(field, format!("{v} is not a boolean"))),
    }
}

/// nova's `positive_integer` (an integer or a string of one, at least 1).
fn count(v: &Value, field: &str) -> Result<u32, ApiError> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n >= 1 => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        _ => Err(invalid(field, format!("{v} is less than the minimum of 1"))),
    }
}

pub(crate) fn metadata(v: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for (k, val) in object(v, "metadata")? {
        let val = val
            .as_str()
            .ok_or_else(|| invalid("metadata", format!("{val} is not of type 'string'")))?;
        out.insert(k.clone(), val.to_string());
    }
    check_metadata(&out)?;
    Ok(out)
}

pub(crate) fn image_id(v: &Value) -> Result<String, ApiError> {
    let s = string(v, "imageRef", 2048)?;
    // An image link ends in the id, as nova's get_id_from_href.
    Ok(s.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string())
}

fn flavor_ref(v: &Value) -> Result<String, ApiError> {
    match v {
        Value::String(s) if !s.is_empty() && s.len() <= 2048 => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(invalid(
            "flavorRef",
            format!("{v} is not a valid flavor reference"),
        )),
    }
}

/// nova's `disk_config` schema: `AUTO` or `MANUAL`.
pub(crate) fn disk_config(v: &Value) -> Result<String, ApiError> {
    match v.as_str() {
        Some(dc @ ("AUTO" | "MANUAL")) => Ok(dc.to_string()),
        _ => Err(invalid(
            "OS-DCF:diskConfig",
            format!("{v} is not one of ['AUTO', 'MANUAL']"),
        )),
    }
}

pub(crate) fn personality(v: &Value) -> Result<Vec<Personality>, ApiError> {
    let items = v
        .as_array()
        .ok_or_else(|| invalid("personality", format!("{v} is not of type 'array'")))?;
    let mut out = Vec::new();
    for item in items {
        let item = object(item, "personality")?;
        for key in item.keys() {
            if key != "path" && key != "contents" {
                return Err(invalid(
                    "personality",
                    format!("Additional properties are not allowed ('{key}' was unexpected)"),
                ));
            }
        }
        let path = string(item.get("path").unwrap_or(&Value::Null), "path", 255)?;
        let contents = string(
            item.get("contents").unwrap_or(&Value::Null),
            "contents",
            usize::MAX,
        )?;
        let decoded = decode_base64(&contents).ok_or_else(|| {
            ApiError::bad_request(format!("Personality content for {path} cannot be decoded"))
        })?;
        out.push(Personality {
            path,
            contents: decoded,
        });
    }
    Ok(out)
}

fn block_devices(v: &Value) -> Result<Vec<BlockDevice>, ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("Block Device Mapping is Invalid: {why}"));
    let items = v
        .as_array()
        .ok_or_else(|| invalid("block_device_mapping_v2", "not an array"))?;
    let mut out = Vec::new();
    for item in items {
        let item = object(item, "block_device_mapping_v2")?;
        let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
        let int = |k: &str| match item.get(k) {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let source = text("source_type").unwrap_or_default();
        let dest = text("destination_type").unwrap_or_else(|| "local".into());
        if dest == "volume" {
            out.push(crate::app::volumes::volume_block_device(item)?);
            continue;
        }
        if dest != "local" || !matches!(source.as_str(), "image" | "blank") {
            return Err(bad(
                "only local image and blank devices and volumes are supported",
            ));
        }
        let boot_index = int("boot_index").filter(|b| *b >= 0);
        if source == "image" && text("uuid").is_none() {
            return Err(bad("an image block device needs a uuid"));
        }
        if source == "blank" && boot_index.is_some() {
            return Err(bad("a blank local device cannot be booted"));
        }
        out.push(BlockDevice {
            source_type: source,
            uuid: text("uuid"),
            boot_index,
            volume_size: int("volume_size"),
            guest_format: text("guest_format"),
            destination_type: None,
            delete_on_termination: false,
        });
    }
    let roots = out.iter().filter(|b| b.boot_index == Some(0)).count();
    if roots > 1 {
        return Err(bad(
            "Boot sequence for the instance and image/block device mapping combination is not valid.",
        ));
    }
    let swaps = out
        .iter()
        .filter(|b| b.source_type == "blank" && b.guest_format.as_deref() == Some("swap"))
        .count();
    let ephs = out
        .iter()
        .filter(|b| b.source_type == "blank" && b.guest_format.as_deref() != Some("swap"))
        .count();
    if swaps > 1 || ephs > 1 {
        return Err(bad(
            "at most one ephemeral and one swap device are supported",
        ));
    }
    Ok(out)
}

/// An access address as nova stores it: validated, and in the canonical
/// text form its database column gives back (`netaddr`: RFC 5952 for
/// IPv6, so `0:0:0:0:0:babe:220.12.22.2` reads `::babe:dc0c:1602`).
fn access_ip(v: &Value, field: &str) -> Result<String, ApiError> {
    let ip = string(v, field, 64)?;
    if ip.is_empty() {
        return Ok(ip);
    }
    let (canonical, kind) = if field == "accessIPv6" {
        (
            ip.parse::<std::net::Ipv6Addr>().map(|a| a.to_string()),
            "ipv6",
        )
    } else {
        (
            ip.parse::<std::net::Ipv4Addr>().map(|a| a.to_string()),
            "ipv4",
        )
    };
    canonical.map_err(|_| invalid(field, format!("{v} is not a '{kind}'")))
}

/// Parses `{"server": {...}}` as nova's create schema at `mv`.
pub fn parse_create(body: &Value, mv: Microversion) -> Result<CreateRequest, ApiError> {
    let top = object(body, "body")?;
    for key in top.keys() {
        if !matches!(
            key.as_str(),
            "server" | "os:scheduler_hints" | "OS-SCH-HNT:scheduler_hints"
        ) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute body. Additional properties are not allowed ('{key}' was unexpected)"
            )));
        }
    }
    let s = object(
        top.get("server").ok_or_else(|| {
            ApiError::bad_request("Invalid input: 'server' is a required property")
        })?,
        "server",
    )?;
    let mut allowed: Vec<&str> = vec![
        "name",
        "imageRef",
        "flavorRef",
        "adminPass",
        "metadata",
        "networks",
        "OS-DCF:diskConfig",
        "accessIPv4",
        "accessIPv6",
        "availability_zone",
        "block_device_mapping_v2",
        "config_drive",
        "key_name",
        "min_count",
        "max_count",
        "return_reservation_id",
        "security_groups",
        "user_data",
    ];
    if !mv.at_least(2, 57) {
        allowed.push("personality");
    }
    if mv.at_least(2, 52) {
        allowed.push("tags");
    }
    if mv.at_least(2, 19) {
        allowed.push("description");
    }
    if mv.at_least(2, 90) {
        allowed.push("hostname");
    }
    for key in s.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute server. Additional properties are not allowed ('{key}' was unexpected)"
            )));
        }
    }
    let mut req = CreateRequest {
        min_count: 1,
        max_count: 1,
        ..CreateRequest::default()
    };
    req.name =
        name(s.get("name").ok_or_else(|| {
            ApiError::bad_request("Invalid input: 'name' is a required property")
        })?)?;
    req.flavor_ref = flavor_ref(s.get("flavorRef").ok_or_else(|| {
        ApiError::bad_request("Invalid input: 'flavorRef' is a required property")
    })?)?;
    if let Some(v) = s.get("imageRef") {
        req.image_ref = image_id(v)?;
    }
    if let Some(v) = s.get("adminPass") {
        req.admin_pass = Some(string(v, "adminPass", 255)?);
    }
    if let Some(v) = s.get("metadata") {
        req.metadata = metadata(v)?;
    }
    req.networks = super::server_networks::parse_networks(s.get("networks"), mv)?;
    if let Some(v) = s.get("OS-DCF:diskConfig") {
        req.disk_config = Some(disk_config(v)?);
    }
    if let Some(v) = s.get("accessIPv4") {
        req.access_ip_v4 = Some(access_ip(v, "accessIPv4")?);
    }
    if let Some(v) = s.get("accessIPv6") {
        req.access_ip_v6 = Some(access_ip(v, "accessIPv6")?);
    }
    if let Some(v) = s.get("availability_zone") {
        let az = string(v, "availability_zone", 255)?;
        if !az.is_empty() && az != servers::DEFAULT_AZ {
            return Err(ApiError::bad_request(
                "The requested availability zone is not available",
            ));
        }
    }
    if let Some(v) = s.get("block_device_mapping_v2") {
        req.block_devices = block_devices(v)?;
    }
    if let Some(v) = s.get("config_drive") {
        req.config_drive = boolean(v, "config_drive")?;
    }
    if let Some(v) = s.get("key_name") {
        req.key_name = Some(string(v, "key_name", 255)?);
    }
    if let Some(v) = s.get("min_count") {
        req.min_count = count(v, "min_count")?;
    }
    if let Some(v) = s.get("max_count") {
        req.max_count = count(v, "max_count")?;
    } else {
        req.max_count = req.min_count;
    }
    // Even with unlimited quotas, one request never makes more rows and
    // build tasks than this.
    if req.max_count > MAX_COUNT {
        return Err(ApiError::bad_request(format!(
            "max_count may be at most {MAX_COUNT}"
        )));
    }
    if req.min_count > req.max_count {
        return Err(ApiError::bad_request("min_count must be <= max_count"));
    }
    if let Some(v) = s.get("return_reservation_id") {
        boolean(v, "return_reservation_id")?;
    }
    if let Some(v) = s.get("security_groups") {
        let groups = v
            .as_array()
            .ok_or_else(|| invalid("security_groups", format!("{v} is not of type 'array'")))?;
        for g in groups {
            let g = object(g, "security_groups")?;
            if g.get("name").and_then(Value::as_str) != Some("default") {
                return Err(ApiError::bad_request(
                    "Only the default security group can be given to a server's ports yet.",
                ));
            }
        }
    }
    if let Some(v) = s.get("user_data")
        && !v.is_null()
    {
        let text = string(v, "user_data", 65535)?;
        if decode_base64(&text).is_none() {
            return Err(ApiError::bad_request(
                "User data needs to be valid base 64.",
            ));
        }
        req.user_data = Some(text);
    }
    if let Some(v) = s.get("personality") {
        req.personality = personality(v)?;
    }
    if let Some(v) = s.get("description") {
        req.description = description(v)?;
    }
    if let Some(v) = s.get("hostname") {
        // From 2.94 the hostname may be a fully qualified name (nova's
        // `fqdn` parameter type, 255 characters).
        let max = if mv.at_least(2, 94) { 255 } else { 63 };
        let h = string(v, "hostname", max)?;
        if h.is_empty()
            || !h
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(invalid("hostname", format!("{v} is not a valid hostname")));
        }
        req.hostname = Some(h);
    }
    if let Some(v) = s.get("tags") {
        req.tags = super::server_tags::parse_tags(v)?;
    }
    req.group = super::server_groups::group_hint(top)?;
    Ok(req)
}

async fn server_create(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Extension(base): Extension<BaseUrl>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let req = parse_create(&body, mv)?;
    let return_reservation = body
        .pointer("/server/return_reservation_id")
        .map(|v| boolean(v, "return_reservation_id"))
        .transpose()?
        .unwrap_or(false);
    let created = servers::server_create(&svc, &ctx, req).await?;
    if return_reservation {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"reservation_id": created.reservation_id})),
        )
            .into_response());
    }
    let id = created.first.uuid.clone();
    let body = json!({"server": {
        "id": id,
        "links": base.links("servers", &id),
        "OS-DCF:diskConfig": created.first.disk_config,
        "security_groups": [{"name": "default"}],
        "adminPass": created.admin_pass,
    }});
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(location) =
        axum::http::HeaderValue::from_str(&base.versioned(&format!("servers/{id}")))
    {
        response.headers_mut().insert("location", location);
    }
    Ok(response)
}

/// Parses the listing query as nova's servers index does.
fn parse_list(query: Option<&str>, ctx: &RequestContext) -> Result<ListQuery, ApiError> {
    let pairs: Vec<(String, String)> = query.map(url_pairs).unwrap_or_default();
    let get = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let page = PageParams::parse(get("limit").as_deref(), get("marker").as_deref(), MAX_LIMIT)?;
    let mut q = ListQuery {
        limit: page.limit,
        marker: page.marker,
        filter: ListFilter::default(),
        ..ListQuery::default()
    };
    if let Some(v) = get("all_tenants") {
        q.all_tenants =
            v.is_empty() || matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on");
    }
    if ctx.is_admin() {
        q.project_id = get("project_id").or_else(|| get("tenant_id"));
        q.filter.user_id = get("user_id");
    }
    q.name = get("name").or_else(|| get("display_name"));
    q.ip = get("ip").or_else(|| get("ip6"));
    let statuses: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "status")
        .map(|(_, v)| v.clone())
        .collect();
    if !statuses.is_empty() {
        let mut states = Vec::new();
        for st in &statuses {
            match servers::vm_states_for_status(st) {
                Some(s) => states.extend(s),
                None => {
                    // nova: an unknown status matches nothing (admins) or is 400.
                    if ctx.is_admin() {
                        return Err(ApiError::bad_request(format!("Invalid status value: {st}")));
                    }
                    states.clear();
                    break;
                }
            }
        }
        if statuses.iter().any(|s| s.eq_ignore_ascii_case("deleted")) {
            q.filter.only_deleted = true;
            states.clear();
            states.push("deleted".into());
        }
        q.filter.vm_states = Some(states);
    }
    q.filter.image = get("image").map(|v| {
        v.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    });
    q.filter.flavor = get("flavor").map(|v| {
        v.trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    });
    q.filter.reservation_id = get("reservation_id");
    q.filter.key_name = get("key_name");
    if let Some(v) = get("changes-since") {
        q.filter.changes_since = Some(parse_time(&v, "changes-since")?);
        q.filter.include_deleted = true;
    }
    if let Some(v) = get("changes-before") {
        q.filter.changes_before = Some(parse_time(&v, "changes-before")?);
        q.filter.include_deleted = true;
    }
    if let (Some(a), Some(b)) = (q.filter.changes_since, q.filter.changes_before)
        && a > b
    {
        return Err(ApiError::bad_request(
            "The value of changes-since must be less than or equal to changes-before.",
        ));
    }
    if let Some(v) = get("deleted")
        && ctx.is_admin()
        && matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")
    {
        q.filter.only_deleted = true;
    }
    Ok(q)
}

pub(crate) fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_time(v: &str, field: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "Invalid input for query parameters {field}. Value: {v}. '{v}' is not a 'date-time'"
        ))
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(v, fmt) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    Err(bad())
}

fn list_links(
    base: &BaseUrl,
    path: &str,
    q: &ListQuery,
    page: &[crate::store::instances::Instance],
) -> Option<Value> {
    if page.len() < q.limit || page.is_empty() || q.limit == 0 {
        return None;
    }
    let last = &page[page.len() - 1].uuid;
    Some(json!([{
        "rel": "next",
        "href": format!("{}?limit={}&marker={last}", base.versioned(path), q.limit),
    }]))
}

async fn server_list(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Extension(base): Extension<BaseUrl>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut q = parse_list(query.as_deref(), &ctx)?;
    q.extras = super::server_tags::list_extras(&url_pairs(query.as_deref().unwrap_or("")), mv)?;
    let page = servers::server_list(&svc, &ctx, q.clone()).await?;
    let mut body = json!({
        "servers": page.iter().map(|i| views::server_brief(i, &base)).collect::<Vec<_>>(),
    });
    if let Some(links) = list_links(&base, "servers", &q, &page) {
        body["servers_links"] = links;
    }
    Ok(Json(body))
}

async fn server_detail(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Extension(base): Extension<BaseUrl>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut q = parse_list(query.as_deref(), &ctx)?;
    q.extras = super::server_tags::list_extras(&url_pairs(query.as_deref().unwrap_or("")), mv)?;
    let page = servers::server_list(&svc, &ctx, q.clone()).await?;
    let mut body = json!({
        "servers": page.iter().map(|i| views::server(i, mv, &ctx, &base, View::Detail)).collect::<Vec<_>>(),
    });
    if let Some(list) = body["servers"].as_array_mut() {
        super::volume_attachments::fill_volumes_attached(&svc, mv, list).await?;
        ports::fill_addresses(&svc, &ctx, list, true).await?;
    }
    if let Some(links) = list_links(&base, "servers/detail", &q, &page) {
        body["servers_links"] = links;
    }
    Ok(Json(body))
}

async fn server_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Extension(base): Extension<BaseUrl>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let i = servers::server_get(&svc, &ctx, &id).await?;
    let mut one = [views::server(&i, mv, &ctx, &base, View::Show)];
    super::volume_attachments::fill_volumes_attached(&svc, mv, &mut one).await?;
    ports::fill_addresses(&svc, &ctx, &mut one, true).await?;
    let [server] = one;
    Ok(Json(json!({ "server": server })))
}

async fn server_update(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Extension(base): Extension<BaseUrl>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let top = object(&body, "body")?;
    let s = object(
        top.get("server").ok_or_else(|| {
            ApiError::bad_request("Invalid input: 'server' is a required property")
        })?,
        "server",
    )?;
    let mut allowed = vec!["name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"];
    if mv.at_least(2, 19) {
        allowed.push("description");
    }
    if mv.at_least(2, 90) {
        allowed.push("hostname");
    }
    for key in s.keys() {
        if !allowed.contains(&key.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute server. Additional properties are not allowed ('{key}' was unexpected)"
            )));
        }
    }
    let mut req = UpdateRequest::default();
    if let Some(v) = s.get("name") {
        req.name = Some(name(v)?);
    }
    if let Some(v) = s.get("description") {
        req.description = Some(description(v)?);
    }
    if let Some(v) = s.get("hostname") {
        let max = if mv.at_least(2, 94) { 255 } else { 63 };
        req.hostname = Some(string(v, "hostname", max)?);
    }
    if let Some(v) = s.get("accessIPv4") {
        req.access_ip_v4 = Some(access_ip(v, "accessIPv4")?);
    }
    if let Some(v) = s.get("accessIPv6") {
        req.access_ip_v6 = Some(access_ip(v, "accessIPv6")?);
    }
    if let Some(v) = s.get("OS-DCF:diskConfig") {
        req.disk_config = Some(disk_config(v)?);
    }
    let i = servers::server_update(&svc, &ctx, &id, req).await?;
    let view = if mv.at_least(2, 75) {
        View::Show
    } else {
        View::Update
    };
    let mut one = [views::server(&i, mv, &ctx, &base, view)];
    ports::fill_addresses(&svc, &ctx, &mut one, view == View::Show).await?;
    let [server] = one;
    Ok(Json(json!({ "server": server })))
}

async fn server_delete(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    servers::server_delete(&svc, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_common::ApiVersion;

    fn mv(minor: u16) -> Microversion {
        Microversion(ApiVersion::new(2, minor))
    }

    #[test]
    fn access_addresses_are_stored_canonical_and_fqdn_hostnames_need_2_94() {
        let body = |server: Value| json!({"server": server});
        let req = parse_create(
            &body(json!({"name": "a", "flavorRef": "1", "imageRef": "x",
                "accessIPv4": "1.1.1.1",
                "accessIPv6": "0000:0000:0000:0000:0000:babe:220.12.22.2"})),
            mv(2),
        )
        .unwrap();
        assert_eq!(req.access_ip_v6.as_deref(), Some("::babe:dc0c:1602"));
        assert_eq!(req.access_ip_v4.as_deref(), Some("1.1.1.1"));
        assert_eq!(
            parse_create(
                &body(json!({"name": "a", "flavorRef": "1", "accessIPv6": "1.2.3.4"})),
                mv(2)
            )
            .unwrap_err()
            .status(),
            400
        );
        let fqdn = format!("{}.example.com", "h".repeat(70));
        let with_host = |v| {
            parse_create(
                &body(json!({"name": "a", "flavorRef": "1", "imageRef": "x",
                    "networks": "none", "hostname": fqdn})),
                mv(v),
            )
        };
        assert_eq!(with_host(90).unwrap_err().status(), 400);
        assert_eq!(
            with_host(94).unwrap().hostname.as_deref(),
            Some(fqdn.as_str())
        );
    }

    #[test]
    fn personality_is_refused_from_2_57() {
        let body = json!({"server": {"name": "a", "flavorRef": "1", "imageRef": "x",
            "networks": "none", "personality": [{"path": "/a", "contents": "aGk="}]}});
        assert_eq!(
            parse_create(&body, mv(56)).unwrap().personality[0].contents,
            b"hi"
        );
        assert_eq!(parse_create(&body, mv(57)).unwrap_err().status(), 400);
    }

    #[test]
    fn bad_input_is_400() {
        let ok =
            json!({"server": {"name": "a", "flavorRef": "1", "imageRef": "x", "networks": "auto"}});
        assert!(parse_create(&ok, mv(96)).is_ok());
        for bad in [
            json!({"server": {"name": "a", "flavorRef": "1", "imageRef": "x", "networks": "auto", "user_data": "!!"}}),
            json!({"server": {"name": " a", "flavorRef": "1", "networks": "auto"}}),
            json!({"server": {"name": "a", "flavorRef": "1"}}),
            json!({"server": {"name": "a", "flavorRef": "1", "networks": "auto", "bogus": 1}}),
            json!({"server": {"name": "a", "flavorRef": "1", "networks": "auto", "min_count": 3, "max_count": 2}}),
            json!({"server": {"name": "a", "flavorRef": "1", "networks": "auto", "user_data": "a".repeat(65536)}}),
            json!({"server": {"name": "a", "flavorRef": "1", "networks": "auto", "max_count": 100000}}),
        ] {
            assert_eq!(
                parse_create(&bad, mv(96)).unwrap_err().status(),
                400,
                "{bad}"
            );
        }
    }

    #[test]
    fn query_strings_decode() {
        assert_eq!(
            url_pairs("name=a%20b&status=ACTIVE&x"),
            vec![
                ("name".into(), "a b".into()),
                ("status".into(), "ACTIVE".into()),
                ("x".into(), String::new())
            ]
        );
        assert_eq!(decode("%zz%4"), "%zz%4");
    }
}
