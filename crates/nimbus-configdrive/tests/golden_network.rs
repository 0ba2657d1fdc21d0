//! network_data.json against the structures nova's tests expect, in
//! `nova/tests/unit/network/test_network_info.py` class `TestNetworkMetadata`.

use nimbus_configdrive::netdata::network_metadata;
use serde_json::{Value, json};

use crate::fixtures::{NETWORK_ID, VIF_ID, new_netinfo, subnet_v4, subnet_v6, vif};

fn render(net: &[nimbus_configdrive::instance::Vif]) -> Value {
    Value::from(&network_metadata(net).unwrap())
}

/// Expected networks[1] of `test_get_network_metadata_json` (and the ipv6 address-mode tests).
fn ipv6_network(net_type: &str) -> Value {
    json!({
        "id": "network1", "link": "interface0", "type": net_type,
        "ip_address": "fd00::2", "netmask": "ffff:ffff:ffff::",
        "routes": [
            {"network": "::", "netmask": "::", "gateway": "fd00::1"},
            {"network": "::", "netmask": "ffff:ffff:ffff::", "gateway": "fd00::1:1"}
        ],
        "services": [{"address": "1:2:3:4::", "type": "dns"}, {"address": "2:3:4:5::", "type": "dns"}],
        "network_id": NETWORK_ID
    })
}

