//! Ports and IPAM. Addresses are chosen from what the database holds, then
//! written with the port in one transaction; the allocation table's primary
//! key refuses an address two requests chose at once, and the loser chooses
//! again from the new state (neutron's `IpAddressGenerationFailure` retry).

use std::collections::HashSet;
use std::net::IpAddr;

use nimbus_common::error::ErrorKind;
use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;

use super::input::Attrs;
use super::model::{AddressPair, FixedIp, Network, Port, Subnet, owner};
pub use super::port_attrs::IpRequest;
pub(crate) use super::port_attrs::parse_fixed_ips;
use super::port_attrs::{parse_pairs, valid_mac};
use super::subnets::subnet_ranges;
use super::{NetworkService, new_id, require_read, require_write, scope};
use crate::error::{
    bad_request, conflict, invalid_attr, invalid_input, neutron, policy, port_not_found,
};
use crate::ipam::{self, Cidr};
use crate::store;
use crate::store::ports::{PortQuery, Written};

/// How often a creation re-chooses after losing a race. Each lost race means
/// another request got an address, so this bounds only pathological cases.
const MAX_ATTEMPTS: usize = 1000;

/// Neutron's `InvalidIpForSubnet`.
fn invalid_ip_for_subnet(ip: IpAddr) -> ApiError {
    neutron(
        ErrorKind::BadRequest,
        "InvalidIpForSubnet",
        format!("IP address {ip} is not a valid IP for the specified subnet."),
    )
}

fn already_allocated(ip: &str, subnet: &str) -> ApiError {
    conflict(
        "IpAddressAlreadyAllocated",
        format!("IP address {ip} already allocated in subnet {subnet}"),
    )
}

fn generation_failure(network_id: &str) -> ApiError {
    conflict(
        "IpAddressGenerationFailure",
        format!("No more IP addresses available on network {network_id}."),
    )
}

/// What a port create or update asks for, validated.
#[derive(Debug, Default)]
pub(crate) struct PortSpec {
    pub fixed_ips: Option<Vec<IpRequest>>,
    pub mac: Option<String>,
}

impl NetworkService {
    /// The port `id` if the caller may see it, else 404.
    pub async fn port_visible(&self, ctx: &RequestContext, id: &str) -> Result<Port, ApiError> {
        require_read(ctx, "get_port")?;
        match store::ports::port_get(self.pool(), id).await? {
            Some(p) if ctx.may_see_project(&p.project_id) => Ok(p),
            _ => Err(port_not_found(id)),
        }
    }

    /// Ports the caller may see, narrowed by the filters the store applies.
    pub async fn port_list(
        &self,
        ctx: &RequestContext,
        network_id: Option<&str>,
        device_id: Option<&str>,
        device_owner: Option<&str>,
    ) -> Result<Vec<Port>, ApiError> {
        require_read(ctx, "get_port")?;
        let q = PortQuery {
            project: scope(ctx),
            network_id,
            device_id,
            device_owner,
            ..Default::default()
        };
        Ok(store::ports::port_list(self.pool(), &q).await?)
    }

