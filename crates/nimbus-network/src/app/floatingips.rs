//! Floating IPs: an address from an external network's pool, held by a
//! `network:floatingip` port, associated with a port's fixed IP when a
//! router joins the two networks.

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;
use serde_json::Value;

use super::input::Attrs;
use super::model::{FloatingIp, Port, owner};
use super::ports::{IpRequest, PortSpec};
use super::{NetworkService, new_id, require_read, require_write, scope};
use crate::error::{
    bad_request, bad_resource_request, conflict, floatingip_not_found, invalid_attr, not_found,
    policy,
};
use crate::ipam;
use crate::store;

impl NetworkService {
    /// The floating IP `id` if the caller may see it.
    pub async fn floatingip_visible(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<FloatingIp, ApiError> {
        require_read(ctx, "get_floatingip")?;
        match store::floatingips::floatingip_get(self.pool(), id).await? {
            Some(f) if ctx.may_see_project(&f.project_id) => Ok(f),
            _ => Err(floatingip_not_found(id)),
        }
    }

    /// Floating IPs the caller may see.
    pub async fn floatingip_list(&self, ctx: &RequestContext) -> Result<Vec<FloatingIp>, ApiError> {
        require_read(ctx, "get_floatingip")?;
        Ok(store::floatingips::floatingip_list(self.pool(), scope(ctx)).await?)
    }

    /// `POST /v2.0/floatingips`.
    pub async fn floatingip_create(
        &self,
        ctx: &RequestContext,
        mut a: Attrs,
    ) -> Result<FloatingIp, ApiError> {
        require_write(ctx, "create_floatingip")?;
        let project_id = a.owner(ctx)?;
        let network_id = a.string("floating_network_id", 255)?.ok_or_else(|| {
            bad_request(
                "Failed to parse request. Required attribute 'floating_network_id' not specified",
            )
        })?;
        let address = a.nullable_string("floating_ip_address", 64)?.flatten();
        let subnet_id = a.nullable_string("subnet_id", 255)?.flatten();
        let port_id = a.nullable_string("port_id", 255)?.flatten();
        let fixed = a.nullable_string("fixed_ip_address", 64)?.flatten();
        let description = a.string("description", 255)?.unwrap_or_default();
        for ignored in ["dns_name", "dns_domain", "qos_policy_id"] {
            a.take(ignored);
        }
        a.finish("POST")?;
        if address.is_some() && !ctx.is_admin() {
            return Err(policy("create_floatingip:floating_ip_address"));
        }
        let network = self.network_visible(ctx, &network_id).await?;
        if !network.external {
            return Err(bad_resource_request(
                "floatingip",
                format!("Network {network_id} is not a valid external network."),
            ));
        }
        self.quota_check(&project_id, "floatingip", 1).await?;
        let request = match (address, subnet_id) {
            (Some(ip), s) => Some(vec![IpRequest::Address {
                subnet_id: s,
                ip: ipam::parse_ip(&ip).ok_or_else(|| {
                    invalid_attr(
                        "floating_ip_address",
                        format!("'{ip}' is not a valid IP address"),
                    )
                })?,
            }]),
            (None, Some(s)) => Some(vec![IpRequest::Subnet(s)]),
            (None, None) => None,
        };
        let id = new_id();
        let now = now_micros();
        let port = Port {
            id: new_id(),
            network_id: network.id.clone(),
            project_id: String::new(),
            name: String::new(),
            description: String::new(),
            mac_address: String::new(),
            admin_state_up: true,
            device_id: id.clone(),
            device_owner: owner::FLOATINGIP.into(),
            host_id: String::new(),
            port_security_enabled: false,
            allowed_address_pairs: Vec::new(),
            fixed_ips: Vec::new(),
            security_groups: Vec::new(),
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        let spec = PortSpec {
            fixed_ips: request,
            mac: None,
        };
        let port = self
            .port_insert_allocating(&network, port, spec, Vec::new())
            .await?;
        let Some(v4) = port
            .fixed_ips
            .iter()
            .find(|f| f.ip_address.contains('.'))
            .cloned()
        else {
            store::ports::port_delete(self.pool(), &port.id).await?;
            return Err(bad_resource_request(
                "floatingip",
                format!("Network {network_id} does not contain any IPv4 subnet"),
            ));
        };
        let mut fip = FloatingIp {
            id,
            project_id,
            description,
            floating_network_id: network.id.clone(),
            floating_port_id: port.id.clone(),
            floating_ip_address: v4.ip_address,
            port_id: None,
            fixed_ip_address: None,
            router_id: None,
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        if let Some(pid) = port_id
            && let Err(e) = self.floatingip_associate(ctx, &mut fip, &pid, fixed).await
        {
            store::ports::port_delete(self.pool(), &port.id).await?;
            return Err(e);
        }
        store::floatingips::floatingip_insert(self.pool(), &fip).await?;
        Ok(fip)
    }

    /// Fills in the association of `fip` with `port_id`: the fixed IPv4
    /// address and the router that joins the port's subnet to the floating
    /// network.
    async fn floatingip_associate(
        &self,
        ctx: &RequestContext,
        fip: &mut FloatingIp,
        port_id: &str,
        fixed: Option<String>,
    ) -> Result<(), ApiError> {
        let port = self.port_visible(ctx, port_id).await?;
        if port.device_owner.starts_with("network:") {
            return Err(bad_resource_request(
                "floatingip",
                format!(
                    "Port {port_id} has owner {} and therefore cannot be associated with a floating IP",
                    port.device_owner
                ),
            ));
        }
        let v4: Vec<_> = port
            .fixed_ips
            .iter()
            .filter(|f| f.ip_address.contains('.'))
            .collect();
        let chosen = match fixed {
            Some(ip) => v4
                .iter()
                .find(|f| f.ip_address == ip)
                .copied()
                .ok_or_else(|| {
                    bad_resource_request(
                        "floatingip",
                        format!("Port {port_id} does not have fixed ip {ip}"),
                    )
                })?,
            None => match v4.as_slice() {
                [one] => *one,
                [] => {
                    return Err(bad_resource_request(
                        "floatingip",
                        format!("Port {port_id} does not have any fixed IPv4 address"),
                    ));
                }
                _ => {
                    return Err(bad_request(format!(
                        "Port {port_id} has multiple fixed IPv4 addresses. Must provide a specific IPv4 address when assigning a floating IP"
                    )));
                }
            },
        };
        for other in store::floatingips::floatingips_of_port(self.pool(), port_id).await? {
            if other.id != fip.id
                && other.fixed_ip_address.as_deref() == Some(&chosen.ip_address)
                && other.floating_network_id == fip.floating_network_id
            {
                return Err(conflict(
                    "FloatingIPPortAlreadyAssociated",
                    format!(
                        "Cannot associate floating IP {} ({}) with port {port_id} using fixed IP {}, as that fixed IP already has a floating IP on external network {}.",
                        fip.floating_ip_address, fip.id, chosen.ip_address, fip.floating_network_id
                    ),
                ));
            }
        }
        let router_id = self.router_for(&chosen.subnet_id, &fip.floating_network_id).await?.ok_or_else(|| {
            not_found(
                "ExternalGatewayForFloatingIPNotFound",
                format!("External network {} is not reachable from subnet {}.  Therefore, cannot associate Port {port_id} with a Floating IP.", fip.floating_network_id, chosen.subnet_id),
            )
        })?;
        fip.port_id = Some(port.id.clone());
        fip.fixed_ip_address = Some(chosen.ip_address.clone());
        fip.router_id = Some(router_id);
        Ok(())
    }

    /// A router with an interface on `subnet_id` and its gateway on
    /// `external_network_id`.
    pub(crate) async fn router_for(
        &self,
        subnet_id: &str,
        external_network_id: &str,
    ) -> Result<Option<String>, ApiError> {
        let interfaces = store::ports::port_list(
            self.pool(),
            &store::ports::PortQuery {
                device_owner: Some(owner::ROUTER_INTERFACE),
                ..Default::default()
            },
        )
        .await?;
        for p in interfaces
            .iter()
            .filter(|p| p.fixed_ips.iter().any(|f| f.subnet_id == subnet_id))
        {
            if let Some(r) = store::routers::router_get(self.pool(), &p.device_id).await?
                && let Some(gw) = &r.gw_port_id
                && let Some(gw_port) = store::ports::port_get(self.pool(), gw).await?
                && gw_port.network_id == external_network_id
            {
                return Ok(Some(r.id));
            }
        }
        Ok(None)
    }

    /// `PUT /v2.0/floatingips/{id}`: associate (`port_id`), disassociate
    /// (`port_id: null`), or change the description.
    pub async fn floatingip_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        mut a: Attrs,
    ) -> Result<FloatingIp, ApiError> {
        require_write(ctx, "update_floatingip")?;
        let mut fip = self.floatingip_visible(ctx, id).await?;
        let port = match a.take("port_id") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s)),
            Some(other) => {
                return Err(invalid_attr(
                    "port_id",
                    format!("'{other}' is not a valid UUID"),
                ));
            }
        };
        let fixed = a.nullable_string("fixed_ip_address", 64)?.flatten();
        if let Some(d) = a.string("description", 255)? {
            fip.description = d;
        }
        a.take("qos_policy_id");
        a.finish("PUT")?;
        match port {
            Some(Some(pid)) => {
                self.floatingip_associate(ctx, &mut fip, &pid, fixed)
                    .await?
            }
            Some(None) => {
                fip.port_id = None;
                fip.fixed_ip_address = None;
                fip.router_id = None;
            }
            None => {}
        }
        fip.revision_number += 1;
        fip.updated_at = now_micros();
        store::floatingips::floatingip_update(self.pool(), &fip).await?;
        Ok(fip)
    }

    /// `DELETE /v2.0/floatingips/{id}`: the address goes back to the pool.
    pub async fn floatingip_delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        require_write(ctx, "delete_floatingip")?;
        let fip = self.floatingip_visible(ctx, id).await?;
        store::floatingips::floatingip_delete(self.pool(), id).await?;
        store::ports::port_delete(self.pool(), &fip.floating_port_id).await?;
        Ok(())
    }

    /// Floating IPs on a port, for compute's `addresses`.
    pub(crate) async fn floatingips_of_port(
        &self,
        port_id: &str,
    ) -> Result<Vec<FloatingIp>, ApiError> {
        Ok(store::floatingips::floatingips_of_port(self.pool(), port_id).await?)
    }
}