#[test]
fn test_get_network_metadata_json() {
    let md = render(&new_netinfo("ethernet"));
    assert_eq!(
        md["links"][0],
        json!({"id": "interface0", "type": "phy", "ethernet_mac_address": "aa:aa:aa:aa:aa:aa",
               "vif_id": VIF_ID, "mtu": 1500})
    );
    assert_eq!(
        md["networks"][0],
        json!({
            "id": "network0", "link": "interface0", "type": "ipv4",
            "ip_address": "10.10.0.2", "netmask": "255.255.255.0",
            "routes": [
                {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.10.0.1"},
                {"network": "0.0.0.0", "netmask": "255.255.255.0", "gateway": "192.168.1.1"}
            ],
            "services": [{"address": "1.2.3.4", "type": "dns"}, {"address": "2.3.4.5", "type": "dns"}],
            "network_id": NETWORK_ID
        })
    );
    assert_eq!(md["networks"][1], ipv6_network("ipv6"));
}

#[test]
fn test_get_network_metadata_json_dhcp() {
    let mut v4 = subnet_v4();
    v4["meta"] = json!({"dhcp_server": "1.1.1.1"});
    let mut v6 = subnet_v6();
    v6["meta"] = json!({"dhcp_server": "1234:567::"});
    let md = render(&[vif(
        "ethernet",
        "aa:aa:aa:aa:aa:aa",
        NETWORK_ID,
        vec![v4, v6],
    )]);
    assert_eq!(
        md["networks"][0],
        json!({"id": "network0", "link": "interface0", "type": "ipv4_dhcp", "network_id": NETWORK_ID})
    );
    assert_eq!(
        md["networks"][1],
        json!({"id": "network1", "link": "interface0", "type": "ipv6_dhcp", "network_id": NETWORK_ID})
    );
    // _get_link_mtu: no MTU when neutron's DHCP server is in charge.
    assert_eq!(md["links"][0]["mtu"], Value::Null);
}

/// `_test_get_network_metadata_json_ipv6_addr_mode` for slaac, dhcpv6-stateful, dhcpv6-stateless.
#[test]
fn test_get_network_metadata_json_ipv6_addr_modes() {
    for mode in ["slaac", "dhcpv6-stateful", "dhcpv6-stateless"] {
        let mut v6 = subnet_v6();
        v6["meta"] = json!({"dhcp_server": "1234:567::", "ipv6_address_mode": mode});
        let md = render(&[vif(
            "ethernet",
            "aa:aa:aa:aa:aa:aa",
            NETWORK_ID,
            vec![subnet_v4(), v6],
        )]);
        assert_eq!(
            md["networks"][1],
            ipv6_network(&format!("ipv6_{mode}")),
            "{mode}"
        );
    }
}

#[test]
fn test_get_network_metadata() {
    let second_v4 = json!({
        "cidr": "192.168.0.0/24", "gateway": {"address": "192.168.0.1"},
        "dns": [{"address": "1.2.3.4"}, {"address": "2.3.4.5"}],
        "ips": [{"address": "192.168.0.2"}], "routes": []
    });
    // new_vif's network is new_network(): [new_subnet(), new_subnet(cidr='255.255.255.255')];
    // the test replaces the first with 192.168.0.0/24.
    let mut host_subnet = subnet_v4();
    host_subnet["cidr"] = json!("255.255.255.255");
    let net = vec![
        vif(
            "ethernet",
            "aa:aa:aa:aa:aa:aa",
            "00000000-0000-0000-0000-000000000000",
            vec![subnet_v4(), subnet_v6()],
        ),
        vif(
            "ethernet",
            "aa:aa:aa:aa:aa:ab",
            "11111111-1111-1111-1111-111111111111",
            vec![second_v4, host_subnet],
        ),
    ];
    let expected = json!({
        "links": [
            {"ethernet_mac_address": "aa:aa:aa:aa:aa:aa", "id": "interface0", "type": "phy", "vif_id": VIF_ID, "mtu": 1500},
            {"ethernet_mac_address": "aa:aa:aa:aa:aa:ab", "id": "interface1", "type": "phy", "vif_id": VIF_ID, "mtu": 1500}
        ],
        "networks": [
            {"id": "network0", "ip_address": "10.10.0.2", "link": "interface0", "netmask": "255.255.255.0",
             "network_id": "00000000-0000-0000-0000-000000000000",
             "routes": [{"gateway": "10.10.0.1", "netmask": "0.0.0.0", "network": "0.0.0.0"},
                        {"gateway": "192.168.1.1", "netmask": "255.255.255.0", "network": "0.0.0.0"}],
             "services": [{"address": "1.2.3.4", "type": "dns"}, {"address": "2.3.4.5", "type": "dns"}],
             "type": "ipv4"},
            {"id": "network1", "ip_address": "fd00::2", "link": "interface0", "netmask": "ffff:ffff:ffff::",
             "network_id": "00000000-0000-0000-0000-000000000000",
             "routes": [{"gateway": "fd00::1", "netmask": "::", "network": "::"},
                        {"gateway": "fd00::1:1", "netmask": "ffff:ffff:ffff::", "network": "::"}],
             "services": [{"address": "1:2:3:4::", "type": "dns"}, {"address": "2:3:4:5::", "type": "dns"}],
             "type": "ipv6"},
            {"id": "network2", "ip_address": "192.168.0.2", "link": "interface1", "netmask": "255.255.255.0",
             "network_id": "11111111-1111-1111-1111-111111111111",
             "routes": [{"gateway": "192.168.0.1", "netmask": "0.0.0.0", "network": "0.0.0.0"}],
             "services": [{"address": "1.2.3.4", "type": "dns"}, {"address": "2.3.4.5", "type": "dns"}],
             "type": "ipv4"}
        ],
        "services": [
            {"address": "1.2.3.4", "type": "dns"}, {"address": "2.3.4.5", "type": "dns"},
            {"address": "1:2:3:4::", "type": "dns"}, {"address": "2:3:4:5::", "type": "dns"}
        ]
    });
    assert_eq!(render(&net), expected);
}

#[test]
fn test_get_network_metadata_no_ipv4() {
    let md = render(&[vif(
        "ethernet",
        "aa:aa:aa:aa:aa:aa",
        NETWORK_ID,
        vec![subnet_v6()],
    )]);
    let mut v6 = ipv6_network("ipv6");
    v6["id"] = json!("network0");
    let expected = json!({
        "services": [{"type": "dns", "address": "1:2:3:4::"}, {"type": "dns", "address": "2:3:4:5::"}],
        "networks": [v6],
        "links": [{"ethernet_mac_address": "aa:aa:aa:aa:aa:aa", "mtu": 1500, "type": "phy",
                   "id": "interface0", "vif_id": VIF_ID}]
    });
    assert_eq!(md, expected);
}

#[test]
fn test_legacy_vif_types_type_passed_through() {
    for t in [
        "bridge",
        "dvs",
        "hw_veb",
        "hyperv",
        "ovs",
        "tap",
        "vhostuser",
        "vif",
    ] {
        assert_eq!(render(&new_netinfo(t))["links"][0]["type"], json!(t));
    }
}

#[test]
fn test_new_vif_types_get_type_phy() {
    for t in ["whizbang_nvf", "vswitch9"] {
        assert_eq!(render(&new_netinfo(t))["links"][0]["type"], json!("phy"));
    }
}

/// `test__get_eth_link`: a devname becomes the link id (nova's `vif.get('devname')`).
#[test]
fn devname_is_the_link_id() {
    let mut net = new_netinfo("ovs");
    net[0].devname = Some("tap1234".into());
    let md = render(&net);
    assert_eq!(md["links"][0]["id"], json!("tap1234"));
    assert_eq!(md["networks"][0]["link"], json!("tap1234"));
}
