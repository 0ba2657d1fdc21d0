//! Instances equivalent to the fakes nova's unit tests build.

use nimbus_configdrive::Instance;
use nimbus_configdrive::instance::Vif;
use serde_json::json;

/// Stand-ins for `oslo_utils.fixture.uuidsentinel` values (random in nova, fixed here).
pub const VIF_ID: &str = "11111111-2222-3333-4444-555555555555";
pub const NETWORK_ID: &str = "66666666-7777-8888-9999-000000000000";

/// `FAKE_SEED`'s role: a known random_seed (nova mocks base64.encode_as_text instead).
pub fn seed() -> Vec<u8> {
    (0..512u32).map(|i| (i % 251) as u8).collect()
}

/// `fake_inst_obj` (nova/tests/unit/test_metadata.py) with `fake_metadata_objects()` devices,
/// the `default` security group of `fake_InstanceMetadata` and flavor m1.small.
pub fn nova_fake_instance() -> Instance {
    serde_json::from_value(json!({
        "uuid": "b65cee2f-8c69-4aeb-be2f-f79742548fc2",
        "name": "my_displayname",
        "hostname": "test",
        "launch_index": 1,
        "availability_zone": "fake-az",
        "project_id": "test",
        "keypairs": [{"name": "key", "type": "fake_type",
                      "public_key": "ssh-rsa AAAAB3Nzai....N3NtHw== someuser@somehost"}],
        "metadata": {},
        // base64 of USER_DATA_STRING = b"This is an encoded string"
        "user_data": "VGhpcyBpcyBhbiBlbmNvZGVkIHN0cmluZw==",
        "devices": [
            {"type": "nic", "bus": "pci", "address": "0000:00:01.0", "mac": "00:00:00:00:00:00", "tags": ["foo"]},
            {"type": "disk", "bus": "ide", "address": "0:0", "serial": "disk-vol-2352423", "path": "/dev/sda", "tags": ["baz"]},
            {"type": "disk", "bus": "scsi", "address": "05c8:021e:04a7:011b", "serial": "disk-vol-2352423", "path": "/dev/sda", "tags": ["baz"]},
            {"type": "disk", "bus": "usb", "address": "05c8:021e", "serial": "disk-vol-2352423", "path": "/dev/sda", "tags": ["baz"]},
            {"type": "nic", "bus": "pci", "address": "0000:80:01.0", "mac": "e3:a0:d0:12:c5:10", "vlan": 1000},
            {"type": "nic", "bus": "pci", "address": "0000:00:02.0", "mac": "00:11:22:33:44:55", "vf_trusted": true, "tags": ["trusted"]},
            {"type": "share", "share_id": "ca3c176e-fd5a-438b-b595-e18a358f6909", "tag": "my_share_tag"}
        ],
        "ec2": {
            "instance_id": "i-00000001",
            "ami_id": "ami-00000001",
            "reservation_id": "r-xxxxxxxx",
            "instance_type": "m1.small",
            "security_groups": ["default"],
            "root_device_name": "/dev/sda1"
        }
    }))
    .unwrap()
}

/// `fake_network_cache_model.new_subnet(version=4)`.
pub fn subnet_v4() -> serde_json::Value {
    json!({
        "cidr": "10.10.0.0/24",
        "dns": [{"address": "1.2.3.4"}, {"address": "2.3.4.5"}],
        "gateway": {"address": "10.10.0.1"},
        "ips": [{"address": "10.10.0.2"}, {"address": "10.10.0.3"}],
        "routes": [{"cidr": "0.0.0.0/24", "gateway": {"address": "192.168.1.1"}}]
    })
}

/// `fake_network_cache_model.new_subnet(version=6)`.
pub fn subnet_v6() -> serde_json::Value {
    json!({
        "cidr": "fd00::/48",
        "version": 6,
        "dns": [{"address": "1:2:3:4::"}, {"address": "2:3:4:5::"}],
        "gateway": {"address": "fd00::1"},
        "ips": [{"address": "fd00::2"}, {"address": "fd00::3"}],
        "routes": [{"cidr": "::/48", "gateway": {"address": "fd00::1:1"}}]
    })
}

/// `TestNetworkMetadata._new_netinfo(vif_type)` (nova/tests/unit/network/test_network_info.py):
/// one VIF with the v4 and v6 subnets above and MTU 1500.
pub fn new_netinfo(vif_type: &str) -> Vec<Vif> {
    vec![vif(
        vif_type,
        "aa:aa:aa:aa:aa:aa",
        NETWORK_ID,
        vec![subnet_v4(), subnet_v6()],
    )]
}

/// One VIF as `fake_network_cache_model.new_vif` with the given subnets.
pub fn vif(vif_type: &str, mac: &str, network_id: &str, subnets: Vec<serde_json::Value>) -> Vif {
    serde_json::from_value(json!({
        "id": VIF_ID,
        "address": mac,
        "type": vif_type,
        "network": {"id": network_id, "bridge": "br0", "label": "public",
                    "subnets": subnets, "meta": {"mtu": 1500}}
    }))
    .unwrap()
}
