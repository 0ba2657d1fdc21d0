//! Routers: gateway on an external network (with SNAT flag), interfaces by
//! subnet or port. Interfaces and gateways are ports owned by the router.

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;
use serde_json::Value;

use super::input::{Attrs, to_bool};
use super::model::{FixedIp, Port, Router, owner};
use super::ports::{PortSpec, parse_fixed_ips};
use super::{NetworkService, new_id, require_read, require_write, scope};
use crate::error::{
    bad_resource_request, conflict, not_found, policy, port_not_found, router_not_found,
};
use crate::ipam::Cidr;
use crate::store;
use crate::store::ports::PortQuery;

/// A router with its gateway port, as the API shows it.
#[derive(Debug, Clone)]
pub struct RouterView {
    /// The router.
    pub router: Router,
    /// Its gateway port, if it has a gateway.
    pub gateway: Option<Port>,
}

/// What `add_router_interface` / `remove_router_interface` answer.
#[derive(Debug, Clone)]
pub struct InterfaceInfo {
    /// The router.
    pub router_id: String,
    /// Its project.
    pub project_id: String,
    /// The interface port.
    pub port_id: String,
    /// The first subnet.
    pub subnet_id: String,
    /// All subnets of the port.
    pub subnet_ids: Vec<String>,
    /// The port's network.
    pub network_id: String,
}

/// A requested gateway.
struct Gateway {
    network_id: String,
    enable_snat: Option<bool>,
    fixed_ips: Option<Vec<super::ports::IpRequest>>,
}

fn parse_gateway(value: Value) -> Result<Option<Gateway>, ApiError> {
    let bad = |m: &str| crate::error::invalid_attr("external_gateway_info", m);
    let mut map = match value {
        Value::Null => return Ok(None),
        Value::Object(m) if m.is_empty() => return Ok(None),
        Value::Object(m) => m,
        other => return Err(bad(&format!("'{other}' is not a dictionary"))),
    };
    let network_id = match map.remove("network_id") {
        Some(Value::String(s)) => s,
        _ => {
            return Err(bad(
                "Validation of dictionary's keys failed. Expected keys: {'network_id'}",
            ));
        }
    };
    let enable_snat = match map.remove("enable_snat") {
        None | Some(Value::Null) => None,
        Some(v) => {
            Some(to_bool(&v).ok_or_else(|| bad(&format!("'{v}' cannot be converted to boolean")))?)
        }
    };
    let fixed_ips = match map.remove("external_fixed_ips") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(parse_fixed_ips(
            items
                .into_iter()
                .map(|v| match v {
                    Value::Object(m) => Ok(m),
                    other => Err(bad(&format!("'{other}' is not a dictionary"))),
                })
                .collect::<Result<Vec<_>, _>>()?,
        )?),
        Some(other) => return Err(bad(&format!("'{other}' is not a list"))),
    };
    if let Some(k) = map.keys().next() {
        return Err(bad(&format!("Unrecognized key '{k}'")));
    }
    Ok(Some(Gateway {
        network_id,
        enable_snat,
        fixed_ips,
    }))
}

impl NetworkService {
    async fn router_view(&self, router: Router) -> Result<RouterView, ApiError> {
        let gateway = match &router.gw_port_id {
            Some(id) => store::ports::port_get(self.pool(), id).await?,
            None => None,
        };
        Ok(RouterView { router, gateway })
    }

    /// The router `id` if the caller may see it.
    pub async fn router_visible(&self, ctx: &RequestContext, id: &str) -> Result<Router, ApiError> {
        require_read(ctx, "get_router")?;
        match store::routers::router_get(self.pool(), id).await? {
            Some(r) if ctx.may_see_project(&r.project_id) => Ok(r),
            _ => Err(router_not_found(id)),
        }
    }

