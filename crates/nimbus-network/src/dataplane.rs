//! The dataplane driver boundary: what realises the data model on hosts.
//!
//! The service records networks, ports, routers and floating IPs in the
//! database and calls the driver after each change is committed. A real
//! driver (bridges, taps, network namespaces, a DHCP server per subnet,
//! routing and NAT in a router namespace, the metadata proxy for
//! 169.254.169.254) implements this trait later. Today guests use QEMU's
//! user-mode networking, which needs nothing on the host: the
//! [`UserModeDataplane`] does nothing and says so through its answers
//! (ports are not wired to each other, floating IPs are not translated).
//!
//! Calls must return quickly: a driver with slow host work queues it on its
//! own task and reports progress through port status later.

use crate::app::model::{FloatingIp, Network, Port, Router};

/// Realises the network model on hosts.
pub trait Dataplane: Send + Sync {
    /// The driver's name, for logs and `binding:vif_details`.
    fn name(&self) -> &'static str;

    /// The VIF type ports bound through this driver get (nova's
    /// `network_info` `type`; neutron's `binding:vif_type`).
    fn vif_type(&self) -> &'static str;

    /// Whether associated floating IPs are actually translated (their
    /// `status` is then `ACTIVE`, else `DOWN`).
    fn realizes_floating_ips(&self) -> bool;

    /// A network was created or changed (bridge, VLAN/VXLAN device).
    fn network_changed(&self, network: &Network);

    /// A port was bound to `host` by compute (tap device, DHCP host entry,
    /// anti-spoofing rules from its security groups and address pairs).
    fn port_bound(&self, port: &Port, host: &str);

    /// A port went away or was unbound (remove tap and DHCP entry).
    fn port_unplugged(&self, port: &Port);

    /// A router's interfaces or gateway changed (namespace, routes, SNAT).
    fn router_changed(&self, router: &Router);

    /// A floating IP was associated, moved or released (DNAT rules).
    fn floatingip_changed(&self, floatingip: &FloatingIp);
}

/// Guests on QEMU user-mode networking: the guest NIC gets the port's MAC
/// and the guest is configured with the port's addresses (config drive,
/// injected interfaces file), but nothing exists on the host to wire.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserModeDataplane;

impl Dataplane for UserModeDataplane {
    fn name(&self) -> &'static str {
        "user-mode"
    }
    fn vif_type(&self) -> &'static str {
        // Nova's VIF_TYPE_OTHER: no host device exists to name.
        "other"
    }
    fn realizes_floating_ips(&self) -> bool {
        false
    }
    fn network_changed(&self, _network: &Network) {}
    fn port_bound(&self, _port: &Port, _host: &str) {}
    fn port_unplugged(&self, _port: &Port) {}
    fn router_changed(&self, _router: &Router) {}
    fn floatingip_changed(&self, _floatingip: &FloatingIp) {}
}
