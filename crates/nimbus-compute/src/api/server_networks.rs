//! The network part of the servers API: `networks` of a server create
//! (nova's schema and `_get_requested_networks`) and `/servers/{id}/ips`
//! (nova's os-server-ips).

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use nimbus_network::compute::{RequestedNetworks, RequestedNic, addresses};
use serde_json::{Value, json};

use super::Microversion;
use super::servers::{invalid, object};
use crate::app::ComputeService;
use crate::app::{ports, servers};

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/servers/{id}/ips", get(ips_index))
        .route("/servers/{id}/ips/{network}", get(ips_show))
}

/// nova's `uuid` format check (`uuidutils.is_uuid_like`).
fn uuid_like(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// Whether `tag` is accepted on a NIC at `mv` (2.32 to 2.36, and from 2.42).
fn tags_allowed(mv: Microversion) -> bool {
    (mv.at_least(2, 32) && !mv.at_least(2, 37)) || mv.at_least(2, 42)
}

fn nic(item: &Value, mv: Microversion) -> Result<RequestedNic, ApiError> {
    let item = object(item, "networks")?;
    for key in item.keys() {
        let known = matches!(key.as_str(), "fixed_ip" | "port" | "uuid")
            || (key == "tag" && tags_allowed(mv));
        if !known {
            return Err(invalid(
                "networks",
                format!("Additional properties are not allowed ('{key}' was unexpected)"),
            ));
        }
    }
    if let Some(tag) = item.get("tag") {
        // Device tags reach the guest through the metadata's `devices`,
        // which Nimbus does not publish yet: checked, then not kept.
        let t = tag
            .as_str()
            .ok_or_else(|| invalid("tag", format!("{tag} is not of type 'string'")))?;
        if t.is_empty() || t.chars().count() > 60 || t.contains(['/', ',']) {
            return Err(invalid("tag", format!("{tag} does not match '^[^,/]*$'")));
        }
    }
    let fixed_ip = match item.get("fixed_ip") {
        None => None,
        Some(v) => {
            let text = v
                .as_str()
                .ok_or_else(|| invalid("fixed_ip", format!("{v} is not of type 'string'")))?;
            Some(
                text.parse::<std::net::IpAddr>()
                    .map_err(|_| invalid("fixed_ip", format!("'{text}' is not a 'ip-address'")))?,
            )
        }
    };
    let port_id = match item.get("port") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if uuid_like(p) => Some(p.to_ascii_lowercase()),
        Some(v) => return Err(invalid("port", format!("{v} is not a 'uuid'"))),
    };
    if let Some(port) = &port_id {
        if let Some(ip) = fixed_ip {
            return Err(ApiError::bad_request(format!(
                "Specified Fixed IP '{ip}' cannot be used with port '{port}': the two cannot be \
                 specified together."
            )));
        }
        return Ok(RequestedNic {
            port_id: Some(port.clone()),
            ..Default::default()
        });
    }
    let network_id = match item.get("uuid") {
        None => return Err(ApiError::bad_request("Bad network format: missing 'uuid'")),
        Some(Value::String(u)) if uuid_like(u) => u.to_ascii_lowercase(),
        Some(Value::String(u)) => {
            return Err(ApiError::bad_request(format!(
                "Bad networks format: network uuid is not in proper format ({u})"
            )));
        }
        Some(v) => return Err(invalid("uuid", format!("{v} is not of type 'string'"))),
    };
    Ok(RequestedNic {
        network_id: Some(network_id),
        fixed_ip,
        port_id: None,
    })
}

