//! Nova's floating IP proxy (`os-floating-ips` below 2.36, nova's
//! `floating_ips.py`) and the `addFloatingIp`/`removeFloatingIp` server
//! actions (below 2.44). The addresses live in the network service; this
//! module translates shapes and errors.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nimbus_common::error::ErrorKind;
use nimbus_common::{ApiError, Json, RequestContext};
use nimbus_network::app::input::Attrs;
use nimbus_network::app::model::FloatingIp;
use serde_json::{Map, Value, json};

use super::Microversion;
use super::require_proxy;
use crate::app::ComputeService;
use crate::app::servers::server_get;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/os-floating-ips", get(index).post(create))
        .route("/os-floating-ips/{id}", get(show).delete(destroy))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Floating IP not found for ID {id}"))
}

/// nova's `_translate_floating_ip_view`.
async fn view(svc: &ComputeService, ctx: &RequestContext, f: &FloatingIp) -> Value {
    let pool = match svc
        .network()
        .network_visible(ctx, &f.floating_network_id)
        .await
    {
        Ok(n) if !n.name.is_empty() => n.name,
        _ => f.floating_network_id.clone(),
    };
    let mut instance_id = Value::Null;
    if let Some(pid) = &f.port_id
        && let Ok(port) = svc.network().port_visible(ctx, pid).await
    {
        instance_id = json!(port.device_id);
    }
    json!({
        "id": f.id,
        "ip": f.floating_ip_address,
        "pool": pool,
        "fixed_ip": f.fixed_ip_address,
        "instance_id": instance_id,
    })
}

async fn visible(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<FloatingIp, ApiError> {
    svc.network()
        .floatingip_visible(ctx, id)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => not_found(id),
            _ => e,
        })
}

async fn index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let fips = svc.network().floatingip_list(&ctx).await?;
    let mut out = Vec::new();
    // nova lists the caller's project only.
    for f in fips
        .iter()
        .filter(|f| ctx.project_id.as_deref() == Some(f.project_id.as_str()))
    {
        out.push(view(&svc, &ctx, f).await);
    }
    Ok(Json(json!({"floating_ips": out})))
}

async fn show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let f = visible(&svc, &ctx, &id).await?;
    Ok(Json(json!({"floating_ip": view(&svc, &ctx, &f).await})))
}

/// The pool (an external network) named `pool` by name or id; without a
/// name the only external network there is.
async fn pool_network(
    svc: &ComputeService,
    ctx: &RequestContext,
    pool: Option<&str>,
) -> Result<String, ApiError> {
    let nets = svc.network().network_list(ctx).await?;
    let external: Vec<_> = nets.iter().filter(|n| n.external).collect();
    let found: Vec<_> = match pool {
        Some(p) => external
            .iter()
            .filter(|n| n.id == p || n.name == p)
            .collect(),
        None => external.iter().collect(),
    };
    match found.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(ApiError::not_found("Floating IP pool not found.")),
        _ => Err(ApiError::bad_request(
            "Multiple floating IP pools matches found for name, use an ID to be more specific.",
        )),
    }
}

async fn create(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    // The body is optional (nova allocates from the default pool).
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| ApiError::bad_request("Malformed request body"))?
    };
    let pool = match body.get("pool") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute pool. Value: {other}."
            )));
        }
    };
    let network_id = pool_network(&svc, &ctx, pool.as_deref()).await?;
    let mut attrs = Map::new();
    attrs.insert("floating_network_id".into(), json!(network_id));
    let f = svc
        .network()
        .floatingip_create(&ctx, Attrs::from_map(attrs))
        .await
        .map_err(|e| match e.kind() {
            // neutron's OverQuota and IpAddressGenerationFailure (both 409)
            // are nova's FloatingIpLimitExceeded (403) and NoMoreFloatingIps
            // (404).
            ErrorKind::Conflict | ErrorKind::OverLimit
                if e.message().to_ascii_lowercase().contains("quota") =>
            {
                ApiError::forbidden(match &pool {
                    Some(p) => format!("IP allocation over quota in pool {p}."),
                    None => "IP allocation over quota.".to_string(),
                })
            }
            ErrorKind::Conflict => ApiError::not_found(match &pool {
                Some(p) => format!("No more floating IPs in pool {p}."),
                None => "No more floating IPs available.".to_string(),
            }),
            _ => e,
        })?;
    Ok(Json(json!({"floating_ip": view(&svc, &ctx, &f).await})))
}

