//! The in-process API the compute service calls (nova's `network.neutron`
//! API): give a server ports, take them away, describe its addresses and
//! the network info guests are configured from.

use std::collections::BTreeMap;
use std::net::IpAddr;

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;
use serde_json::{Value, json};

use crate::app::NetworkService;
use crate::app::model::{HostRoute, Network, Port};
use crate::app::ports::{IpRequest, PortSpec};
use crate::error::{bad_request, conflict, policy};
use crate::ipam::Cidr;
use crate::store;

/// What `networks` in a server create asks for.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestedNetworks {
    /// `"none"`: no NIC.
    None,
    /// `"auto"` (or nothing given): the one network the project can use.
    #[default]
    Auto,
    /// Explicit NICs, in order.
    List(Vec<RequestedNic>),
}

/// One requested NIC: a network (with an optional fixed address) or an
/// existing port.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RequestedNic {
    /// `uuid` / `net-id`.
    pub network_id: Option<String>,
    /// `fixed_ip` / `v4-fixed-ip` / `v6-fixed-ip`.
    pub fixed_ip: Option<IpAddr>,
    /// `port` / `port-id`.
    pub port_id: Option<String>,
}

/// An address of a VIF with its floating IPs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VifIp {
    /// The fixed address.
    pub address: String,
    /// Floating addresses translated to it.
    pub floating_ips: Vec<String>,
}

/// A subnet as a VIF sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VifSubnet {
    /// CIDR.
    pub cidr: String,
    /// 4 or 6.
    pub ip_version: u8,
    /// Gateway.
    pub gateway: Option<String>,
    /// DNS servers.
    pub dns_nameservers: Vec<String>,
    /// Host routes.
    pub host_routes: Vec<HostRoute>,
    /// Neutron's `enable_dhcp`.
    pub enable_dhcp: bool,
    /// `ipv6_address_mode`.
    pub ipv6_address_mode: Option<String>,
    /// The port's addresses on it.
    pub ips: Vec<VifIp>,
}

/// One NIC of a server (nova's `VIF` in `network_info`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceVif {
    /// The port.
    pub port_id: String,
    /// The guest NIC's MAC.
    pub mac_address: String,
    /// The network.
    pub network_id: String,
    /// The network's name (nova's `label`, the key in `addresses`).
    pub network_name: String,
    /// Link MTU.
    pub mtu: i64,
    /// The VIF type of the dataplane.
    pub vif_type: String,
    /// Whether the port existed before the server (kept on delete).
    pub preserve_on_delete: bool,
    /// Subnets with the port's addresses.
    pub subnets: Vec<VifSubnet>,
    /// Names of the port's security groups.
    pub security_groups: Vec<String>,
}

impl InstanceVif {
    /// The config drive's model of this VIF (`network_data.json`; nova's
    /// `network_info` entry). `injected` is nova's `flat_injected`: whether
    /// the network is written into the guest's interfaces file.
    pub fn to_configdrive(&self, injected: bool) -> nimbus_configdrive::instance::Vif {
        use nimbus_configdrive::instance as cd;
        cd::Vif {
            id: self.port_id.clone(),
            address: Some(self.mac_address.clone()),
            vif_type: Some(self.vif_type.clone()),
            devname: Some(format!(
                "tap{}",
                self.port_id.get(..11).unwrap_or(&self.port_id)
            )),
            network: Some(cd::Network {
                id: self.network_id.clone(),
                label: Some(self.network_name.clone()),
                subnets: self
                    .subnets
                    .iter()
                    .map(|s| cd::Subnet {
                        cidr: s.cidr.clone(),
                        version: Some(s.ip_version),
                        dns: s
                            .dns_nameservers
                            .iter()
                            .map(|d| cd::IpRef { address: d.clone() })
                            .collect(),
                        gateway: s.gateway.clone().map(|g| cd::IpRef { address: g }),
                        ips: s
                            .ips
                            .iter()
                            .map(|ip| cd::FixedIp {
                                address: ip.address.clone(),
                                floating_ips: ip
                                    .floating_ips
                                    .iter()
                                    .map(|f| cd::IpRef { address: f.clone() })
                                    .collect(),
                            })
                            .collect(),
                        routes: s
                            .host_routes
                            .iter()
                            .map(|r| cd::Route {
                                cidr: r.destination.clone(),
                                gateway: cd::IpRef {
                                    address: r.nexthop.clone(),
                                },
                            })
                            .collect(),
                        meta: cd::SubnetMeta {
                            // Nova tells a guest to use DHCP when the subnet has a
                            // DHCP port (`dhcp_server`). None runs on this dataplane,
                            // so the guest is configured statically with its port's
                            // address, whatever the subnet's `enable_dhcp` says.
                            dhcp_server: None,
                            enable_dhcp: None,
                            ipv6_address_mode: s.ipv6_address_mode.clone(),
                        },
                    })
                    .collect(),
                meta: cd::NetworkMeta {
                    mtu: u32::try_from(self.mtu).ok(),
                    injected: Some(injected),
                },
            }),
        }
    }
}

