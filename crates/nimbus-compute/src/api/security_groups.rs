//! Nova's security group proxy (`os-security-groups`,
//! `os-security-group-rules`, `/servers/{id}/os-security-groups` and the
//! `addSecurityGroup`/`removeSecurityGroup` actions; nova's
//! `security_groups.py` over its neutron `security_group_api`). The groups
//! live in the network service; this module only translates shapes and
//! errors. The proxies exist below microversion 2.36 only.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use nimbus_common::error::ErrorKind;
use nimbus_common::{ApiError, Json, RequestContext};
use nimbus_network::app::input::Attrs;
use nimbus_network::app::model::{SecurityGroup, SecurityGroupRule};
use serde_json::{Map, Value, json};

use super::{Microversion, require_proxy};
use crate::app::ComputeService;
use crate::app::servers::server_get;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/os-security-groups", get(index).post(create))
        .route(
            "/os-security-groups/{id}",
            get(show).put(update).delete(destroy),
        )
        .route("/os-security-group-rules", post(rule_create))
        .route("/os-security-group-rules/{id}", delete(rule_delete))
        .route("/servers/{id}/os-security-groups", get(server_groups))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Security group {id} not found."))
}

/// nova's `validate_id`: neutron's ids are uuids.
fn validate_id(id: &str) -> Result<(), ApiError> {
    if uuid::Uuid::try_parse(id).is_ok() {
        Ok(())
    } else {
        Err(ApiError::bad_request("Security group id should be uuid"))
    }
}

/// The network service's "not found" becomes nova's; other errors keep
/// their status (policy, quota) but bad input and conflicts follow nova's
/// mapping given by `conflict`.
fn map_err(err: ApiError, id: &str, conflict: StatusCode) -> ApiError {
    match err.kind() {
        ErrorKind::NotFound => not_found(id),
        ErrorKind::BadRequest => ApiError::bad_request(err.message().to_string()),
        ErrorKind::Conflict if conflict == StatusCode::FORBIDDEN => {
            ApiError::forbidden(err.message().to_string())
        }
        ErrorKind::Conflict if conflict == StatusCode::BAD_REQUEST => {
            ApiError::bad_request(err.message().to_string())
        }
        _ => err,
    }
}

async fn group_json(svc: &ComputeService, ctx: &RequestContext, g: &SecurityGroup) -> Value {
    let mut rules = Vec::new();
    for r in g.rules.iter().filter(|r| r.direction == "ingress") {
        if let Some(v) = rule_json(svc, ctx, r).await {
            rules.push(v);
        }
    }
    json!({
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "tenant_id": g.project_id,
        "rules": rules,
    })
}

/// nova's `_format_security_group_rule`; `None` when the remote group is
/// gone (nova leaves such a rule out).
async fn rule_json(
    svc: &ComputeService,
    ctx: &RequestContext,
    r: &SecurityGroupRule,
) -> Option<Value> {
    let (from, to) = match (&r.protocol, r.port_range_min, r.port_range_max) {
        (Some(p), None, None) if p == "tcp" || p == "udp" => (json!(1), json!(65535)),
        (Some(_), None, None) => (json!(-1), json!(-1)),
        (_, lo, hi) => (json!(lo), json!(hi)),
    };
    let (group, ip_range) = match &r.remote_group_id {
        Some(gid) => {
            let g = svc.network().security_group_visible(ctx, gid).await.ok()?;
            (
                json!({"name": g.name, "tenant_id": g.project_id}),
                json!({}),
            )
        }
        None => (
            json!({}),
            json!({"cidr": r.remote_ip_prefix.as_deref().unwrap_or("0.0.0.0/0")}),
        ),
    };
    Some(json!({
        "id": r.id,
        "parent_group_id": r.security_group_id,
        "ip_protocol": r.protocol,
        "from_port": from,
        "to_port": to,
        "group": group,
        "ip_range": ip_range,
    }))
}

fn body_of<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>, ApiError> {
    body.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::bad_request(format!("Missing parameter {key}")))
}

/// nova's `validate_property`: a string of at most 255 characters.
fn property(map: &Map<String, Value>, name: &str) -> Result<String, ApiError> {
    match map.get(name) {
        Some(Value::String(s)) if s.chars().count() <= 255 => Ok(s.clone()),
        Some(Value::String(_)) => Err(ApiError::bad_request(format!(
            "{name} has a maximum of 255 characters."
        ))),
        _ => Err(ApiError::bad_request(format!(
            "{name} is not a string or unicode"
        ))),
    }
}