    /// One router with its gateway.
    pub async fn router_show(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<RouterView, ApiError> {
        let r = self.router_visible(ctx, id).await?;
        self.router_view(r).await
    }

    /// Routers the caller may see.
    pub async fn router_list(&self, ctx: &RequestContext) -> Result<Vec<RouterView>, ApiError> {
        require_read(ctx, "get_router")?;
        let mut out = Vec::new();
        for r in store::routers::router_list(self.pool(), scope(ctx)).await? {
            out.push(self.router_view(r).await?);
        }
        Ok(out)
    }

    /// `POST /v2.0/routers`.
    pub async fn router_create(
        &self,
        ctx: &RequestContext,
        mut a: Attrs,
    ) -> Result<RouterView, ApiError> {
        require_write(ctx, "create_router")?;
        let project_id = a.owner(ctx)?;
        let name = a.string("name", 255)?.unwrap_or_default();
        let description = a.string("description", 255)?.unwrap_or_default();
        let admin_state_up = a.boolean("admin_state_up")?.unwrap_or(true);
        let gateway = a
            .take("external_gateway_info")
            .map(parse_gateway)
            .transpose()?
            .flatten();
        for ignored in ["availability_zone_hints", "flavor_id"] {
            a.take(ignored);
        }
        if let Some(v) = a.boolean("distributed")?.or(a.boolean("ha")?)
            && v
        {
            return Err(bad_resource_request(
                "router",
                "distributed and HA routers are not supported",
            ));
        }
        a.finish("POST")?;
        self.quota_check(&project_id, "router", 1).await?;
        let now = now_micros();
        let router = Router {
            id: new_id(),
            project_id,
            name,
            description,
            admin_state_up,
            gw_port_id: None,
            enable_snat: true,
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        store::routers::router_insert(self.pool(), &router).await?;
        let view = RouterView {
            router,
            gateway: None,
        };
        match gateway {
            Some(g) => match self.router_set_gateway(ctx, view.router.clone(), g).await {
                Ok(v) => Ok(v),
                Err(e) => {
                    store::routers::router_delete(self.pool(), &view.router.id).await?;
                    Err(e)
                }
            },
            None => Ok(view),
        }
    }

    async fn router_set_gateway(
        &self,
        ctx: &RequestContext,
        mut router: Router,
        g: Gateway,
    ) -> Result<RouterView, ApiError> {
        if g.enable_snat.is_some() && !ctx.is_admin() {
            return Err(policy("update_router:external_gateway_info:enable_snat"));
        }
        if g.fixed_ips.is_some() && !ctx.is_admin() {
            return Err(policy(
                "update_router:external_gateway_info:external_fixed_ips",
            ));
        }
        let network = self.network_visible(ctx, &g.network_id).await?;
        if !network.external {
            return Err(bad_resource_request(
                "router",
                format!("Network {} is not an external network", network.id),
            ));
        }
        let current = match &router.gw_port_id {
            Some(id) => store::ports::port_get(self.pool(), id).await?,
            None => None,
        };
        let same_network = current.as_ref().is_some_and(|p| p.network_id == network.id);
        if !same_network || g.fixed_ips.is_some() {
            if current.is_some() {
                self.router_clear_gateway_checked(&router).await?;
            }
            let now = now_micros();
            let port = Port {
                id: new_id(),
                network_id: network.id.clone(),
                project_id: String::new(),
                name: String::new(),
                description: String::new(),
                mac_address: String::new(),
                admin_state_up: true,
                device_id: router.id.clone(),
                device_owner: owner::ROUTER_GATEWAY.into(),
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
                fixed_ips: g.fixed_ips,
                mac: None,
            };
            let port = self
                .port_insert_allocating(&network, port, spec, Vec::new())
                .await?;
            router.gw_port_id = Some(port.id);
        }
        router.enable_snat = g.enable_snat.unwrap_or(true);
        router.revision_number += 1;
        router.updated_at = now_micros();
        store::routers::router_update(self.pool(), &router).await?;
        self.router_view(router).await
    }

    /// Removes the gateway unless floating IPs need it.
    async fn router_clear_gateway_checked(&self, router: &Router) -> Result<(), ApiError> {
        let Some(gw) = &router.gw_port_id else {
            return Ok(());
        };
        let fips = store::floatingips::floatingips_of_router(self.pool(), &router.id).await?;
        if let Some(port) = store::ports::port_get(self.pool(), gw).await? {
            if !fips.is_empty() {
                return Err(conflict(
                    "RouterExternalGatewayInUseByFloatingIp",
                    format!(
                        "Gateway cannot be updated for router {}, since a gateway to external network {} is required by one or more floating IPs.",
                        router.id, port.network_id
                    ),
                ));
            }
            store::ports::port_delete(self.pool(), &port.id).await?;
        }
        Ok(())
    }

    /// `PUT /v2.0/routers/{id}`.
    pub async fn router_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        mut a: Attrs,
    ) -> Result<RouterView, ApiError> {
        require_write(ctx, "update_router")?;
        let mut router = self.router_visible(ctx, id).await?;
        if let Some(v) = a.string("name", 255)? {
            router.name = v;
        }
        if let Some(v) = a.string("description", 255)? {
            router.description = v;
        }
        if let Some(v) = a.boolean("admin_state_up")? {
            router.admin_state_up = v;
        }
        let gateway = a
            .take("external_gateway_info")
            .map(parse_gateway)
            .transpose()?;
        if a.take("routes")
            .is_some_and(|r| r.as_array().is_none_or(|l| !l.is_empty()))
        {
            return Err(bad_resource_request(
                "router",
                "extra routes are not supported",
            ));
        }
        a.finish("PUT")?;
        router.revision_number += 1;
        router.updated_at = now_micros();
        store::routers::router_update(self.pool(), &router).await?;
        match gateway {
            None => self.router_view(router).await,
            Some(Some(g)) => self.router_set_gateway(ctx, router, g).await,
            Some(None) => {
                self.router_clear_gateway_checked(&router).await?;
                router.gw_port_id = None;
                router.enable_snat = true;
                store::routers::router_update(self.pool(), &router).await?;
                self.router_view(router).await
            }
        }
    }

    /// `DELETE /v2.0/routers/{id}`: 409 `RouterInUse` while it has interfaces.
    pub async fn router_delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        require_write(ctx, "delete_router")?;
        let router = self.router_visible(ctx, id).await?;
        let interfaces = self.router_interfaces(id).await?;
        if !interfaces.is_empty() {
            return Err(conflict(
                "RouterInUse",
                format!("Router {id} still has ports"),
            ));
        }
        self.router_clear_gateway_checked(&router).await?;
        store::routers::router_delete(self.pool(), id).await?;
        Ok(())
    }