/// `networks` of a server create at `mv`: a list of NICs, or (from 2.37,
/// where it is required) `"auto"` / `"none"`. Absent or an empty list is
/// `auto`, as nova. The same network may appear twice (one port each).
pub fn parse_networks(v: Option<&Value>, mv: Microversion) -> Result<RequestedNetworks, ApiError> {
    match v {
        None if mv.at_least(2, 37) => Err(ApiError::bad_request(
            "Invalid input: 'networks' is a required property",
        )),
        None => Ok(RequestedNetworks::Auto),
        Some(Value::String(s)) if mv.at_least(2, 37) && s == "auto" => Ok(RequestedNetworks::Auto),
        Some(Value::String(s)) if mv.at_least(2, 37) && s == "none" => Ok(RequestedNetworks::None),
        Some(Value::Array(list)) if list.is_empty() => Ok(RequestedNetworks::Auto),
        Some(Value::Array(list)) => Ok(RequestedNetworks::List(
            list.iter()
                .map(|item| nic(item, mv))
                .collect::<Result<_, _>>()?,
        )),
        Some(other) => Err(invalid("networks", format!("{other} is not valid"))),
    }
}

async fn ips_index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !ctx.can_read() {
        return Err(ApiError::policy("os_compute_api:ips:index"));
    }
    let i = servers::server_get(&svc, &ctx, &id).await?;
    let vifs = ports::api_vifs(&svc, &ctx, &i.uuid).await?;
    Ok(Json(json!({"addresses": addresses(&vifs, false)})))
}

async fn ips_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path((id, network)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    if !ctx.can_read() {
        return Err(ApiError::policy("os_compute_api:ips:show"));
    }
    let i = servers::server_get(&svc, &ctx, &id).await?;
    let vifs = ports::api_vifs(&svc, &ctx, &i.uuid).await?;
    let all = addresses(&vifs, false);
    match all.get(&network) {
        Some(list) => Ok(Json(json!({ network: list }))),
        None => Err(ApiError::not_found(
            "Instance is not a member of specified network",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(minor: u16) -> Microversion {
        Microversion(nimbus_common::ApiVersion::new(2, minor))
    }

    const NET: &str = "3c8a5b1e-0000-4000-8000-000000000001";
    const PORT: &str = "3c8a5b1e-0000-4000-8000-000000000002";

    #[test]
    fn networks_parse_as_nova() {
        assert_eq!(
            parse_networks(None, mv(1)).unwrap(),
            RequestedNetworks::Auto
        );
        assert_eq!(parse_networks(None, mv(37)).unwrap_err().status(), 400);
        assert_eq!(
            parse_networks(Some(&json!("none")), mv(37)).unwrap(),
            RequestedNetworks::None
        );
        assert_eq!(
            parse_networks(Some(&json!("auto")), mv(1))
                .unwrap_err()
                .status(),
            400
        );
        let list = parse_networks(
            Some(&json!([{"uuid": NET, "fixed_ip": "10.0.0.50"}, {"port": PORT}, {"uuid": NET}])),
            mv(37),
        )
        .unwrap();
        let RequestedNetworks::List(nics) = list else {
            panic!("a list")
        };
        assert_eq!(nics.len(), 3);
        assert_eq!(nics[0].fixed_ip, Some("10.0.0.50".parse().unwrap()));
        assert_eq!(nics[1].port_id.as_deref(), Some(PORT));
        assert_eq!(nics[1].network_id, None);
        for bad in [
            json!([{"uuid": "not-a-uuid"}]),
            json!([{"fixed_ip": "10.0.0.5"}]),
            json!([{"uuid": NET, "fixed_ip": "10.0.0.999"}]),
            json!([{"port": PORT, "fixed_ip": "10.0.0.5"}]),
            json!([{"port": "x"}]),
            json!([{"uuid": NET, "bogus": 1}]),
            json!([{"uuid": NET, "tag": "a/b"}]),
            json!(["x"]),
            json!(7),
        ] {
            assert_eq!(
                parse_networks(Some(&bad), mv(90)).unwrap_err().status(),
                400,
                "{bad}"
            );
        }
        // Tags: 2.32-2.36 and from 2.42.
        let tagged = json!([{"uuid": NET, "tag": "nic1"}]);
        assert!(parse_networks(Some(&tagged), mv(32)).is_ok());
        assert!(parse_networks(Some(&tagged), mv(40)).is_err());
        assert!(parse_networks(Some(&tagged), mv(42)).is_ok());
        assert!(parse_networks(Some(&tagged), mv(31)).is_err());
    }
}