    /// `POST /v2.0/ports`.
    pub async fn port_create(&self, ctx: &RequestContext, mut a: Attrs) -> Result<Port, ApiError> {
        require_write(ctx, "create_port")?;
        let project_id = a.owner(ctx)?;
        let network_id = a.string("network_id", 255)?.ok_or_else(|| {
            bad_request("Failed to parse request. Required attribute 'network_id' not specified")
        })?;
        let name = a.string("name", 255)?.unwrap_or_default();
        let description = a.string("description", 255)?.unwrap_or_default();
        let admin_state_up = a.boolean("admin_state_up")?.unwrap_or(true);
        let device_id = a.string("device_id", 255)?.unwrap_or_default();
        let device_owner = a.string("device_owner", 255)?.unwrap_or_default();
        let host_id = a.string("binding:host_id", 255)?;
        let port_security = a.boolean("port_security_enabled")?;
        let sgs = a.string_list("security_groups", 64)?;
        let pairs = a.object_list("allowed_address_pairs", 1024)?;
        let fixed = a.object_list("fixed_ips", 1024)?;
        let mac = a
            .string("mac_address", 64)?
            .map(|m| valid_mac(&m))
            .transpose()?;
        if let Some(vnic) = a.string("binding:vnic_type", 64)?
            && vnic != "normal"
        {
            return Err(invalid_attr(
                "binding:vnic_type",
                format!("'{vnic}' is not in ['normal']"),
            ));
        }
        if a.take("binding:profile").is_some() && !ctx.is_admin() {
            return Err(policy("create_port:binding:profile"));
        }
        for ignored in [
            "extra_dhcp_opts",
            "qos_policy_id",
            "dns_name",
            "propagate_uplink_status",
            "ip_allocation",
        ] {
            a.take(ignored);
        }
        a.finish("POST")?;
        if host_id.is_some() && !ctx.is_admin() {
            return Err(policy("create_port:binding:host_id"));
        }
        let network = self.network_visible(ctx, &network_id).await?;
        if mac.is_some()
            && !ctx.is_admin()
            && ctx.project_id.as_deref() != Some(&network.project_id)
        {
            return Err(policy("create_port:mac_address"));
        }
        let fixed_ips = fixed.map(parse_fixed_ips).transpose()?;
        if let Some(f) = &fixed_ips
            && f.len() > self.config.max_fixed_ips_per_port
        {
            return Err(bad_request(
                "Exceeded maximum amount of fixed ips per port.",
            ));
        }
        let port_security_enabled = port_security.unwrap_or(network.port_security_enabled);
        let pairs = pairs
            .map(|p| parse_pairs(p, self.config.max_allowed_address_pair))
            .transpose()?
            .unwrap_or_default();
        if !pairs.is_empty() && !port_security_enabled {
            return Err(conflict(
                "AddressPairAndPortSecurityRequired",
                "Port Security must be enabled in order to have allowed address pairs on a port.",
            ));
        }
        let security_groups = match sgs {
            Some(list) => {
                self.security_groups_for_port(ctx, &project_id, list)
                    .await?
            }
            None if port_security_enabled && !device_owner.starts_with("network:") => {
                vec![self.default_security_group(&project_id).await?]
            }
            None => Vec::new(),
        };
        if !security_groups.is_empty() && !port_security_enabled {
            return Err(bad_request_typed(
                "PortSecurityAndIPRequiredForSecurityGroups",
                "Port security must be enabled and port must have an IP address in order to use security groups.",
            ));
        }
        self.quota_check(&project_id, "port", 1).await?;
        let now = now_micros();
        let port = Port {
            id: new_id(),
            network_id: network.id.clone(),
            project_id,
            name,
            description,
            mac_address: String::new(),
            admin_state_up,
            device_id,
            device_owner,
            host_id: host_id.unwrap_or_default(),
            port_security_enabled,
            allowed_address_pairs: Vec::new(),
            fixed_ips: Vec::new(),
            security_groups,
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        let spec = PortSpec { fixed_ips, mac };
        self.port_insert_allocating(&network, port, spec, pairs)
            .await
    }

    /// Chooses a MAC and addresses for `port` and inserts it, choosing again
    /// when a concurrent creation took one of them first.
    pub(crate) async fn port_insert_allocating(
        &self,
        network: &Network,
        mut port: Port,
        spec: PortSpec,
        pairs: Vec<(String, Option<String>)>,
    ) -> Result<Port, ApiError> {
        let subnets = store::subnets::subnets_of_network(self.pool(), &network.id).await?;
        let requests =
            self.resolve_requests(network, &subnets, spec.fixed_ips.as_deref(), &port)?;
        for _ in 0..MAX_ATTEMPTS {
            port.mac_address = match &spec.mac {
                Some(m) => m.clone(),
                None => ipam::random_mac(&self.base_mac),
            };
            port.fixed_ips = self
                .choose_addresses(network, &subnets, &requests, &port, None)
                .await?;
            port.allowed_address_pairs = pairs
                .iter()
                .map(|(ip, mac)| AddressPair {
                    ip_address: ip.clone(),
                    mac_address: mac.clone().unwrap_or_else(|| port.mac_address.clone()),
                })
                .collect();
            match store::ports::port_insert(self.pool(), &port).await? {
                Written::Done => return Ok(port),
                Written::Duplicate => {
                    if let Some(m) = &spec.mac
                        && store::ports::mac_in_use(self.pool(), &network.id, m).await?
                    {
                        return Err(conflict(
                            "MacAddressInUse",
                            format!(
                                "Unable to complete operation for network {}. The mac address {m} is in use.",
                                network.id
                            ),
                        ));
                    }
                    self.check_specific_free(&requests, &port.id).await?;
                }
            }
        }
        Err(generation_failure(&network.id))
    }

    /// 409 if an explicitly requested address is held by another port.
    async fn check_specific_free(
        &self,
        requests: &[Resolved],
        port_id: &str,
    ) -> Result<(), ApiError> {
        for r in requests {
            if let Resolved::Address { subnet_id, ip } = r {
                let text = ip.to_string();
                if let Some(holder) =
                    store::ports::address_owner(self.pool(), subnet_id, &text).await?
                    && holder != port_id
                {
                    return Err(already_allocated(&text, subnet_id));
                }
            }
        }
        Ok(())
    }

    /// Turns the request into per-subnet demands, validating every address
    /// against its subnet (neutron's `_test_fixed_ips_for_port`).
    fn resolve_requests(
        &self,
        network: &Network,
        subnets: &[Subnet],
        fixed: Option<&[IpRequest]>,
        port: &Port,
    ) -> Result<Vec<Resolved>, ApiError> {
        let find = |id: &str| subnets.iter().find(|s| s.id == id);
        let invalid_subnet = |id: &str| {
            invalid_input(format!(
                "Failed to create port on network {}, because fixed_ips included invalid subnet {id}",
                network.id
            ))
        };
        let mut out = Vec::new();
        let Some(fixed) = fixed else {
            // Neutron's default: one IPv4 address from the first subnet with
            // room, one from a stateful IPv6 subnet, and SLAAC everywhere.
            if subnets.iter().any(|s| s.ip_version == 4) {
                out.push(Resolved::AnyV4);
            }
            if let Some(s) = subnets
                .iter()
                .find(|s| s.ip_version == 6 && !s.is_auto_address())
            {
                out.push(Resolved::Subnet(s.id.clone()));
            }
            return Ok(out);
        };
        for r in fixed {
            match r {
                IpRequest::Subnet(id) => {
                    let s = find(id).ok_or_else(|| invalid_subnet(id))?;
                    if s.is_auto_address() {
                        continue;
                    }
                    out.push(Resolved::Subnet(s.id.clone()));
                }
                IpRequest::Address { subnet_id, ip } => {
                    let subnet = match subnet_id {
                        Some(id) => find(id).ok_or_else(|| invalid_subnet(id))?,
                        None => subnets
                            .iter()
                            .find(|s| Cidr::parse(&s.cidr).is_ok_and(|c| c.contains(*ip)))
                            .ok_or_else(|| {
                                neutron(
                                    ErrorKind::BadRequest,
                                    "InvalidIpForNetwork",
                                    format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."),
                                )
                            })?,
                    };
                    let cidr = Cidr::parse(&subnet.cidr).map_err(ApiError::internal)?;
                    let n = ipam::to_int(*ip);
                    let edge = n == cidr.first() || (cidr.version() == 4 && n == cidr.last());
                    if !cidr.contains(*ip) || edge {
                        return Err(invalid_ip_for_subnet(*ip));
                    }
                    // A router interface takes the gateway address even
                    // where guests get theirs from SLAAC.
                    if subnet.is_auto_address() && port.device_owner != owner::ROUTER_INTERFACE {
                        return Err(invalid_input(format!(
                            "IPv6 address {ip} cannot be directly assigned to a port on subnet {} since the subnet is configured for automatic addresses",
                            subnet.id
                        )));
                    }
                    let r = Resolved::Address {
                        subnet_id: subnet.id.clone(),
                        ip: *ip,
                    };
                    if out.contains(&r) {
                        return Err(bad_request("Duplicate IP address in fixed_ips"));
                    }
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// Picks concrete addresses for the demands from the current state.
    /// `keep` are addresses the port already holds (an update).
    async fn choose_addresses(
        &self,
        network: &Network,
        subnets: &[Subnet],
        requests: &[Resolved],
        port: &Port,
        keep: Option<&[FixedIp]>,
    ) -> Result<Vec<FixedIp>, ApiError> {
        let mut out: Vec<FixedIp> = Vec::new();
        let mine = |subnet: &str, ip: &str| {
            keep.is_some_and(|k| {
                k.iter()
                    .any(|f| f.subnet_id == subnet && f.ip_address == ip)
            })
        };
        for r in requests {
            match r {
                Resolved::Address { subnet_id, ip } => {
                    let text = ip.to_string();
                    let gateway = subnets
                        .iter()
                        .find(|s| &s.id == subnet_id)
                        .and_then(|s| s.gateway_ip.clone());
                    if gateway.as_deref() == Some(text.as_str())
                        && port.device_owner != owner::ROUTER_INTERFACE
                    {
                        return Err(already_allocated(&text, subnet_id));
                    }
                    if !mine(subnet_id, &text)
                        && store::ports::address_owner(self.pool(), subnet_id, &text)
                            .await?
                            .is_some()
                    {
                        return Err(already_allocated(&text, subnet_id));
                    }
                    out.push(FixedIp {
                        subnet_id: subnet_id.clone(),
                        ip_address: text,
                    });
                }
                Resolved::Subnet(id) => {
                    let Some(s) = subnets.iter().find(|s| &s.id == id) else {
                        return Err(generation_failure(&network.id));
                    };
                    let ip = self
                        .pick_on_subnet(s, &out)
                        .await?
                        .ok_or_else(|| generation_failure(&network.id))?;
                    out.push(ip);
                }
                Resolved::AnyV4 => {
                    let mut got = None;
                    for s in subnets.iter().filter(|s| s.ip_version == 4) {
                        if let Some(ip) = self.pick_on_subnet(s, &out).await? {
                            got = Some(ip);
                            break;
                        }
                    }
                    out.push(got.ok_or_else(|| generation_failure(&network.id))?);
                }
            }
        }
        if port.device_owner != owner::ROUTER_INTERFACE {
            for s in subnets.iter().filter(|s| s.is_auto_address()) {
                let cidr = Cidr::parse(&s.cidr).map_err(ApiError::internal)?;
                if let Some(ip) = ipam::eui64(&cidr, &port.mac_address) {
                    out.push(FixedIp {
                        subnet_id: s.id.clone(),
                        ip_address: ip.to_string(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// A free pool address on `subnet`, not already chosen in `taken`.
    async fn pick_on_subnet(
        &self,
        subnet: &Subnet,
        taken: &[FixedIp],
    ) -> Result<Option<FixedIp>, ApiError> {
        let mut used: HashSet<u128> = store::ports::subnet_addresses(self.pool(), &subnet.id)
            .await?
            .iter()
            .filter_map(|t| ipam::parse_ip(t))
            .map(ipam::to_int)
            .collect();
        for t in taken.iter().filter(|t| t.subnet_id == subnet.id) {
            if let Some(ip) = ipam::parse_ip(&t.ip_address) {
                used.insert(ipam::to_int(ip));
            }
        }
        Ok(
            ipam::pick_free(&subnet_ranges(subnet), &used).map(|n| FixedIp {
                subnet_id: subnet.id.clone(),
                ip_address: ipam::from_int(subnet.ip_version, n).to_string(),
            }),
        )
    }

    /// `PUT /v2.0/ports/{id}`.
    pub async fn port_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        mut a: Attrs,
    ) -> Result<Port, ApiError> {
        require_write(ctx, "update_port")?;
        let mut port = self.port_visible(ctx, id).await?;
        if let Some(v) = a.string("name", 255)? {
            port.name = v;
        }
        if let Some(v) = a.string("description", 255)? {
            port.description = v;
        }
        if let Some(v) = a.boolean("admin_state_up")? {
            port.admin_state_up = v;
        }
        if let Some(v) = a.string("device_id", 255)? {
            port.device_id = v;
        }
        if let Some(v) = a.string("device_owner", 255)? {
            port.device_owner = v;
        }
        if let Some(v) = a.string("binding:host_id", 255)? {
            if !ctx.is_admin() {
                return Err(policy("update_port:binding:host_id"));
            }
            port.host_id = v;
        }
        if let Some(v) = a.boolean("port_security_enabled")? {
            port.port_security_enabled = v;
        }
        if let Some(list) = a.string_list("security_groups", 64)? {
            port.security_groups = self
                .security_groups_for_port(ctx, &port.project_id, list)
                .await?;
        }
        let pairs = a
            .object_list("allowed_address_pairs", 1024)?
            .map(|p| parse_pairs(p, self.config.max_allowed_address_pair))
            .transpose()?;
        if let Some(pairs) = pairs {
            port.allowed_address_pairs = pairs
                .into_iter()
                .map(|(ip, mac)| AddressPair {
                    ip_address: ip,
                    mac_address: mac.unwrap_or_else(|| port.mac_address.clone()),
                })
                .collect();
        }
        let fixed = a
            .object_list("fixed_ips", 1024)?
            .map(parse_fixed_ips)
            .transpose()?;
        if let Some(mac) = a.string("mac_address", 64)? {
            if !ctx.is_admin() {
                return Err(policy("update_port:mac_address"));
            }
            if !port.host_id.is_empty() {
                return Err(conflict(
                    "PortBound",
                    format!(
                        "Unable to complete operation on port {id}, port is already bound, port type: other, old_mac {}, new_mac {mac}.",
                        port.mac_address
                    ),
                ));
            }
            port.mac_address = valid_mac(&mac)?;
        }
        for ignored in [
            "extra_dhcp_opts",
            "qos_policy_id",
            "dns_name",
            "binding:profile",
            "binding:vnic_type",
        ] {
            a.take(ignored);
        }
        for ro in ["network_id", "project_id", "tenant_id"] {
            if a.has(ro) {
                return Err(bad_request(format!(
                    "Cannot update read-only attribute {ro}"
                )));
            }
        }
        a.finish("PUT")?;
        if !port.port_security_enabled && !port.security_groups.is_empty() {
            return Err(bad_request_typed(
                "PortSecurityAndIPRequiredForSecurityGroups",
                "Port security must be enabled and port must have an IP address in order to use security groups.",
            ));
        }
        if !port.port_security_enabled && !port.allowed_address_pairs.is_empty() {
            return Err(conflict(
                "AddressPairAndPortSecurityRequired",
                "Port Security must be enabled in order to have allowed address pairs on a port.",
            ));
        }
        port.revision_number += 1;
        port.updated_at = now_micros();
        let network = store::networks::network_get(self.pool(), &port.network_id)
            .await?
            .ok_or_else(|| port_not_found(id))?;
        let subnets = store::subnets::subnets_of_network(self.pool(), &network.id).await?;
        let old = port.fixed_ips.clone();
        let requests = match &fixed {
            Some(f) => Some(self.resolve_requests(&network, &subnets, Some(f), &port)?),
            None => None,
        };
        for _ in 0..MAX_ATTEMPTS {
            if let Some(requests) = &requests {
                port.fixed_ips = self
                    .choose_addresses(&network, &subnets, requests, &port, Some(&old))
                    .await?;
            }
            match store::ports::port_update(self.pool(), &port).await? {
                Written::Done => return Ok(port),
                Written::Duplicate => {
                    if store::ports::mac_in_use(self.pool(), &network.id, &port.mac_address).await?
                        && requests.is_none()
                    {
                        return Err(conflict(
                            "MacAddressInUse",
                            format!(
                                "Unable to complete operation for network {}. The mac address {} is in use.",
                                network.id, port.mac_address
                            ),
                        ));
                    }
                    if let Some(r) = &requests {
                        self.check_specific_free(r, &port.id).await?;
                    }
                }
            }
        }
        Err(generation_failure(&network.id))
    }

    /// `DELETE /v2.0/ports/{id}`: frees its addresses. Router and floating
    /// IP ports belong to their resource and are refused, as in neutron.
    pub async fn port_delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        require_write(ctx, "delete_port")?;
        let port = self.port_visible(ctx, id).await?;
        if [
            owner::ROUTER_INTERFACE,
            owner::ROUTER_GATEWAY,
            owner::FLOATINGIP,
        ]
        .contains(&port.device_owner.as_str())
        {
            return Err(conflict(
                "ServicePortInUse",
                format!(
                    "Port {id} cannot be deleted directly via the port API: has device owner {}.",
                    port.device_owner
                ),
            ));
        }
        self.port_remove(&port).await
    }

    /// Deletes a port, first disassociating floating IPs from it.
    pub(crate) async fn port_remove(&self, port: &Port) -> Result<(), ApiError> {
        for mut f in store::floatingips::floatingips_of_port(self.pool(), &port.id).await? {
            f.port_id = None;
            f.fixed_ip_address = None;
            f.router_id = None;
            f.revision_number += 1;
            f.updated_at = now_micros();
            store::floatingips::floatingip_update(self.pool(), &f).await?;
        }
        self.dataplane.port_unplugged(port);
        store::ports::port_delete(self.pool(), &port.id).await?;
        Ok(())
    }
}

/// A demand on one subnet (or any IPv4 subnet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    Address { subnet_id: String, ip: IpAddr },
    Subnet(String),
    AnyV4,
}

fn bad_request_typed(ty: &str, message: &str) -> ApiError {
    neutron(ErrorKind::BadRequest, ty, message)
}
