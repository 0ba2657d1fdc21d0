//! `network_data.json`: nova's `netutils.get_network_metadata`, and the EC2 address summary.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::instance::{Subnet, Vif};
use crate::pyjson::Json;

/// VIF types nova passes through as the link type (`LEGACY_EXPOSED_VIF_TYPES`); others are `phy`.
const LEGACY_EXPOSED_VIF_TYPES: &[&str] = &[
    "bridge",
    "dvs",
    "hw_veb",
    "hyperv",
    "ovs",
    "tap",
    "vhostuser",
    "vif",
];

/// An address with a prefix length, as netaddr's `IPNetwork`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address as written (not masked).
    pub ip: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `addr/len` or a bare address (a host route, as netaddr reads it).
    pub fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let ip: IpAddr = addr.trim().parse().ok()?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
            None => max,
        };
        Some(Cidr { ip, prefix })
    }

    /// 4 or 6.
    pub fn version(&self) -> u8 {
        if self.ip.is_ipv4() { 4 } else { 6 }
    }

    /// The netmask in dotted (v4) or compressed (v6) form.
    pub fn netmask(&self) -> IpAddr {
        match self.ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(mask32(self.prefix))),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(mask128(self.prefix))),
        }
    }

    /// The network address (address with host bits cleared).
    pub fn network(&self) -> IpAddr {
        match self.ip {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(self.prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(self.prefix))),
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

fn first_subnet(vif: &Vif, version: u8) -> Option<&Subnet> {
    vif.network
        .as_ref()?
        .subnets
        .iter()
        .find(|s| s.ip_version() == Some(version))
}

/// `get_network_metadata`: links, networks and services, or `None` without network info.
pub fn network_metadata(network_info: &[Vif]) -> Option<Json> {
    if network_info.is_empty() {
        return None;
    }
    let mut links = Vec::new();
    let mut nets = Vec::new();
    let mut services: Vec<Json> = Vec::new();
    let mut ifc_num: i64 = -1;
    let mut net_num: i64 = -1;

    for vif in network_info {
        let Some(network) = &vif.network else {
            continue;
        };
        if network.subnets.is_empty() {
            continue;
        }
        let subnet_v4 = first_subnet(vif, 4);
        let subnet_v6 = first_subnet(vif, 6);
        ifc_num += 1;
        if subnet_v4.is_none() && subnet_v6.is_none() {
            continue;
        }
        let link = eth_link(vif, ifc_num);
        let link_id = link.get("id").cloned().unwrap_or(Json::Null);
        links.push(link);

        for (subnet, version) in [(subnet_v4, 4u8), (subnet_v6, 6u8)] {
            let Some(subnet) = subnet else { continue };
            if subnet.ips.is_empty() {
                continue;
            }
            net_num += 1;
            nets.push(nets_entry(vif, subnet, version, net_num, link_id.clone()));
            for dns in dns_services(subnet) {
                if !services.contains(&dns) {
                    services.push(dns);
                }
            }
        }
    }

    let mut out = Json::object();
    out.set("links", Json::Array(links));
    out.set("networks", Json::Array(nets));
    out.set("services", Json::Array(services));
    Some(out)
}

/// `_get_eth_link`.
fn eth_link(vif: &Vif, ifc_num: i64) -> Json {
    let id = match vif.devname.as_deref() {
        Some(d) if !d.is_empty() => d.to_string(),
        _ => format!("interface{ifc_num}"),
    };
    let nic_type = match vif.vif_type.as_deref() {
        Some(t) if LEGACY_EXPOSED_VIF_TYPES.contains(&t) => t.to_string(),
        _ => "phy".to_string(),
    };
    let mut link = Json::object();
    link.set("id", id);
    link.set("vif_id", vif.id.as_str());
    link.set("type", nic_type);
    link.set("mtu", link_mtu(vif));
    link.set("ethernet_mac_address", vif.address.clone());
    link
}

/// `_get_link_mtu`: none when neutron's DHCP serves the MTU.
fn link_mtu(vif: &Vif) -> Json {
    let Some(network) = &vif.network else {
        return Json::Null;
    };
    if network
        .subnets
        .iter()
        .any(|s| s.meta.dhcp_server.as_deref().is_some_and(|d| !d.is_empty()))
    {
        return Json::Null;
    }
    network.meta.mtu.into()
}

/// `_get_nets`.
fn nets_entry(vif: &Vif, subnet: &Subnet, version: u8, net_num: i64, link_id: Json) -> Json {
    let network_id = vif
        .network
        .as_ref()
        .map(|n| n.id.clone())
        .unwrap_or_default();
    let mut net_type = String::new();
    if let Some(mode) = &subnet.meta.ipv6_address_mode {
        net_type = format!("_{mode}");
    } else if subnet.meta.dhcp_server.is_some() || subnet.meta.enable_dhcp == Some(true) {
        let mut net = Json::object();
        net.set("id", format!("network{net_num}"));
        net.set("type", format!("ipv{version}_dhcp"));
        net.set("link", link_id);
        net.set("network_id", network_id);
        return net;
    }

    let address = subnet
        .ips
        .first()
        .map(|ip| ip.address.clone())
        .unwrap_or_default();
    let netmask = Cidr::parse(&subnet.cidr).map(|c| c.netmask().to_string());
    let mut routes = default_route(version, subnet);
    for route in &subnet.routes {
        let Some(cidr) = Cidr::parse(&route.cidr) else {
            continue;
        };
        let mut r = Json::object();
        r.set("network", cidr.network().to_string());
        r.set("netmask", cidr.netmask().to_string());
        r.set("gateway", route.gateway.address.as_str());
        routes.push(r);
    }

    let mut net = Json::object();
    net.set("id", format!("network{net_num}"));
    net.set("type", format!("ipv{version}{net_type}"));
    net.set("link", link_id);
    net.set("ip_address", address);
    net.set("netmask", netmask);
    net.set("routes", Json::Array(routes));
    net.set("network_id", network_id);
    net.set("services", Json::Array(dns_services(subnet)));
    net
}

/// `_get_default_route`.
fn default_route(version: u8, subnet: &Subnet) -> Vec<Json> {
    let Some(gateway) = subnet.gateway.as_ref().filter(|g| !g.address.is_empty()) else {
        return Vec::new();
    };
    let any = if version == 4 { "0.0.0.0" } else { "::" };
    let mut r = Json::object();
    r.set("network", any);
    r.set("netmask", any);
    r.set("gateway", gateway.address.as_str());
    vec![r]
}

/// `_get_dns_services`.
fn dns_services(subnet: &Subnet) -> Vec<Json> {
    subnet
        .dns
        .iter()
        .map(|ip| {
            let mut s = Json::object();
            s.set("type", "dns");
            s.set("address", ip.address.as_str());
            s
        })
        .collect()
}

/// Fixed and floating addresses, as `get_ec2_ip_info`.
#[derive(Debug, Clone, Default)]
pub struct Ec2IpInfo {
    /// IPv4 fixed addresses, in VIF/subnet order.
    pub fixed_ips: Vec<String>,
    /// IPv6 fixed addresses.
    pub fixed_ip6s: Vec<String>,
    /// Floating addresses.
    pub floating_ips: Vec<String>,
}

/// `get_ec2_ip_info`.
pub fn ec2_ip_info(network_info: &[Vif]) -> Ec2IpInfo {
    let mut info = Ec2IpInfo::default();
    for network in network_info.iter().filter_map(|v| v.network.as_ref()) {
        for subnet in &network.subnets {
            for ip in &subnet.ips {
                match ip.address.parse::<IpAddr>() {
                    Ok(IpAddr::V4(_)) => info.fixed_ips.push(ip.address.clone()),
                    Ok(IpAddr::V6(_)) => info.fixed_ip6s.push(ip.address.clone()),
                    Err(_) => {}
                }
                info.floating_ips
                    .extend(ip.floating_ips.iter().map(|f| f.address.clone()));
            }
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_forms_as_netaddr_prints_them() {
        let c = Cidr::parse("0.0.0.0/24").unwrap();
        assert_eq!(c.netmask().to_string(), "255.255.255.0");
        assert_eq!(c.network().to_string(), "0.0.0.0");
        let c = Cidr::parse("fd00::/48").unwrap();
        assert_eq!(c.netmask().to_string(), "ffff:ffff:ffff::");
        let c = Cidr::parse("10.1.2.3").unwrap();
        assert_eq!(c.prefix, 32);
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("nonsense").is_none());
        assert_eq!(Cidr::parse("::/0").unwrap().netmask().to_string(), "::");
    }

    #[test]
    fn no_network_info_is_none() {
        assert!(network_metadata(&[]).is_none());
    }
}
