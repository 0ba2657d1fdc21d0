//! Domain types: what the store reads and writes and the API renders.

use serde::{Deserialize, Serialize};

/// A network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Name (may be empty).
    pub name: String,
    /// Description.
    pub description: String,
    /// `admin_state_up`.
    pub admin_state_up: bool,
    /// Visible to and usable by every project.
    pub shared: bool,
    /// `router:external`.
    pub external: bool,
    /// Link MTU.
    pub mtu: i64,
    /// Default `port_security_enabled` of its ports.
    pub port_security_enabled: bool,
    /// `provider:network_type`: local, flat, vlan, vxlan, gre.
    pub network_type: String,
    /// `provider:physical_network`.
    pub physical_network: Option<String>,
    /// `provider:segmentation_id`.
    pub segmentation_id: Option<i64>,
    /// Bumped on every change.
    pub revision_number: i64,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

/// An allocation pool, inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationPool {
    /// First address.
    pub start: String,
    /// Last address.
    pub end: String,
}

/// A host route handed to guests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    /// Destination CIDR.
    pub destination: String,
    /// Next hop.
    pub nexthop: String,
}

/// A subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    /// UUID.
    pub id: String,
    /// The network it belongs to.
    pub network_id: String,
    /// Owning project.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// 4 or 6.
    pub ip_version: u8,
    /// Canonical CIDR.
    pub cidr: String,
    /// Gateway, or none.
    pub gateway_ip: Option<String>,
    /// `enable_dhcp`.
    pub enable_dhcp: bool,
    /// `ipv6_ra_mode`.
    pub ipv6_ra_mode: Option<String>,
    /// `ipv6_address_mode`.
    pub ipv6_address_mode: Option<String>,
    /// DNS servers, in order.
    pub dns_nameservers: Vec<String>,
    /// Host routes.
    pub host_routes: Vec<HostRoute>,
    /// Allocation pools, sorted.
    pub allocation_pools: Vec<AllocationPool>,
    /// Whether its network is external (`router:external`, read from the
    /// network: the `subnet-external-network` extension).
    pub router_external: bool,
    /// Bumped on every change.
    pub revision_number: i64,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

impl Subnet {
    /// Whether addresses are derived from the MAC rather than allocated
    /// (SLAAC and DHCPv6-stateless): neutron's `is_auto_address_subnet`,
    /// where the RA mode decides when no address mode is set.
    pub fn is_auto_address(&self) -> bool {
        let auto = |mode: Option<&str>| matches!(mode, Some("slaac" | "dhcpv6-stateless"));
        self.ip_version == 6
            && match self.ipv6_address_mode.as_deref() {
                Some(mode) => auto(Some(mode)),
                None => auto(self.ipv6_ra_mode.as_deref()),
            }
    }
}

/// An address held by a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    /// The subnet.
    pub subnet_id: String,
    /// The address.
    pub ip_address: String,
}

/// An extra address a port may use (`allowed_address_pairs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    /// An address or CIDR.
    pub ip_address: String,
    /// The MAC (the port's when not given).
    pub mac_address: String,
}

/// A port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// UUID.
    pub id: String,
    /// Its network.
    pub network_id: String,
    /// Owning project ('' for router gateway and floating IP ports).
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// MAC address, unique on the network.
    pub mac_address: String,
    /// `admin_state_up`.
    pub admin_state_up: bool,
    /// The device using it (server, router, floating IP id).
    pub device_id: String,
    /// `compute:<az>`, `network:router_interface`, ...
    pub device_owner: String,
    /// `binding:host_id` ('' when unbound).
    pub host_id: String,
    /// `port_security_enabled`.
    pub port_security_enabled: bool,
    /// `allowed_address_pairs`.
    pub allowed_address_pairs: Vec<AddressPair>,
    /// Addresses held.
    pub fixed_ips: Vec<FixedIp>,
    /// Security group ids.
    pub security_groups: Vec<String>,
    /// Bumped on every change.
    pub revision_number: i64,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

/// Device owners neutron reserves for its own ports.
pub mod owner {
    /// A router's interface on a tenant subnet.
    pub const ROUTER_INTERFACE: &str = "network:router_interface";
    /// A router's port on its external network.
    pub const ROUTER_GATEWAY: &str = "network:router_gateway";
    /// The port holding a floating IP's address.
    pub const FLOATINGIP: &str = "network:floatingip";
    /// A DHCP server's port.
    pub const DHCP: &str = "network:dhcp";
}

impl Port {
    /// Neutron's `status`: a port bound to a host by compute is `ACTIVE`
    /// (the guest NIC exists); everything else is `DOWN`, since no agent
    /// wires router or DHCP ports on this dataplane.
    pub fn status(&self) -> &'static str {
        if !self.host_id.is_empty() && self.device_owner.starts_with("compute:") {
            "ACTIVE"
        } else {
            "DOWN"
        }
    }
}

/// A router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Router {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `admin_state_up`.
    pub admin_state_up: bool,
    /// The gateway port on an external network.
    pub gw_port_id: Option<String>,
    /// `external_gateway_info.enable_snat`.
    pub enable_snat: bool,
    /// Bumped on every change.
    pub revision_number: i64,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

/// A floating IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloatingIp {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Description.
    pub description: String,
    /// The external network.
    pub floating_network_id: String,
    /// The port holding the address on the external network.
    pub floating_port_id: String,
    /// The address.
    pub floating_ip_address: String,
    /// The associated port.
    pub port_id: Option<String>,
    /// The associated fixed address.
    pub fixed_ip_address: Option<String>,
    /// The router that would translate.
    pub router_id: Option<String>,
    /// Bumped on every change.
    pub revision_number: i64,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

/// A security group rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupRule {
    /// UUID.
    pub id: String,
    /// Its group.
    pub security_group_id: String,
    /// Owning project.
    pub project_id: String,
    /// ingress | egress.
    pub direction: String,
    /// IPv4 | IPv6.
    pub ethertype: String,
    /// Protocol name or number, none for any.
    pub protocol: Option<String>,
    /// Port (or ICMP type) range.
    pub port_range_min: Option<i64>,
    /// Port range end (or ICMP code).
    pub port_range_max: Option<i64>,
    /// Remote prefix.
    pub remote_ip_prefix: Option<String>,
    /// Remote group.
    pub remote_group_id: Option<String>,
    /// Description.
    pub description: String,
    /// Bumped on every change.
    pub revision_number: i64,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

/// A security group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    /// UUID.
    pub id: String,
    /// Owning project.
    pub project_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// `stateful`.
    pub stateful: bool,
    /// Its rules.
    pub rules: Vec<SecurityGroupRule>,
    /// Bumped on every change.
    pub revision_number: i64,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}