async fn index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let all = ctx.is_admin() && q.iter().any(|(k, _)| k == "all_tenants");
    let groups = svc.network().security_group_list(&ctx).await?;
    let mut out = Vec::new();
    for g in groups
        .iter()
        .filter(|g| all || ctx.project_id.as_deref() == Some(g.project_id.as_str()))
    {
        out.push(group_json(&svc, &ctx, g).await);
    }
    Ok(Json(json!({"security_groups": out})))
}

async fn show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    validate_id(&id)?;
    let g = svc
        .network()
        .security_group_visible(&ctx, &id)
        .await
        .map_err(|e| map_err(e, &id, StatusCode::BAD_REQUEST))?;
    Ok(Json(
        json!({"security_group": group_json(&svc, &ctx, &g).await}),
    ))
}

/// The `name` and `description` a create or update must both carry
/// (nova's schema), as the network service's attributes.
fn group_attrs(body: &Value) -> Result<Attrs, ApiError> {
    let map = body_of(body, "security_group")?;
    let mut attrs = Map::new();
    attrs.insert("name".into(), json!(property(map, "name")?));
    attrs.insert("description".into(), json!(property(map, "description")?));
    Ok(Attrs::from_map(attrs))
}

async fn create(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let attrs = group_attrs(&body)?;
    let g = svc
        .network()
        .security_group_create(&ctx, attrs)
        .await
        .map_err(|e| map_err(e, "", StatusCode::FORBIDDEN))?;
    Ok(Json(
        json!({"security_group": group_json(&svc, &ctx, &g).await}),
    ))
}

async fn update(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    validate_id(&id)?;
    let attrs = group_attrs(&body)?;
    let g = svc
        .network()
        .security_group_update(&ctx, &id, attrs)
        .await
        .map_err(|e| map_err(e, &id, StatusCode::BAD_REQUEST))?;
    Ok(Json(
        json!({"security_group": group_json(&svc, &ctx, &g).await}),
    ))
}