    /// The interface ports of a router.
    pub(crate) async fn router_interfaces(&self, router_id: &str) -> Result<Vec<Port>, ApiError> {
        Ok(store::ports::port_list(
            self.pool(),
            &PortQuery {
                device_id: Some(router_id),
                device_owner: Some(owner::ROUTER_INTERFACE),
                ..Default::default()
            },
        )
        .await?)
    }

    fn interface_info(router: &Router, port: &Port) -> InterfaceInfo {
        let subnet_ids: Vec<String> = port.fixed_ips.iter().map(|f| f.subnet_id.clone()).collect();
        InterfaceInfo {
            router_id: router.id.clone(),
            project_id: router.project_id.clone(),
            port_id: port.id.clone(),
            subnet_id: subnet_ids.first().cloned().unwrap_or_default(),
            subnet_ids,
            network_id: port.network_id.clone(),
        }
    }

    fn interface_target(a: &mut Attrs) -> Result<(Option<String>, Option<String>), ApiError> {
        let subnet = a.string("subnet_id", 255)?;
        let port = a.string("port_id", 255)?;
        match (&subnet, &port) {
            (None, None) => Err(bad_resource_request(
                "router",
                "Either subnet_id or port_id must be specified",
            )),
            (Some(_), Some(_)) => Err(bad_resource_request(
                "router",
                "Cannot specify both subnet-id and port-id",
            )),
            _ => Ok((subnet, port)),
        }
    }

