//! The guest's side of its ports: one NIC per port with the port's MAC,
//! and the network settings nova injects (`netutils._get_nets`): from the
//! ports' model (the network service's `network_info`) to what
//! `/etc/network/interfaces` is rendered from.

use std::net::{Ipv4Addr, Ipv6Addr};

use nimbus_configdrive::instance::{Subnet, Vif};
use nimbus_guestfs::{Interface, NetworkInfo, Route};
use nimbus_qmp::Nic;

use super::InstanceSpec;
use super::machine::mac_for;

/// The guest's NICs: one virtio NIC per port with the port's MAC (QEMU
/// user-mode backend: the dataplane wires nothing on the host yet); no
/// port gives one user-mode NIC, unless the server asked for no network.
pub fn nics(spec: &InstanceSpec) -> Vec<Nic> {
    if spec.network_info.is_empty() {
        if spec.no_nic {
            return Vec::new();
        }
        return vec![Nic {
            id: "net0".into(),
            mac: mac_for(spec),
        }];
    }
    spec.network_info
        .iter()
        .enumerate()
        .map(|(i, vif)| Nic {
            id: format!("net{i}"),
            mac: vif.address.clone().unwrap_or_else(|| mac_for(spec)),
        })
        .collect()
}

fn version(subnet: &Subnet) -> u8 {
    subnet
        .version
        .unwrap_or(if subnet.cidr.contains(':') { 6 } else { 4 })
}

fn first_subnet(vif: &Vif, v: u8) -> Option<&Subnet> {
    vif.network
        .as_ref()?
        .subnets
        .iter()
        .find(|s| version(s) == v && !s.ips.is_empty())
}

/// (netmask, broadcast) of an IPv4 `cidr`.
fn v4_mask(cidr: &str) -> Option<(String, String)> {
    let (net, len) = cidr.split_once('/')?;
    let net: Ipv4Addr = net.parse().ok()?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    let broadcast = (u32::from(net) & mask) | !mask;
    Some((
        Ipv4Addr::from(mask).to_string(),
        Ipv4Addr::from(broadcast).to_string(),
    ))
}

fn v6_prefix(cidr: &str) -> Option<String> {
    let (net, len) = cidr.split_once('/')?;
    net.parse::<Ipv6Addr>().ok()?;
    len.parse::<u8>()
        .ok()
        .filter(|l| *l <= 128)
        .map(|l| l.to_string())
}

/// What nova would inject for `vifs`, or `None` when no port's network is
/// marked `injected` with a static subnet (nova then writes no file).
/// Every port with subnets keeps its `ethN` number; ports not injected or
/// served by DHCP are marked `dhcp` so they are left out.
pub fn injected_network(vifs: &[Vif]) -> Option<NetworkInfo> {
    let mut interfaces = Vec::new();
    for vif in vifs {
        let Some(network) = vif.network.as_ref().filter(|n| !n.subnets.is_empty()) else {
            continue;
        };
        let mut ifc = Interface {
            hwaddress: vif.address.clone(),
            dhcp: network.meta.injected != Some(true),
            ..Default::default()
        };
        let v4 = first_subnet(vif, 4);
        let v6 = first_subnet(vif, 6);
        if [v4, v6]
            .iter()
            .flatten()
            .any(|s| s.meta.dhcp_server.is_some())
        {
            ifc.dhcp = true;
        }
        if let Some(s) = v4
            && let Some((netmask, broadcast)) = v4_mask(&s.cidr)
        {
            ifc.address = Some(s.ips[0].address.clone());
            ifc.netmask = Some(netmask);
            ifc.broadcast = Some(broadcast);
            ifc.gateway = s.gateway.as_ref().map(|g| g.address.clone());
            ifc.dns = s.dns.iter().map(|d| d.address.clone()).collect();
            ifc.routes = s
                .routes
                .iter()
                .map(|r| Route {
                    cidr: r.cidr.clone(),
                    gateway: r.gateway.address.clone(),
                })
                .collect();
        }
        if let Some(s) = v6
            && let Some(prefix) = v6_prefix(&s.cidr)
        {
            ifc.address_v6 = Some(s.ips[0].address.clone());
            ifc.netmask_v6 = Some(prefix);
            ifc.gateway_v6 = s.gateway.as_ref().map(|g| g.address.clone());
            ifc.dns_v6 = s.dns.iter().map(|d| d.address.clone()).collect();
        }
        interfaces.push(ifc);
    }
    interfaces
        .iter()
        .any(|i| !i.dhcp)
        .then_some(NetworkInfo { interfaces })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vif(injected: bool, dhcp_server: Option<&str>) -> Vif {
        serde_json::from_value(serde_json::json!({
            "id": "p1", "address": "fa:16:3e:00:00:01",
            "network": {"id": "n1", "meta": {"injected": injected}, "subnets": [{
                "cidr": "10.0.0.0/24", "gateway": {"address": "10.0.0.1"},
                "dns": [{"address": "10.0.0.2"}], "ips": [{"address": "10.0.0.5"}],
                "meta": {"dhcp_server": dhcp_server}}]}
        }))
        .unwrap()
    }

    #[test]
    fn static_injected_ports_only_keep_their_numbers() {
        assert!(injected_network(&[]).is_none());
        assert!(injected_network(&[vif(false, None)]).is_none());
        assert!(injected_network(&[vif(true, Some("10.0.0.3"))]).is_none());
        let net = injected_network(&[vif(false, None), vif(true, None)]).unwrap();
        assert_eq!(net.interfaces.len(), 2);
        assert!(net.interfaces[0].dhcp);
        let ifc = &net.interfaces[1];
        assert_eq!(ifc.address.as_deref(), Some("10.0.0.5"));
        assert_eq!(ifc.netmask.as_deref(), Some("255.255.255.0"));
        assert_eq!(ifc.broadcast.as_deref(), Some("10.0.0.255"));
        assert_eq!(ifc.gateway.as_deref(), Some("10.0.0.1"));
        assert_eq!(ifc.dns, vec!["10.0.0.2".to_string()]);
        let text = nimbus_guestfs::net::render_interfaces(&net, None)
            .unwrap()
            .unwrap();
        assert!(
            text.contains("auto eth1\niface eth1 inet static\n"),
            "{text}"
        );
        assert_eq!(v4_mask("10.1.0.0/16").unwrap().1, "10.1.255.255");
        assert_eq!(v6_prefix("2001:db8::/64").as_deref(), Some("64"));
    }
}
