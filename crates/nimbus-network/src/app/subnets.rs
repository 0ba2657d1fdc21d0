//! Subnets: CIDR, gateway, allocation pools, DNS, host routes, IPv6 modes,
//! validated as neutron's `db_base_plugin_v2` and `ipam` do.

use std::net::IpAddr;

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;
use serde_json::{Map, Value};

use super::input::Attrs;
use super::model::{AllocationPool, HostRoute, Subnet, owner};
use super::{NetworkService, new_id, require_read, require_write, scope};
use crate::error::{
    bad_request, bad_resource_request, conflict, invalid_attr, invalid_input, policy,
    subnet_not_found,
};
use crate::ipam::{self, Cidr, PoolError};
use crate::store;

const IPV6_MODES: [&str; 3] = ["slaac", "dhcpv6-stateful", "dhcpv6-stateless"];

fn pool_error(cidr: &Cidr, gateway: Option<IpAddr>, e: PoolError) -> ApiError {
    match e {
        PoolError::Invalid(p) => bad_request_typed(
            "InvalidAllocationPool",
            format!("The allocation pool {p} is not valid."),
        ),
        PoolError::OutOfBounds(p) => bad_request_typed(
            "OutOfBoundsAllocationPool",
            format!("The allocation pool {p} spans beyond the subnet cidr {cidr}."),
        ),
        PoolError::Overlapping(a, b) => conflict(
            "OverlappingAllocationPools",
            format!("Found overlapping allocation pools: {a} and {b} for subnet {cidr}."),
        ),
        PoolError::GatewayConflict(p) => conflict(
            "GatewayConflictWithAllocationPools",
            format!(
                "Gateway ip {} conflicts with allocation pool {p}.",
                gateway.map(|g| g.to_string()).unwrap_or_default()
            ),
        ),
    }
}

fn bad_request_typed(ty: &str, message: String) -> ApiError {
    crate::error::neutron(nimbus_common::error::ErrorKind::BadRequest, ty, message)
}

fn parse_ip_attr(attr: &str, text: &str) -> Result<IpAddr, ApiError> {
    ipam::parse_ip(text)
        .ok_or_else(|| invalid_attr(attr, format!("'{text}' is not a valid IP address")))
}

fn parse_pools(items: Vec<Map<String, Value>>) -> Result<Vec<(IpAddr, IpAddr)>, ApiError> {
    items
        .into_iter()
        .map(|mut m| {
            let get = |m: &mut Map<String, Value>, k: &str| match m.remove(k) {
                Some(Value::String(s)) => parse_ip_attr("allocation_pools", &s),
                _ => Err(invalid_attr(
                    "allocation_pools",
                    "Validation of dictionary's keys failed. Expected keys: {'start', 'end'}",
                )),
            };
            let start = get(&mut m, "start")?;
            let end = get(&mut m, "end")?;
            if !m.is_empty() {
                return Err(invalid_attr(
                    "allocation_pools",
                    "Validation of dictionary's keys failed. Expected keys: {'start', 'end'}",
                ));
            }
            Ok((start, end))
        })
        .collect()
}

