//! `/etc/network/interfaces` from network info, as nova renders its
//! `nova/virt/interfaces.template` in `netutils.get_injected_network_template`.
//!
//! The input is what that function extracts from each VIF's first IPv4 and
//! first IPv6 subnet. It is also the JSON `nimbus inject --net FILE.json`
//! reads:
//!
//! ```json
//! {"interfaces": [{"hwaddress": "fa:16:3e:00:00:01",
//!   "address": "10.0.0.5", "netmask": "255.255.255.0", "broadcast": "10.0.0.255",
//!   "gateway": "10.0.0.1", "dns": ["8.8.8.8"],
//!   "routes": [{"cidr": "192.168.0.0/16", "gateway": "10.0.0.254"}],
//!   "address_v6": "2001:db8::5", "netmask_v6": "64", "gateway_v6": "2001:db8::1",
//!   "dns_v6": ["2001:db8::53"], "dhcp": false}]}
//! ```
//!
//! Interfaces are named `eth0`, `eth1`, ... by position. As in nova, an
//! interface whose subnets are served by DHCP (`"dhcp": true`) keeps its
//! number but is left out, so the guest's own (DHCP) configuration applies.

use serde::Deserialize;

use crate::{Error, ErrorKind, Result};

/// The network settings to inject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkInfo {
    /// One entry per VIF, in order.
    pub interfaces: Vec<Interface>,
}

/// One VIF's first IPv4 and IPv6 subnet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Interface {
    /// MAC address.
    pub hwaddress: Option<String>,
    /// IPv4 address; without it no IPv4 stanza is written.
    pub address: Option<String>,
    /// IPv4 netmask, dotted.
    pub netmask: Option<String>,
    /// IPv4 broadcast address.
    pub broadcast: Option<String>,
    /// IPv4 default gateway.
    pub gateway: Option<String>,
    /// IPv4 DNS servers.
    pub dns: Vec<String>,
    /// Extra IPv4 routes. Accepted (and validated) as nova's network info
    /// carries them, but not written: nova's template has no route lines.
    pub routes: Vec<Route>,
    /// IPv6 address.
    pub address_v6: Option<String>,
    /// IPv6 prefix length.
    pub netmask_v6: Option<String>,
    /// IPv6 gateway.
    pub gateway_v6: Option<String>,
    /// IPv6 DNS servers.
    pub dns_v6: Vec<String>,
    /// The subnet is served by DHCP: nova skips the interface.
    pub dhcp: bool,
}

/// A static route.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// Destination, e.g. `192.168.0.0/16`.
    pub cidr: String,
    /// Next hop.
    pub gateway: String,
}

/// The rendered file, or `None` when nothing is to be injected (nova then
/// writes no file).
pub fn render_interfaces(
    net: &NetworkInfo,
    libvirt_virt_type: Option<&str>,
) -> Result<Option<String>> {
    for ifc in &net.interfaces {
        check(ifc)?;
    }
    let nets: Vec<(usize, &Interface)> = net
        .interfaces
        .iter()
        .enumerate()
        .filter(|(_, i)| !i.dhcp)
        .collect();
    if nets.is_empty() {
        return Ok(None);
    }
    let use_ipv6 = nets.iter().any(|(_, i)| i.address_v6.is_some());
    let lxc = libvirt_virt_type == Some("lxc");
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "None".to_string());
    let mut out = String::from(
        "# Injected by Nova on instance boot\n#\n\
         # This file describes the network interfaces available on your system\n\
         # and how to activate them. For more information, see interfaces(5).\n\n\
         # The loopback network interface\nauto lo\niface lo inet loopback\n",
    );
    for (num, ifc) in nets {
        let name = format!("eth{num}");
        out.push_str(&format!("\nauto {name}\n"));
        if ifc.address.is_some() {
            out.push_str(&format!("iface {name} inet static\n"));
            out.push_str(&format!("    hwaddress ether {}\n", opt(&ifc.hwaddress)));
            out.push_str(&format!("    address {}\n", opt(&ifc.address)));
            out.push_str(&format!("    netmask {}\n", opt(&ifc.netmask)));
            out.push_str(&format!("    broadcast {}\n", opt(&ifc.broadcast)));
            if let Some(gw) = ifc.gateway.as_deref().filter(|g| !g.is_empty()) {
                out.push_str(&format!("    gateway {gw}\n"));
            }
            if !ifc.dns.is_empty() {
                out.push_str(&format!("    dns-nameservers {}\n", ifc.dns.join(" ")));
            }
            // nova computes routes but its template never renders them.
        }
        if use_ipv6 && let Some(addr6) = &ifc.address_v6 {
            let gw6 = ifc.gateway_v6.as_deref().filter(|g| !g.is_empty());
            if lxc {
                out.push_str(&format!(
                    "    post-up ip -6 addr add {addr6}/{} dev ${{IFACE}}\n",
                    opt(&ifc.netmask_v6)
                ));
                if let Some(gw6) = gw6 {
                    out.push_str(&format!(
                        "    post-up ip -6 route add default via {gw6} dev ${{IFACE}}\n"
                    ));
                }
            } else {
                out.push_str(&format!("iface {name} inet6 static\n"));
                out.push_str(&format!("    hwaddress ether {}\n", opt(&ifc.hwaddress)));
                out.push_str(&format!("    address {addr6}\n"));
                out.push_str(&format!("    netmask {}\n", opt(&ifc.netmask_v6)));
                if let Some(gw6) = gw6 {
                    out.push_str(&format!("    gateway {gw6}\n"));
                }
                if !ifc.dns_v6.is_empty() {
                    out.push_str(&format!("    dns-nameservers {}\n", ifc.dns_v6.join(" ")));
                }
            }
        }
    }
    Ok(Some(out))
}