async fn destroy(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_proxy(mv)?;
    validate_id(&id)?;
    // nova's `destroy`: neutron's 409 (in use, the default group) is a 400.
    svc.network()
        .security_group_delete(&ctx, &id)
        .await
        .map_err(|e| map_err(e, &id, StatusCode::BAD_REQUEST))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// A port value of a rule: an integer or a string of one.
fn port_value(v: Option<&Value>, icmp: bool) -> Result<Option<i64>, ApiError> {
    let bad = || {
        ApiError::bad_request(if icmp {
            "Type and Code must be integers for ICMP protocol type"
        } else {
            "To and From ports must be integers"
        })
    };
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(bad),
        Some(Value::String(s)) => s.trim().parse::<i64>().map(Some).map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// nova's `_new_ingress_rule` checks, then neutron's attributes.
fn rule_attrs(map: &Map<String, Value>, parent: &str) -> Result<Map<String, Value>, ApiError> {
    let group_id = match map.get("group_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            validate_id(s)?;
            Some(s.clone())
        }
        Some(_) => return Err(ApiError::bad_request("Security group id should be uuid")),
    };
    let cidr = match (&group_id, map.get("cidr")) {
        (Some(_), _) => None,
        (None, None | Some(Value::Null)) => Some("0.0.0.0/0".to_string()),
        (None, Some(Value::String(s))) if s.is_empty() => Some("0.0.0.0/0".to_string()),
        (None, Some(Value::String(s))) => Some(s.clone()),
        (None, Some(other)) => {
            return Err(ApiError::bad_request(format!("Invalid cidr {other}.")));
        }
    };
    let protocol = match map.get("ip_protocol") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let icmp = protocol
        .as_deref()
        .is_some_and(|p| p.eq_ignore_ascii_case("icmp"));
    let from = port_value(map.get("from_port"), icmp)?;
    let to = port_value(map.get("to_port"), icmp)?;
    let mut out = Map::new();
    out.insert("security_group_id".into(), json!(parent));
    out.insert("direction".into(), json!("ingress"));
    match (&protocol, from, to) {
        (Some(p), Some(from), Some(to)) => {
            let upper = p.to_ascii_uppercase();
            if !["TCP", "UDP", "ICMP"].contains(&upper.as_str()) {
                return Err(ApiError::bad_request(format!("Invalid IP protocol {p}.")));
            }
            let range =
                |msg: &str| ApiError::bad_request(format!("Invalid port range {from}:{to}. {msg}"));
            if upper != "ICMP" && from > to {
                return Err(range("Former value cannot be greater than the later"));
            }
            if upper != "ICMP" && (from < 1 || to > 65535) {
                return Err(range(&format!(
                    "Valid {upper} ports should be between 1-65535"
                )));
            }
            if upper == "ICMP" && !((-1..=255).contains(&from) && (-1..=255).contains(&to)) {
                return Err(range("For ICMP, the type:code must be valid"));
            }
            out.insert("protocol".into(), json!(p.to_ascii_lowercase()));
            if from != -1 {
                out.insert("port_range_min".into(), json!(from));
            }
            if to != -1 {
                out.insert("port_range_max".into(), json!(to));
            }
        }
        // A cidr rule needs its protocol and ports.
        _ if group_id.is_none() => {
            return Err(ApiError::bad_request(
                "Not enough parameters to build a valid rule.",
            ));
        }
        _ => {}
    }
    if let Some(c) = cidr {
        let (net, prefix) = c.split_once('/').unwrap_or((c.as_str(), ""));
        if prefix == "0" && net != "0.0.0.0" && net != "::" {
            return Err(ApiError::bad_request(format!(
                "Bad prefix for network in cidr {c}"
            )));
        }
        let version6 = net.contains(':');
        out.insert(
            "ethertype".into(),
            json!(if version6 { "IPv6" } else { "IPv4" }),
        );
        out.insert("remote_ip_prefix".into(), json!(c));
    } else {
        out.insert("ethertype".into(), json!("IPv4"));
    }
    if let Some(g) = group_id {
        out.insert("remote_group_id".into(), json!(g));
    }
    Ok(out)
}

async fn rule_create(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let map = body_of(&body, "security_group_rule")?;
    let parent = match map.get("parent_group_id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(ApiError::bad_request("Security group id should be uuid")),
    };
    validate_id(&parent)?;
    let group = svc
        .network()
        .security_group_visible(&ctx, &parent)
        .await
        .map_err(|e| map_err(e, &parent, StatusCode::BAD_REQUEST))?;
    let attrs = rule_attrs(map, &group.id)?;
    if let Some(Value::String(g)) = attrs.get("remote_group_id") {
        svc.network()
            .security_group_visible(&ctx, g)
            .await
            .map_err(|e| map_err(e, g, StatusCode::BAD_REQUEST))?;
    }
    // nova's `_rule_exists` answers 400 before neutron's 409.
    let same = |r: &SecurityGroupRule| {
        r.direction == "ingress"
            && r.protocol.as_ref().map(|p| json!(p)) == attrs.get("protocol").cloned()
            && r.port_range_min.map(|p| json!(p)) == attrs.get("port_range_min").cloned()
            && r.port_range_max.map(|p| json!(p)) == attrs.get("port_range_max").cloned()
            && r.remote_group_id.as_ref().map(|p| json!(p)) == attrs.get("remote_group_id").cloned()
            && r.remote_ip_prefix.as_ref().map(|p| json!(p))
                == attrs.get("remote_ip_prefix").cloned()
    };
    if group.rules.iter().any(same) {
        return Err(ApiError::bad_request(format!(
            "This rule already exists in group {parent}"
        )));
    }
    let rule = svc
        .network()
        .security_group_rule_create(&ctx, Attrs::from_map(attrs))
        .await
        .map_err(|e| map_err(e, &parent, StatusCode::FORBIDDEN))?;
    let view = rule_json(&svc, &ctx, &rule)
        .await
        .ok_or_else(|| not_found(&parent))?;
    Ok(Json(json!({"security_group_rule": view})))
}

async fn rule_delete(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_proxy(mv)?;
    validate_id(&id)?;
    svc.network()
        .security_group_rule_delete(&ctx, &id)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => {
                ApiError::not_found(format!("Security group rule {id} could not be found."))
            }
            _ => e,
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// The server's ports (those the network service holds for it).
async fn server_ports(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<Vec<nimbus_network::app::model::Port>, ApiError> {
    let instance = server_get(svc, ctx, id).await?;
    svc.network()
        .port_list(ctx, None, Some(&instance.uuid), None)
        .await
}

async fn server_groups(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ports = server_ports(&svc, &ctx, &id).await?;
    let mut ids: Vec<&String> = Vec::new();
    for sg in ports.iter().flat_map(|p| &p.security_groups) {
        if !ids.contains(&sg) {
            ids.push(sg);
        }
    }
    let mut out = Vec::new();
    for sg in ids {
        if let Ok(g) = svc.network().security_group_visible(&ctx, sg).await {
            out.push(group_json(&svc, &ctx, &g).await);
        }
    }
    Ok(Json(json!({"security_groups": out})))
}

/// The group `name` names for the caller: a name of one of the project's
/// groups or a group id (nova's `_get_security_group_id`/neutron's
/// name-or-id lookup).
async fn group_by_name(
    svc: &ComputeService,
    ctx: &RequestContext,
    project: &str,
    name: &str,
) -> Result<SecurityGroup, ApiError> {
    let groups = svc.network().security_group_list(ctx).await?;
    let named: Vec<&SecurityGroup> = groups
        .iter()
        .filter(|g| g.name == name && g.project_id == project)
        .collect();
    match named.as_slice() {
        [one] => return Ok((*one).clone()),
        [] => {}
        _ => {
            return Err(ApiError::conflict(format!(
                "Multiple security_group matches found for name '{name}', use an ID to be more specific."
            )));
        }
    }
    groups.into_iter().find(|g| g.id == name).ok_or_else(|| {
        ApiError::not_found(format!(
            "Security group {name} not found for project {project}."
        ))
    })
}

fn action_name(args: &Value, action: &str) -> Result<String, ApiError> {
    match args.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(ApiError::bad_request(format!(
            "Missing parameter name in {action}"
        ))),
    }
}

/// `addSecurityGroup` / `removeSecurityGroup`: the group goes on (or off)
/// every port of the server. `add` says which.
pub async fn server_group_action(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    args: &Value,
    add: bool,
) -> Result<Response, ApiError> {
    let action = if add {
        "addSecurityGroup"
    } else {
        "removeSecurityGroup"
    };
    let name = action_name(args, action)?;
    let instance = server_get(svc, ctx, id).await?;
    let project = instance.project_id.clone();
    let group = group_by_name(svc, ctx, &project, &name).await?;
    let ports = svc
        .network()
        .port_list(ctx, None, Some(&instance.uuid), None)
        .await?;
    if ports.is_empty() {
        return Err(ApiError::bad_request(
            "Network requires port_security_enabled and subnet associated in order to apply security groups.",
        ));
    }
    let has = ports.iter().any(|p| p.security_groups.contains(&group.id));
    if add && has {
        return Err(ApiError::bad_request(format!(
            "Security group {name} is already associated with the instance {id}"
        )));
    }
    if !add && !has {
        return Err(ApiError::bad_request(format!(
            "Security group {name} not associated with the instance {id}"
        )));
    }
    if add && ports.iter().any(|p| !p.port_security_enabled) {
        return Err(ApiError::bad_request(
            "Network requires port_security_enabled and subnet associated in order to apply security groups.",
        ));
    }
    for port in &ports {
        let mut groups = port.security_groups.clone();
        if add {
            groups.push(group.id.clone());
        } else {
            groups.retain(|g| g != &group.id);
        }
        let mut attrs = Map::new();
        attrs.insert("security_groups".into(), json!(groups));
        svc.network()
            .port_update(ctx, &port.id, Attrs::from_map(attrs))
            .await?;
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_rules_need_protocol_and_ports() {
        let parent = "5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0001";
        let m = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert!(rule_attrs(&m(json!({"cidr": "10.0.0.0/8"})), parent).is_err());
        let a = rule_attrs(
            &m(json!({"ip_protocol": "ICMP", "from_port": -1, "to_port": -1})),
            parent,
        )
        .unwrap();
        assert_eq!(a["protocol"], "icmp");
        assert!(!a.contains_key("port_range_min"));
        assert_eq!(a["remote_ip_prefix"], "0.0.0.0/0");
        let a = rule_attrs(
            &m(json!({"ip_protocol": "tcp", "from_port": "22", "to_port": 22, "cidr": "::/0"})),
            parent,
        )
        .unwrap();
        assert_eq!(a["ethertype"], "IPv6");
        assert_eq!(a["port_range_min"], 22);
        for bad in [
            json!({"ip_protocol": "tcp", "from_port": 23, "to_port": 22}),
            json!({"ip_protocol": "tcp", "from_port": 0, "to_port": 22}),
            json!({"ip_protocol": "icmp", "from_port": 256, "to_port": 0}),
            json!({"ip_protocol": "gre", "from_port": 1, "to_port": 2}),
            json!({"ip_protocol": "tcp", "from_port": "x", "to_port": 2}),
            json!({"ip_protocol": "tcp", "from_port": 1, "to_port": 2, "cidr": "10.0.0.0/0"}),
        ] {
            assert!(rule_attrs(&m(bad.clone()), parent).is_err(), "{bad}");
        }
    }
}
