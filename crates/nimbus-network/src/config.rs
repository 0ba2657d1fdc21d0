//! Settings, named after neutron.conf / ml2_conf.ini options.

use serde::Deserialize;

/// The network service's settings (`[network]` in nimbus.toml).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// neutron.conf `base_mac`: the fixed leading bytes of port MACs.
    pub base_mac: String,
    /// neutron.conf `global_physnet_mtu`.
    pub global_physnet_mtu: i64,
    /// ml2 `tenant_network_types`: the type of networks created without
    /// provider attributes (`vxlan`, `gre`, `vlan` or `local`).
    pub tenant_network_type: String,
    /// ml2_type_vxlan `vni_ranges` (first, last) for tenant networks.
    pub vni_range: (i64, i64),
    /// ml2_type_gre `tunnel_id_ranges` (first, last) for tenant networks.
    pub tunnel_id_range: (i64, i64),
    /// ml2_type_vlan `network_vlan_ranges` for tenant networks:
    /// (physical network, first, last).
    pub vlan_range: (String, i64, i64),
    /// Neutron (before Newton) refused a gateway outside the subnet's CIDR
    /// unless this was off (`force_gateway_on_subnet`).
    pub force_gateway_on_subnet: bool,
    /// Availability zone of compute ports (`compute:<az>`).
    pub default_availability_zone: String,
    /// Maximum DNS servers per subnet (`max_dns_nameservers`).
    pub max_dns_nameservers: usize,
    /// Maximum host routes per subnet (`max_subnet_host_routes`).
    pub max_subnet_host_routes: usize,
    /// Maximum fixed IPs per port (`max_fixed_ips_per_port`).
    pub max_fixed_ips_per_port: usize,
    /// Maximum allowed address pairs per port (`max_allowed_address_pair`).
    pub max_allowed_address_pair: usize,
}

impl Default for NetworkConfig {
    fn default() -> NetworkConfig {
        NetworkConfig {
            base_mac: "fa:16:3e:00:00:00".into(),
            global_physnet_mtu: 1500,
            tenant_network_type: "vxlan".into(),
            vni_range: (1, 1000),
            tunnel_id_range: (1, 1000),
            vlan_range: ("physnet1".into(), 1000, 2999),
            force_gateway_on_subnet: true,
            default_availability_zone: "nova".into(),
            max_dns_nameservers: 5,
            max_subnet_host_routes: 20,
            max_fixed_ips_per_port: 5,
            max_allowed_address_pair: 10,
        }
    }
}