/// Nova's `addresses` of a server (`views/addresses.py`): network name ->
/// the fixed addresses, then the floating ones, each with its version;
/// `extended` adds `OS-EXT-IPS:type` and `OS-EXT-IPS-MAC:mac_addr` (the
/// server view has them, `/servers/{id}/ips` does not).
pub fn addresses(vifs: &[InstanceVif], extended: bool) -> Value {
    let mut out: BTreeMap<String, (Vec<Value>, Vec<Value>)> = BTreeMap::new();
    let entry = |version: u8, addr: &str, kind: &str, mac: &str| {
        let mut v = json!({"version": version, "addr": addr});
        if extended {
            v["OS-EXT-IPS:type"] = json!(kind);
            v["OS-EXT-IPS-MAC:mac_addr"] = json!(mac);
        }
        v
    };
    for vif in vifs {
        let (fixed, floating) = out.entry(vif.network_name.clone()).or_default();
        for s in &vif.subnets {
            for ip in &s.ips {
                fixed.push(entry(s.ip_version, &ip.address, "fixed", &vif.mac_address));
                for f in &ip.floating_ips {
                    floating.push(entry(4, f, "floating", &vif.mac_address));
                }
            }
        }
    }
    let out: serde_json::Map<String, Value> = out
        .into_iter()
        .map(|(name, (mut fixed, floating))| {
            fixed.extend(floating);
            (name, Value::Array(fixed))
        })
        .collect();
    Value::Object(out)
}