fn parse_dns(list: Vec<String>, version: u8, max: usize) -> Result<Vec<String>, ApiError> {
    if list.len() > max {
        return Err(bad_request_typed(
            "DNSNameServersExhausted",
            format!(
                "Unable to complete operation for subnet. The number of DNS nameservers exceeds the limit {max}."
            ),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for s in list {
        let ip = parse_ip_attr("dns_nameservers", &s)?;
        let text = ip.to_string();
        if out.contains(&text) {
            return Err(invalid_attr(
                "dns_nameservers",
                format!("Duplicate nameserver '{s}'"),
            ));
        }
        if ipam::version_of(ip) != version {
            return Err(invalid_input(format!(
                "dns_nameserver {s} does not match the ip_version {version}"
            )));
        }
        out.push(text);
    }
    Ok(out)
}

fn parse_routes(
    items: Vec<Map<String, Value>>,
    version: u8,
    max: usize,
) -> Result<Vec<HostRoute>, ApiError> {
    if items.len() > max {
        return Err(bad_request_typed(
            "HostRoutesExhausted",
            format!(
                "Unable to complete operation for subnet. The number of host routes exceeds the limit {max}."
            ),
        ));
    }
    let mut out: Vec<HostRoute> = Vec::new();
    for mut m in items {
        let dest = match m.remove("destination") {
            Some(Value::String(s)) => {
                Cidr::parse(&s).map_err(|r| invalid_attr("host_routes", r))?
            }
            _ => {
                return Err(invalid_attr(
                    "host_routes",
                    "Validation of dictionary's keys failed. Expected keys: {'destination', 'nexthop'}",
                ));
            }
        };
        let hop = match m.remove("nexthop") {
            Some(Value::String(s)) => parse_ip_attr("host_routes", &s)?,
            _ => {
                return Err(invalid_attr(
                    "host_routes",
                    "Validation of dictionary's keys failed. Expected keys: {'destination', 'nexthop'}",
                ));
            }
        };
        if !m.is_empty() {
            return Err(invalid_attr(
                "host_routes",
                "Validation of dictionary's keys failed. Expected keys: {'destination', 'nexthop'}",
            ));
        }
        if dest.version() != version || ipam::version_of(hop) != version {
            return Err(invalid_input(format!(
                "host_route {dest} via {hop} does not match the ip_version {version}"
            )));
        }
        let route = HostRoute {
            destination: dest.to_string(),
            nexthop: hop.to_string(),
        };
        if out.contains(&route) {
            return Err(invalid_attr(
                "host_routes",
                format!("Duplicate hostroute '{dest}'"),
            ));
        }
        out.push(route);
    }
    Ok(out)
}

fn pools_json(version: u8, ranges: &[ipam::Range]) -> Vec<AllocationPool> {
    ranges
        .iter()
        .map(|r| AllocationPool {
            start: ipam::from_int(version, r.start).to_string(),
            end: ipam::from_int(version, r.end).to_string(),
        })
        .collect()
}

/// A subnet's pools as ranges.
pub(crate) fn subnet_ranges(subnet: &Subnet) -> Vec<ipam::Range> {
    subnet
        .allocation_pools
        .iter()
        .filter_map(|p| {
            Some(ipam::Range {
                start: ipam::to_int(ipam::parse_ip(&p.start)?),
                end: ipam::to_int(ipam::parse_ip(&p.end)?),
            })
        })
        .collect()
}

impl NetworkService {
    /// The gateway the request asks for: absent means the first host,
    /// `null` none.
    fn subnet_gateway(
        &self,
        cidr: &Cidr,
        given: Option<Option<String>>,
    ) -> Result<Option<IpAddr>, ApiError> {
        let gw = match given {
            None => return Ok(cidr.default_gateway()),
            Some(None) => return Ok(None),
            Some(Some(text)) => parse_ip_attr("gateway_ip", &text)?,
        };
        if ipam::version_of(gw) != cidr.version() {
            return Err(invalid_input(format!(
                "gateway_ip {gw} does not match the ip_version {}",
                cidr.version()
            )));
        }
        let edge = cidr.contains(gw)
            && (ipam::to_int(gw) == cidr.first()
                || (cidr.version() == 4 && ipam::to_int(gw) == cidr.last()));
        if edge || (self.config.force_gateway_on_subnet && !cidr.contains(gw)) {
            return Err(invalid_input("Gateway is not valid on subnet"));
        }
        Ok(Some(gw))
    }

    /// The subnet `id` if the caller may see its network, else 404.
    pub async fn subnet_visible(&self, ctx: &RequestContext, id: &str) -> Result<Subnet, ApiError> {
        require_read(ctx, "get_subnet")?;
        let Some(subnet) = store::subnets::subnet_get(self.pool(), id).await? else {
            return Err(subnet_not_found(id));
        };
        if ctx.may_see_project(&subnet.project_id) {
            return Ok(subnet);
        }
        match self.network_visible(ctx, &subnet.network_id).await {
            Ok(_) => Ok(subnet),
            Err(_) => Err(subnet_not_found(id)),
        }
    }

    async fn subnet_owned(
        &self,
        ctx: &RequestContext,
        id: &str,
        rule: &str,
    ) -> Result<Subnet, ApiError> {
        let subnet = self.subnet_visible(ctx, id).await?;
        if !ctx.may_see_project(&subnet.project_id) {
            return Err(policy(rule));
        }
        require_write(ctx, rule)?;
        Ok(subnet)
    }

    /// Subnets the caller may see.
    pub async fn subnet_list(&self, ctx: &RequestContext) -> Result<Vec<Subnet>, ApiError> {
        require_read(ctx, "get_subnet")?;
        Ok(store::subnets::subnet_list(self.pool(), scope(ctx)).await?)
    }

    /// `POST /v2.0/subnets`.
    pub async fn subnet_create(
        &self,
        ctx: &RequestContext,
        mut a: Attrs,
    ) -> Result<Subnet, ApiError> {
        require_write(ctx, "create_subnet")?;
        let project_id = a.owner(ctx)?;
        let network_id = a.string("network_id", 255)?.ok_or_else(|| {
            bad_request("Failed to parse request. Required attribute 'network_id' not specified")
        })?;
        let version = match a.int("ip_version")? {
            Some(Some(v @ (4 | 6))) => v as u8,
            Some(Some(v)) => {
                return Err(invalid_attr("ip_version", format!("{v} is not in [4, 6]")));
            }
            _ => {
                return Err(bad_request(
                    "Failed to parse request. Required attribute 'ip_version' not specified",
                ));
            }
        };
        let cidr_text = a.string("cidr", 64)?;
        let name = a.string("name", 255)?.unwrap_or_default();
        let description = a.string("description", 255)?.unwrap_or_default();
        let gateway = a.nullable_string("gateway_ip", 64)?;
        let pools = a.object_list("allocation_pools", 64)?;
        let dns = a.string_list("dns_nameservers", 64)?.unwrap_or_default();
        let routes = a.object_list("host_routes", 256)?.unwrap_or_default();
        let enable_dhcp = a.boolean("enable_dhcp")?.unwrap_or(true);
        let ra_mode = a.nullable_string("ipv6_ra_mode", 32)?.flatten();
        let address_mode = a.nullable_string("ipv6_address_mode", 32)?.flatten();
        if matches!(a.take("subnetpool_id"), Some(v) if !v.is_null()) {
            return Err(bad_resource_request(
                "subnet",
                "subnet pools are not supported",
            ));
        }
        for ignored in [
            "prefixlen",
            "service_types",
            "segment_id",
            "use_default_subnetpool",
            "dns_publish_fixed_ip",
        ] {
            a.take(ignored);
        }
        a.finish("POST")?;
        let cidr_text = cidr_text.ok_or_else(|| {
            bad_resource_request(
                "subnet",
                "a subnetpool must be specified in the absence of a cidr",
            )
        })?;
        let cidr = Cidr::parse(&cidr_text).map_err(|r| invalid_attr("cidr", r))?;
        if cidr.version() != version {
            return Err(invalid_input(format!(
                "Cidr {cidr} does not match ip_version {version}"
            )));
        }
        let network = self.network_visible(ctx, &network_id).await?;
        if !ctx.may_see_project(&network.project_id) {
            return Err(policy("create_subnet"));
        }
        for (attr, mode) in [
            ("ipv6_ra_mode", &ra_mode),
            ("ipv6_address_mode", &address_mode),
        ] {
            if let Some(m) = mode {
                if !IPV6_MODES.contains(&m.as_str()) {
                    return Err(invalid_attr(
                        attr,
                        format!("'{m}' is not in {IPV6_MODES:?}"),
                    ));
                }
                if version == 4 {
                    return Err(invalid_input(format!(
                        "{attr} set to '{m}' with ip_version set to '4' is not valid"
                    )));
                }
            }
        }
        if let (Some(r), Some(m)) = (&ra_mode, &address_mode)
            && r != m
        {
            return Err(invalid_input(format!(
                "ipv6_ra_mode set to '{r}' with ipv6_address_mode set to '{m}' is not valid. If both attributes are set, they must be the same value"
            )));
        }
        if (ra_mode.is_some() || address_mode.is_some()) && !enable_dhcp {
            return Err(invalid_input(
                "ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False.",
            ));
        }
        let auto = matches!(address_mode.as_deref(), Some("slaac" | "dhcpv6-stateless"))
            || matches!(ra_mode.as_deref(), Some("slaac" | "dhcpv6-stateless"));
        if auto && cidr.prefix != 64 {
            return Err(invalid_input(format!(
                "Invalid CIDR {cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64"
            )));
        }
        let gw = self.subnet_gateway(&cidr, gateway)?;
        let ranges = match pools {
            Some(list) => {
                let given = parse_pools(list)?;
                ipam::validate_pools(&cidr, gw, &given).map_err(|e| pool_error(&cidr, gw, e))?
            }
            None => cidr.default_pools(gw),
        };
        let dns = parse_dns(dns, version, self.config.max_dns_nameservers)?;
        let routes = parse_routes(routes, version, self.config.max_subnet_host_routes)?;
        for other in store::subnets::subnets_of_network(self.pool(), &network.id).await? {
            if let Ok(o) = Cidr::parse(&other.cidr)
                && o.version() == cidr.version()
                && (o.contains(cidr.network) || cidr.contains(o.network))
            {
                return Err(invalid_input(format!(
                    "Requested subnet with cidr: {cidr} for network: {} overlaps with another subnet",
                    network.id
                )));
            }
        }
        self.quota_check(&project_id, "subnet", 1).await?;
        let now = now_micros();
        let subnet = Subnet {
            id: new_id(),
            network_id: network.id,
            project_id,
            name,
            description,
            ip_version: version,
            cidr: cidr.to_string(),
            gateway_ip: gw.map(|g| g.to_string()),
            enable_dhcp,
            ipv6_ra_mode: ra_mode,
            ipv6_address_mode: address_mode,
            dns_nameservers: dns,
            host_routes: routes,
            allocation_pools: pools_json(version, &ranges),
            router_external: network.external,
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        store::subnets::subnet_insert(self.pool(), &subnet).await?;
        Ok(subnet)
    }

    /// `PUT /v2.0/subnets/{id}`.
    pub async fn subnet_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        mut a: Attrs,
    ) -> Result<Subnet, ApiError> {
        let mut s = self.subnet_owned(ctx, id, "update_subnet").await?;
        let cidr = Cidr::parse(&s.cidr).map_err(ApiError::internal)?;
        if let Some(name) = a.string("name", 255)? {
            s.name = name;
        }
        if let Some(d) = a.string("description", 255)? {
            s.description = d;
        }
        if let Some(dhcp) = a.boolean("enable_dhcp")? {
            s.enable_dhcp = dhcp;
        }
        if let Some(dns) = a.string_list("dns_nameservers", 64)? {
            s.dns_nameservers = parse_dns(dns, s.ip_version, self.config.max_dns_nameservers)?;
        }
        if let Some(routes) = a.object_list("host_routes", 256)? {
            s.host_routes = parse_routes(routes, s.ip_version, self.config.max_subnet_host_routes)?;
        }
        let mut gw = s.gateway_ip.as_deref().and_then(ipam::parse_ip);
        if a.has("gateway_ip") {
            let given = a.nullable_string("gateway_ip", 64)?;
            gw = self.subnet_gateway(&cidr, Some(given.flatten()))?;
            if let Some(g) = gw
                && let Some(holder) =
                    store::ports::address_owner(self.pool(), &s.id, &g.to_string()).await?
            {
                return Err(conflict(
                    "GatewayIpInUse",
                    format!(
                        "Current gateway ip {g} already in use by port {holder}. Unable to update."
                    ),
                ));
            }
            s.gateway_ip = gw.map(|g| g.to_string());
        }
        let ranges = match a.object_list("allocation_pools", 64)? {
            Some(list) => {
                let given = parse_pools(list)?;
                ipam::validate_pools(&cidr, gw, &given).map_err(|e| pool_error(&cidr, gw, e))?
            }
            None => {
                let current = subnet_ranges(&s);
                if let Some(g) = gw.map(ipam::to_int)
                    && let Some(r) = current.iter().find(|r| (r.start..=r.end).contains(&g))
                {
                    return Err(pool_error(
                        &cidr,
                        gw,
                        PoolError::GatewayConflict(ipam::range_text(s.ip_version, r)),
                    ));
                }
                current
            }
        };
        s.allocation_pools = pools_json(s.ip_version, &ranges);
        for ro in [
            "cidr",
            "ip_version",
            "network_id",
            "ipv6_ra_mode",
            "ipv6_address_mode",
            "project_id",
            "tenant_id",
        ] {
            if a.has(ro) {
                return Err(bad_request(format!(
                    "Cannot update read-only attribute {ro}"
                )));
            }
        }
        for ignored in ["service_types", "segment_id", "dns_publish_fixed_ip"] {
            a.take(ignored);
        }
        a.finish("PUT")?;
        s.revision_number += 1;
        s.updated_at = now_micros();
        store::subnets::subnet_update(self.pool(), &s).await?;
        Ok(s)
    }

    /// `DELETE /v2.0/subnets/{id}`.
    pub async fn subnet_delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        let s = self.subnet_owned(ctx, id, "delete_subnet").await?;
        self.subnet_remove(&s).await
    }

    /// Deletes a subnet as neutron's `delete_subnet`: 409 `SubnetInUse`
    /// while a router interface holds an address on it, or, unless the
    /// subnet gives addresses automatically (SLAAC, DHCPv6-stateless), any
    /// port but a DHCP port. The addresses left are taken from their ports.
    pub(crate) async fn subnet_remove(&self, s: &Subnet) -> Result<(), ApiError> {
        let users = store::ports::ports_on_subnet(self.pool(), &s.id).await?;
        let blocking =
            |o: &str| o == owner::ROUTER_INTERFACE || (!s.is_auto_address() && o != owner::DHCP);
        if users.iter().any(|(_, o)| blocking(o)) {
            return Err(conflict(
                "SubnetInUse",
                format!(
                    "Unable to complete operation on subnet {}: One or more ports have an IP allocation from this subnet.",
                    s.id
                ),
            ));
        }
        store::subnets::subnet_delete(self.pool(), &s.id, now_micros()).await?;
        Ok(())
    }
}