async fn destroy(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_proxy(mv)?;
    visible(&svc, &ctx, &id).await?;
    svc.network()
        .floatingip_delete(&ctx, &id)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => not_found(&id),
            _ => e,
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

fn address_arg(args: &Value, key: &str, action: &str) -> Result<Option<String>, ApiError> {
    match args.get(key) {
        None => Ok(None),
        Some(Value::String(s)) if s.parse::<std::net::IpAddr>().is_ok() => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {other}. {other} is not a valid IP address ({action})"
        ))),
    }
}

/// The caller's floating IP with `address`.
async fn by_address(
    svc: &ComputeService,
    ctx: &RequestContext,
    address: &str,
) -> Result<FloatingIp, ApiError> {
    svc.network()
        .floatingip_list(ctx)
        .await?
        .into_iter()
        .find(|f| f.floating_ip_address == address)
        .ok_or_else(|| ApiError::not_found("floating IP not found"))
}

/// `addFloatingIp` (nova's `FloatingIPActionController._add_floating_ip`).
pub async fn add_action(
    svc: &ComputeService,
    ctx: &RequestContext,
    mv: Microversion,
    id: &str,
    args: &Value,
) -> Result<Response, ApiError> {
    require_before_2_44(mv)?;
    if !args.is_object() {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute addFloatingIp.",
        ));
    }
    let address = address_arg(args, "address", "addFloatingIp")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute addFloatingIp. 'address' is a required property",
        )
    })?;
    let fixed = address_arg(args, "fixed_address", "addFloatingIp")?;
    let instance = server_get(svc, ctx, id).await?;
    let ports = svc
        .network()
        .port_list(ctx, None, Some(&instance.uuid), None)
        .await?;
    let fixed_ips: Vec<(&str, &str)> = ports
        .iter()
        .flat_map(|p| {
            p.fixed_ips
                .iter()
                .map(move |f| (p.id.as_str(), f.ip_address.as_str()))
        })
        .collect();
    if fixed_ips.is_empty() {
        return Err(ApiError::bad_request("No fixed IPs associated to instance"));
    }
    let (port_id, fixed) = match fixed {
        Some(want) => *fixed_ips
            .iter()
            .find(|(_, ip)| *ip == want)
            .ok_or_else(|| {
                ApiError::bad_request("Specified fixed address not assigned to instance")
            })?,
        None => *fixed_ips
            .iter()
            .find(|(_, ip)| ip.parse::<std::net::Ipv4Addr>().is_ok())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Unable to associate floating IP {address} to any fixed IPs for instance {id}. Instance has no fixed IPv4 addresses to associate."
                ))
            })?,
    };
    let fip = by_address(svc, ctx, &address).await?;
    let mut attrs = Map::new();
    attrs.insert("port_id".into(), json!(port_id));
    attrs.insert("fixed_ip_address".into(), json!(fixed));
    svc.network()
        .floatingip_update(ctx, &fip.id, Attrs::from_map(attrs))
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::Forbidden | ErrorKind::NotFound => e,
            _ => ApiError::bad_request(format!(
                "Unable to associate floating IP {address} to fixed IP {fixed} for instance {id}. Error: {}",
                e.message()
            )),
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `removeFloatingIp`: 409 when the address is not on this server.
pub async fn remove_action(
    svc: &ComputeService,
    ctx: &RequestContext,
    mv: Microversion,
    id: &str,
    args: &Value,
) -> Result<Response, ApiError> {
    require_before_2_44(mv)?;
    let address = address_arg(args, "address", "removeFloatingIp")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute removeFloatingIp. 'address' is a required property",
        )
    })?;
    let instance = server_get(svc, ctx, id).await?;
    let fip = by_address(svc, ctx, &address).await?;
    let mut on_instance = false;
    if let Some(pid) = &fip.port_id
        && let Ok(port) = svc.network().port_visible(ctx, pid).await
    {
        on_instance = port.device_id == instance.uuid;
    }
    if !on_instance {
        return Err(ApiError::conflict(format!(
            "Floating IP {address} is not associated with instance {id}."
        )));
    }
    let mut attrs = Map::new();
    attrs.insert("port_id".into(), Value::Null);
    svc.network()
        .floatingip_update(ctx, &fip.id, Attrs::from_map(attrs))
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// The floating IP actions are gone from 2.44 (nova: 404).
fn require_before_2_44(mv: Microversion) -> Result<(), ApiError> {
    if mv.at_least(2, 44) {
        Err(ApiError::not_found("The resource could not be found."))
    } else {
        Ok(())
    }
}