/// Nova's `security_groups` of a server: the names of its ports' groups,
/// each once.
pub fn security_groups(vifs: &[InstanceVif]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in vifs.iter().flat_map(|v| &v.security_groups) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

fn port_in_use(port: &Port) -> ApiError {
    conflict(
        "PortInUse",
        format!(
            "Unable to complete operation on port {} for network {}. Port already has an attached device {}.",
            port.id, port.network_id, port.device_id
        ),
    )
}

impl NetworkService {
    /// Gives server `instance_id` on `host` its NICs: creates ports on the
    /// requested networks (`device_owner` `compute:<az>`) or binds the
    /// requested existing ports. On failure, what was done is undone.
    /// `Auto` with no usable network gives no NIC (the caller decides what
    /// the guest gets then). The VIFs come back in the requested order.
    pub async fn allocate_for_instance(
        &self,
        ctx: &RequestContext,
        instance_id: &str,
        host: &str,
        requested: &RequestedNetworks,
    ) -> Result<Vec<InstanceVif>, ApiError> {
        let project = ctx.require_project()?.to_string();
        let nics = match requested {
            RequestedNetworks::None => return Ok(Vec::new()),
            RequestedNetworks::Auto => match self.auto_network(ctx).await? {
                Some(network) => vec![RequestedNic {
                    network_id: Some(network.id),
                    ..Default::default()
                }],
                None => return Ok(Vec::new()),
            },
            RequestedNetworks::List(list) => list.clone(),
        };
        let mut done: Vec<(String, bool)> = Vec::new();
        for nic in &nics {
            let result = self
                .allocate_one(ctx, &project, instance_id, host, nic)
                .await;
            match result {
                Ok(entry) => done.push(entry),
                Err(e) => {
                    for (port_id, preserve) in &done {
                        self.release_port(port_id, *preserve).await?;
                    }
                    return Err(e);
                }
            }
        }
        let mut vifs = self.instance_vifs(ctx, instance_id).await?;
        let position = |v: &InstanceVif| {
            done.iter()
                .position(|(id, _)| *id == v.port_id)
                .unwrap_or(usize::MAX)
        };
        vifs.sort_by_key(position);
        Ok(vifs)
    }

    async fn allocate_one(
        &self,
        ctx: &RequestContext,
        project: &str,
        instance_id: &str,
        host: &str,
        nic: &RequestedNic,
    ) -> Result<(String, bool), ApiError> {
        let device_owner = format!("compute:{}", self.config.default_availability_zone);
        if let Some(port_id) = &nic.port_id {
            let mut port = self.port_visible(ctx, port_id).await?;
            if !port.device_id.is_empty() {
                return Err(port_in_use(&port));
            }
            if port.fixed_ips.is_empty() {
                return Err(bad_request(format!(
                    "Port {port_id} requires a FixedIP in order to be used."
                )));
            }
            port.device_id = instance_id.to_string();
            port.device_owner = device_owner;
            port.host_id = host.to_string();
            port.revision_number += 1;
            port.updated_at = now_micros();
            store::ports::port_update(self.pool(), &port).await?;
            store::instance_ports::record(self.pool(), &port.id, instance_id, true).await?;
            self.dataplane.port_bound(&port, host);
            return Ok((port.id, true));
        }
        let network_id = nic
            .network_id
            .clone()
            .ok_or_else(|| bad_request("A network or a port is required for each NIC."))?;
        let network = self.network_visible(ctx, &network_id).await?;
        if network.external && !network.shared && !ctx.is_admin() {
            return Err(policy("create_port:network:external"));
        }
        self.quota_check(project, "port", 1).await?;
        let now = now_micros();
        let port = Port {
            id: crate::app::new_id(),
            network_id: network.id.clone(),
            project_id: project.to_string(),
            name: String::new(),
            description: String::new(),
            mac_address: String::new(),
            admin_state_up: true,
            device_id: instance_id.to_string(),
            device_owner,
            host_id: host.to_string(),
            port_security_enabled: network.port_security_enabled,
            allowed_address_pairs: Vec::new(),
            fixed_ips: Vec::new(),
            security_groups: if network.port_security_enabled {
                vec![self.default_security_group(project).await?]
            } else {
                Vec::new()
            },
            revision_number: 1,
            created_at: now,
            updated_at: now,
        };
        let spec = PortSpec {
            fixed_ips: nic.fixed_ip.map(|ip| {
                vec![IpRequest::Address {
                    subnet_id: None,
                    ip,
                }]
            }),
            mac: None,
        };
        let port = self
            .port_insert_allocating(&network, port, spec, Vec::new())
            .await?;
        if let Err(e) =
            store::instance_ports::record(self.pool(), &port.id, instance_id, false).await
        {
            store::ports::port_delete(self.pool(), &port.id).await?;
            return Err(e.into());
        }
        self.dataplane.port_bound(&port, host);
        Ok((port.id, false))
    }

    /// Nova's `auto`: the single non-external network the project owns or
    /// shares (nova's `_get_available_networks`); several are 409
    /// `NetworkAmbiguous`; none is `None` (nova would ask neutron's
    /// auto-allocated topology, which Nimbus does not have).
    async fn auto_network(&self, ctx: &RequestContext) -> Result<Option<Network>, ApiError> {
        let project = ctx.require_project()?;
        let candidates: Vec<Network> = store::networks::network_list(self.pool(), Some(project))
            .await?
            .into_iter()
            .filter(|n| !n.external || n.shared)
            .collect();
        match candidates.as_slice() {
            [one] => Ok(Some(one.clone())),
            [] => Ok(None),
            _ => Err(conflict(
                "NetworkAmbiguous",
                "More than one possible network found. Specify network ID(s) to select which one(s) to connect to.",
            )),
        }
    }

    /// Nova's `validate_networks` (with the API's `_check_requested_networks`),
    /// run before the 202 so that a request that cannot get its NICs is
    /// refused at once with nova's errors: unknown network or port 400, a
    /// port bound elsewhere 409 `PortInUse`, a fixed IP outside the
    /// network's subnets or already used 400, a fixed IP or a port with
    /// `max_count` > 1 400, `auto` with several networks 409.
    pub async fn validate_networks(
        &self,
        ctx: &RequestContext,
        requested: &RequestedNetworks,
        max_count: u32,
    ) -> Result<(), ApiError> {
        let nics = match requested {
            RequestedNetworks::None => return Ok(()),
            RequestedNetworks::Auto => return self.auto_network(ctx).await.map(|_| ()),
            RequestedNetworks::List(nics) => nics,
        };
        if max_count > 1 {
            if nics.iter().any(|n| n.fixed_ip.is_some()) {
                return Err(ApiError::bad_request(
                    "Failed to launch instances: max_count cannot be greater than 1 if an \
                     fixed_ip is specified.",
                ));
            }
            if nics.iter().any(|n| n.port_id.is_some()) {
                return Err(ApiError::bad_request(
                    "Failed to launch instances: Unable to launch multiple instances with a \
                     single configured port ID. Please launch your instance one by one with \
                     different ports.",
                ));
            }
        }
        let mut ports_seen: Vec<&str> = Vec::new();
        for nic in nics {
            if let Some(port_id) = nic.port_id.as_deref() {
                let port = self.port_visible(ctx, port_id).await.map_err(|_| {
                    ApiError::bad_request(format!("Port id {port_id} could not be found."))
                })?;
                if !port.device_id.is_empty() || ports_seen.contains(&port_id) {
                    return Err(
                        ApiError::conflict(format!("Port {port_id} is still in use."))
                            .with_neutron_type("PortInUse"),
                    );
                }
                if port.fixed_ips.is_empty() {
                    return Err(ApiError::bad_request(format!(
                        "Port {port_id} requires a FixedIP in order to be used."
                    )));
                }
                ports_seen.push(port_id);
                continue;
            }
            let Some(network_id) = nic.network_id.as_deref() else {
                return Err(ApiError::bad_request("Bad network format: missing 'uuid'"));
            };
            let network = self.network_visible(ctx, network_id).await.map_err(|_| {
                ApiError::bad_request(format!("Network {network_id} could not be found."))
            })?;
            if network.external && !network.shared && !ctx.is_admin() {
                return Err(ApiError::forbidden(format!(
                    "It is not allowed to create an interface on external network {network_id}"
                )));
            }
            if let Some(ip) = nic.fixed_ip {
                let subnets = store::subnets::subnets_of_network(self.pool(), network_id).await?;
                let subnet = subnets
                    .iter()
                    .find(|s| Cidr::parse(&s.cidr).is_ok_and(|c| c.contains(ip)));
                let Some(subnet) = subnet else {
                    return Err(ApiError::bad_request(format!(
                        "Fixed IP address ({ip}) does not exist in network ({network_id})."
                    )));
                };
                if let Some(owner) =
                    store::ports::address_owner(self.pool(), &subnet.id, &ip.to_string()).await?
                {
                    let device = store::ports::port_get(self.pool(), &owner)
                        .await?
                        .map(|p| p.device_id)
                        .unwrap_or_default();
                    return Err(ApiError::bad_request(format!(
                        "Fixed IP address {ip} is already in use on instance {device}."
                    )));
                }
            }
        }
        Ok(())
    }

    /// Deletes the ports allocation created, unbinds the pre-existing ones.
    async fn release_port(&self, port_id: &str, preserve: bool) -> Result<(), ApiError> {
        let Some(port) = store::ports::port_get(self.pool(), port_id).await? else {
            return Ok(());
        };
        store::instance_ports::forget(self.pool(), port_id).await?;
        if preserve {
            store::ports::port_unbind(self.pool(), port_id, now_micros()).await?;
            self.dataplane.port_unplugged(&port);
            Ok(())
        } else {
            self.port_remove(&port).await
        }
    }

    /// Takes a deleted server's NICs away: ports it created are deleted
    /// (their addresses return to the pools), ports it was given are
    /// unbound and kept.
    pub async fn deallocate_for_instance(&self, instance_id: &str) -> Result<(), ApiError> {
        let records = store::instance_ports::of_instance(self.pool(), instance_id).await?;
        let recorded: Vec<&str> = records.iter().map(|(p, _)| p.as_str()).collect();
        for (port_id, preserve) in &records {
            self.release_port(port_id, *preserve).await?;
        }
        // Ports bound to the server through the port API are unbound too.
        let others = store::ports::port_list(
            self.pool(),
            &store::ports::PortQuery {
                device_id: Some(instance_id),
                ..Default::default()
            },
        )
        .await?;
        for p in others.iter().filter(|p| {
            p.device_owner.starts_with("compute:") && !recorded.contains(&p.id.as_str())
        }) {
            store::ports::port_unbind(self.pool(), &p.id, now_micros()).await?;
            self.dataplane.port_unplugged(p);
        }
        Ok(())
    }

    /// The NICs of a server, in creation order, with floating IPs.
    pub async fn instance_vifs(
        &self,
        ctx: &RequestContext,
        instance_id: &str,
    ) -> Result<Vec<InstanceVif>, ApiError> {
        let _ = ctx;
        let ports = store::ports::port_list(
            self.pool(),
            &store::ports::PortQuery {
                device_id: Some(instance_id),
                ..Default::default()
            },
        )
        .await?;
        let preserved: BTreeMap<String, bool> =
            store::instance_ports::of_instance(self.pool(), instance_id)
                .await?
                .into_iter()
                .collect();
        let mut out = Vec::new();
        for port in ports
            .iter()
            .filter(|p| p.device_owner.starts_with("compute:"))
        {
            let Some(network) = store::networks::network_get(self.pool(), &port.network_id).await?
            else {
                continue;
            };
            let fips = self.floatingips_of_port(&port.id).await?;
            let mut subnets: Vec<VifSubnet> = Vec::new();
            for s in store::subnets::subnets_of_network(self.pool(), &network.id).await? {
                let ips: Vec<VifIp> = port
                    .fixed_ips
                    .iter()
                    .filter(|f| f.subnet_id == s.id)
                    .map(|f| VifIp {
                        address: f.ip_address.clone(),
                        floating_ips: fips
                            .iter()
                            .filter(|x| x.fixed_ip_address.as_deref() == Some(&f.ip_address))
                            .map(|x| x.floating_ip_address.clone())
                            .collect(),
                    })
                    .collect();
                if ips.is_empty() {
                    continue;
                }
                subnets.push(VifSubnet {
                    cidr: s.cidr,
                    ip_version: s.ip_version,
                    gateway: s.gateway_ip,
                    dns_nameservers: s.dns_nameservers,
                    host_routes: s.host_routes,
                    enable_dhcp: s.enable_dhcp,
                    ipv6_address_mode: s.ipv6_address_mode,
                    ips,
                });
            }
            let mut security_groups = Vec::new();
            for id in &port.security_groups {
                if let Some(g) = store::security_groups::group_get(self.pool(), id).await? {
                    security_groups.push(g.name);
                }
            }
            out.push(InstanceVif {
                port_id: port.id.clone(),
                mac_address: port.mac_address.clone(),
                network_id: network.id.clone(),
                network_name: network.name.clone(),
                mtu: network.mtu,
                vif_type: self.dataplane.vif_type().to_string(),
                preserve_on_delete: preserved.get(&port.id).copied().unwrap_or(true),
                subnets,
                security_groups,
            });
        }
        Ok(out)
    }

    /// Nova's `addresses` of a server.
    pub async fn instance_addresses(
        &self,
        ctx: &RequestContext,
        instance_id: &str,
    ) -> Result<Value, ApiError> {
        Ok(addresses(
            &self.instance_vifs(ctx, instance_id).await?,
            true,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vif() -> InstanceVif {
        InstanceVif {
            port_id: "0123456789abcdef".into(),
            mac_address: "fa:16:3e:00:00:01".into(),
            network_id: "n".into(),
            network_name: "net1".into(),
            mtu: 1450,
            vif_type: "other".into(),
            preserve_on_delete: false,
            subnets: vec![VifSubnet {
                cidr: "192.168.0.0/24".into(),
                ip_version: 4,
                gateway: Some("192.168.0.1".into()),
                dns_nameservers: vec!["8.8.8.8".into()],
                host_routes: vec![],
                enable_dhcp: true,
                ipv6_address_mode: None,
                ips: vec![
                    VifIp {
                        address: "192.168.0.10".into(),
                        floating_ips: vec!["172.24.1.100".into()],
                    },
                    VifIp {
                        address: "192.168.0.11".into(),
                        floating_ips: vec![],
                    },
                ],
            }],
            security_groups: vec!["default".into(), "web".into()],
        }
    }

    #[test]
    fn addresses_have_novas_shape_fixed_first_then_floating() {
        let a = addresses(&[vif()], true);
        let list = a["net1"].as_array().unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0]["addr"], "192.168.0.10");
        assert_eq!(list[0]["OS-EXT-IPS:type"], "fixed");
        assert_eq!(list[0]["OS-EXT-IPS-MAC:mac_addr"], "fa:16:3e:00:00:01");
        assert_eq!(list[1]["addr"], "192.168.0.11");
        assert_eq!(list[2]["addr"], "172.24.1.100");
        assert_eq!(list[2]["OS-EXT-IPS:type"], "floating");
        let basic = addresses(&[vif()], false);
        assert_eq!(
            basic["net1"][0],
            json!({"version": 4, "addr": "192.168.0.10"})
        );
        let mut other = vif();
        other.security_groups = vec!["web".into()];
        assert_eq!(security_groups(&[vif(), other]), vec!["default", "web"]);
    }

    #[test]
    fn configdrive_model_carries_mac_floating_ips_and_injected() {
        let cd = vif().to_configdrive(false);
        assert_eq!(cd.address.as_deref(), Some("fa:16:3e:00:00:01"));
        let network = cd.network.unwrap();
        assert_eq!(network.meta.injected, Some(false));
        assert_eq!(
            network.subnets[0].ips[0].floating_ips[0].address,
            "172.24.1.100"
        );
        assert_eq!(
            vif().to_configdrive(true).network.unwrap().meta.injected,
            Some(true)
        );
    }
}