    /// `PUT /v2.0/routers/{id}/add_router_interface`.
    pub async fn router_add_interface(
        &self,
        ctx: &RequestContext,
        id: &str,
        mut a: Attrs,
    ) -> Result<InterfaceInfo, ApiError> {
        require_write(ctx, "add_router_interface")?;
        let router = self.router_visible(ctx, id).await?;
        let (subnet_id, port_id) = Self::interface_target(&mut a)?;
        a.finish("PUT")?;
        let existing = self.router_interfaces(id).await?;
        let attached: Vec<String> = existing
            .iter()
            .flat_map(|p| p.fixed_ips.iter().map(|f| f.subnet_id.clone()))
            .collect();
        if let Some(port_id) = port_id {
            let mut port = self.port_visible(ctx, &port_id).await?;
            if !port.device_id.is_empty() || !port.device_owner.is_empty() {
                return Err(conflict(
                    "PortInUse",
                    format!(
                        "Unable to complete operation on port {port_id} for network {}. Port already has an attached device {}.",
                        port.network_id, port.device_id
                    ),
                ));
            }
            if port.fixed_ips.is_empty() {
                return Err(bad_resource_request(
                    "router",
                    "Router port must have at least one fixed IP",
                ));
            }
            for f in &port.fixed_ips {
                self.check_interface_subnet(&router, &f.subnet_id, &attached)
                    .await?;
            }
            port.device_id = router.id.clone();
            port.device_owner = owner::ROUTER_INTERFACE.into();
            port.security_groups.clear();
            port.revision_number += 1;
            port.updated_at = now_micros();
            store::ports::port_update(self.pool(), &port).await?;
            return Ok(Self::interface_info(&router, &port));
        }
        let subnet_id = subnet_id.unwrap_or_default();
        let subnet = self.subnet_visible(ctx, &subnet_id).await?;
        let Some(gateway) = subnet.gateway_ip.clone() else {
            return Err(bad_resource_request(
                "router",
                "Subnet for router interface must have a gateway IP",
            ));
        };
        self.check_interface_subnet(&router, &subnet.id, &attached)
            .await?;
        let network = store::networks::network_get(self.pool(), &subnet.network_id)
            .await?
            .ok_or_else(|| crate::error::subnet_not_found(&subnet_id))?;
        let now = now_micros();
        let port = Port {
            id: new_id(),
            network_id: network.id.clone(),
            project_id: router.project_id.clone(),
            name: String::new(),
            description: String::new(),
            mac_address: String::new(),
            admin_state_up: true,
            device_id: router.id.clone(),
            device_owner: owner::ROUTER_INTERFACE.into(),
            host_id: String::new(),
            port_security_enabled: false,
            allowed_address_pairs: Vec::new(),
            fixed_ips: Vec::new(),
            security_groups: Vec::new(),
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        let ip = gateway.parse().map_err(ApiError::internal)?;
        let spec = PortSpec {
            fixed_ips: Some(vec![super::ports::IpRequest::Address {
                subnet_id: Some(subnet.id.clone()),
                ip,
            }]),
            mac: None,
        };
        let port = self
            .port_insert_allocating(&network, port, spec, Vec::new())
            .await?;
        Ok(Self::interface_info(&router, &port))
    }

    /// Refuses a second interface on a subnet, or one overlapping another.
    async fn check_interface_subnet(
        &self,
        router: &Router,
        subnet_id: &str,
        attached: &[String],
    ) -> Result<(), ApiError> {
        if attached.iter().any(|s| s == subnet_id) {
            return Err(bad_resource_request(
                "router",
                format!("Router already has a port on subnet {subnet_id}"),
            ));
        }
        let Some(subnet) = store::subnets::subnet_get(self.pool(), subnet_id).await? else {
            return Ok(());
        };
        let cidr = Cidr::parse(&subnet.cidr).map_err(ApiError::internal)?;
        for other_id in attached {
            if let Some(other) = store::subnets::subnet_get(self.pool(), other_id).await?
                && let Ok(o) = Cidr::parse(&other.cidr)
                && o.version() == cidr.version()
                && (o.contains(cidr.network) || cidr.contains(o.network))
            {
                return Err(bad_resource_request(
                    "router",
                    format!(
                        "Cidr {} of subnet {} overlaps with cidr {} of subnet {} on router {}",
                        subnet.cidr, subnet.id, other.cidr, other.id, router.id
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `PUT /v2.0/routers/{id}/remove_router_interface`.
    pub async fn router_remove_interface(
        &self,
        ctx: &RequestContext,
        id: &str,
        mut a: Attrs,
    ) -> Result<InterfaceInfo, ApiError> {
        require_write(ctx, "remove_router_interface")?;
        let router = self.router_visible(ctx, id).await?;
        let (subnet_id, port_id) = Self::interface_target(&mut a)?;
        a.finish("PUT")?;
        let interfaces = self.router_interfaces(id).await?;
        let port = match (&subnet_id, &port_id) {
            (_, Some(pid)) => interfaces
                .into_iter()
                .find(|p| &p.id == pid)
                .ok_or_else(|| {
                    not_found(
                        "RouterInterfaceNotFound",
                        format!("Router {id} does not have an interface with id {pid}"),
                    )
                })?,
            (Some(sid), None) => interfaces
                .into_iter()
                .find(|p| p.fixed_ips.iter().any(|f| &f.subnet_id == sid))
                .ok_or_else(|| {
                    not_found(
                        "RouterInterfaceNotFoundForSubnet",
                        format!("Router {id} has no interface on subnet {sid}"),
                    )
                })?,
            (None, None) => return Err(port_not_found("")),
        };
        let info = Self::interface_info(&router, &port);
        self.check_interface_unused(&router, &port.fixed_ips)
            .await?;
        store::ports::port_delete(self.pool(), &port.id).await?;
        Ok(info)
    }

    /// 409 when a floating IP translates through this interface.
    async fn check_interface_unused(
        &self,
        router: &Router,
        ips: &[FixedIp],
    ) -> Result<(), ApiError> {
        for f in store::floatingips::floatingips_of_router(self.pool(), &router.id).await? {
            let Some(pid) = &f.port_id else { continue };
            let Some(p) = store::ports::port_get(self.pool(), pid).await? else {
                continue;
            };
            for ip in ips {
                if p.fixed_ips.iter().any(|x| x.subnet_id == ip.subnet_id) {
                    return Err(conflict(
                        "RouterInterfaceInUseByFloatingIP",
                        format!(
                            "Router interface for subnet {} on router {} cannot be deleted, as it is required by one or more floating IPs.",
                            ip.subnet_id, router.id
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