/// Values land in a file the guest's ifupdown parses: one token each, no
/// line breaks, nothing that starts a new stanza.
fn check(ifc: &Interface) -> Result<()> {
    let singles = [
        &ifc.hwaddress,
        &ifc.address,
        &ifc.netmask,
        &ifc.broadcast,
        &ifc.gateway,
        &ifc.address_v6,
        &ifc.netmask_v6,
        &ifc.gateway_v6,
    ];
    let lists = ifc
        .dns
        .iter()
        .chain(&ifc.dns_v6)
        .chain(ifc.routes.iter().flat_map(|r| [&r.cidr, &r.gateway]));
    for value in singles.into_iter().flatten().chain(lists) {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:/%-_".contains(&b));
        if !ok {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "net",
                format!("{value:?} is not an address"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn static_v4() -> Interface {
        Interface {
            hwaddress: Some("fa:16:3e:00:00:01".into()),
            address: Some("10.0.0.5".into()),
            netmask: Some("255.255.255.0".into()),
            broadcast: Some("10.0.0.255".into()),
            gateway: Some("10.0.0.1".into()),
            dns: vec!["8.8.8.8".into(), "8.8.4.4".into()],
            ..Default::default()
        }
    }

    #[test]
    fn static_ipv4_and_ipv6_like_nova() {
        let mut ifc = static_v4();
        ifc.address_v6 = Some("2001:db8::5".into());
        ifc.netmask_v6 = Some("64".into());
        ifc.gateway_v6 = Some("2001:db8::1".into());
        let out = render_interfaces(
            &NetworkInfo {
                interfaces: vec![ifc],
            },
            None,
        )
        .unwrap()
        .unwrap();
        let expected = concat!(
            "# Injected by Nova on instance boot\n#\n",
            "# This file describes the network interfaces available on your system\n",
            "# and how to activate them. For more information, see interfaces(5).\n\n",
            "# The loopback network interface\nauto lo\niface lo inet loopback\n\n",
            "auto eth0\niface eth0 inet static\n",
            "    hwaddress ether fa:16:3e:00:00:01\n",
            "    address 10.0.0.5\n",
            "    netmask 255.255.255.0\n",
            "    broadcast 10.0.0.255\n",
            "    gateway 10.0.0.1\n",
            "    dns-nameservers 8.8.8.8 8.8.4.4\n",
            "iface eth0 inet6 static\n",
            "    hwaddress ether fa:16:3e:00:00:01\n",
            "    address 2001:db8::5\n",
            "    netmask 64\n",
            "    gateway 2001:db8::1\n",
        );
        assert_eq!(out, expected);
    }

    #[test]
    fn dhcp_interfaces_keep_their_number_but_are_skipped() {
        let dhcp = Interface {
            dhcp: true,
            ..Default::default()
        };
        let out = render_interfaces(
            &NetworkInfo {
                interfaces: vec![dhcp.clone(), static_v4()],
            },
            None,
        )
        .unwrap()
        .unwrap();
        assert!(out.contains("auto eth1\niface eth1 inet static"));
        assert!(!out.contains("eth0"));
        assert!(!out.contains("inet6"));
        assert_eq!(
            render_interfaces(
                &NetworkInfo {
                    interfaces: vec![dhcp]
                },
                None
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn routes_are_not_rendered_as_in_nova() {
        let mut ifc = static_v4();
        ifc.routes = vec![Route {
            cidr: "192.168.0.0/16".into(),
            gateway: "10.0.0.254".into(),
        }];
        let with = render_interfaces(
            &NetworkInfo {
                interfaces: vec![ifc],
            },
            None,
        );
        let without = render_interfaces(
            &NetworkInfo {
                interfaces: vec![static_v4()],
            },
            None,
        );
        assert_eq!(with.unwrap(), without.unwrap());
    }

    #[test]
    fn ipv6_only_and_lxc_like_nova() {
        let v6 = Interface {
            hwaddress: Some("fa:16:3e:00:00:02".into()),
            address_v6: Some("2001:db8::7".into()),
            netmask_v6: Some("64".into()),
            gateway_v6: Some("2001:db8::1".into()),
            dns_v6: vec!["2001:db8::53".into()],
            ..Default::default()
        };
        let net = NetworkInfo {
            interfaces: vec![v6],
        };
        let out = render_interfaces(&net, None).unwrap().unwrap();
        assert!(out.ends_with(concat!(
            "iface lo inet loopback\n\nauto eth0\n",
            "iface eth0 inet6 static\n",
            "    hwaddress ether fa:16:3e:00:00:02\n",
            "    address 2001:db8::7\n",
            "    netmask 64\n",
            "    gateway 2001:db8::1\n",
            "    dns-nameservers 2001:db8::53\n",
        )));
        let lxc = render_interfaces(&net, Some("lxc")).unwrap().unwrap();
        assert!(lxc.ends_with(concat!(
            "\nauto eth0\n",
            "    post-up ip -6 addr add 2001:db8::7/64 dev ${IFACE}\n",
            "    post-up ip -6 route add default via 2001:db8::1 dev ${IFACE}\n",
        )));
    }

    #[test]
    fn values_cannot_inject_stanzas() {
        let mut ifc = static_v4();
        ifc.gateway = Some("10.0.0.1\nup rm -rf /".into());
        assert!(
            render_interfaces(
                &NetworkInfo {
                    interfaces: vec![ifc]
                },
                None
            )
            .is_err()
        );
    }
}
