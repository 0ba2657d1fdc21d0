//! Servers on Neutron ports, end to end with the real `openstack` CLI and
//! the test guest under TCG: `--nic net-id=...,v4-fixed-ip=...` and
//! `--port` give the guest ports whose addresses and MACs it reads from its
//! config drive or its injected interfaces file; `server show` has the
//! addresses (floating ones too); deleting the server deletes the ports it
//! created and keeps the user's.

use serde_json::{Value, json};

use crate::compute::{setup, wait_console};
use crate::support::{Backend, Cloud, failed};

/// The text between the guest's `===NIMBUS-BEGIN name===` markers.
fn block<'a>(console: &'a str, name: &str) -> &'a str {
    let begin = format!("===NIMBUS-BEGIN {name}===");
    let end = format!("===NIMBUS-END {name}===");
    let start = console
        .find(&begin)
        .unwrap_or_else(|| panic!("no {name} block on the console:\n{console}"))
        + begin.len();
    let len = console[start..].find(&end).expect("block end");
    &console[start..start + len]
}

fn port_of(cloud: &Cloud, server: &str) -> Value {
    let ports = cloud.openstack_json(&["port", "list", "--server", server]);
    let ports = ports.as_array().expect("port list");
    assert_eq!(ports.len(), 1, "{server} has one port: {ports:?}");
    cloud.openstack_json(&["port", "show", ports[0]["ID"].as_str().unwrap()])
}

fn create_raw(cloud: &Cloud, server: Value) -> (u16, Value) {
    let token = cloud.token(&cloud.admin());
    let r = cloud
        .http()
        .post(cloud.url("/compute/v2.1/servers"))
        .header("x-auth-token", &token)
        .header("openstack-api-version", "compute 2.90")
        .json(&json!({ "server": server }))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn get_raw(cloud: &Cloud, path: &str) -> (u16, Value) {
    let token = cloud.token(&cloud.admin());
    let r = cloud
        .http()
        .get(cloud.url(&format!("/compute/v2.1{path}")))
        .header("x-auth-token", &token)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn servers_get_ports_their_guests_see_and_floating_ips() {
    let cloud = Cloud::start(Backend::Sqlite).expect("sqlite cloud");
    let image = setup(&cloud, "guest");
    let flavor = cloud.openstack_json(&["flavor", "show", "m1.test"])["id"].clone();

    // A tenant network behind a router with an external gateway.
    let net = cloud.openstack_json(&["network", "create", "net1"]);
    let net_id = net["id"].as_str().unwrap().to_string();
    cloud.openstack_ok(&[
        "subnet",
        "create",
        "--network",
        "net1",
        "--subnet-range",
        "10.0.0.0/24",
        "--gateway",
        "10.0.0.1",
        "--dns-nameserver",
        "10.0.0.2",
        "sub1",
    ]);
    cloud.openstack_ok(&["router", "create", "r1"]);
    cloud.openstack_ok(&["router", "add", "subnet", "r1", "sub1"]);
    cloud.openstack_ok(&["network", "create", "--external", "public"]);
    cloud.openstack_ok(&[
        "subnet",
        "create",
        "--network",
        "public",
        "--subnet-range",
        "172.24.1.0/24",
        "--allocation-pool",
        "start=172.24.1.100,end=172.24.1.200",
        "--no-dhcp",
        "public-subnet",
    ]);
    cloud.openstack_ok(&["router", "set", "--external-gateway", "public", "r1"]);

    // Refused before the 202, as nova refuses them.
    let unknown = "3c8a5b1e-0000-4000-8000-0000000000ff";
    for (networks, want, text) in [
        (json!([{"uuid": unknown}]), 400, "could not be found"),
        (
            json!([{"uuid": net_id, "fixed_ip": "192.168.9.9"}]),
            400,
            "does not exist in network",
        ),
        (json!([{"uuid": "nope"}]), 400, "Bad networks format"),
    ] {
        let (status, body) = create_raw(
            &cloud,
            json!({"name": "bad", "imageRef": image, "flavorRef": flavor, "networks": networks}),
        );
        assert_eq!(status, want, "{networks}: {body}");
        assert!(body.to_string().contains(text), "{networks}: {body}");
    }
    let (status, body) = create_raw(
        &cloud,
        json!({"name": "bad", "imageRef": image, "flavorRef": flavor, "max_count": 2,
               "networks": [{"uuid": net_id, "fixed_ip": "10.0.0.70"}]}),
    );
    assert_eq!(status, 400, "{body}");

    // A server with a static address and a config drive.
    let vm1 = cloud.openstack_json(&[
        "server",
        "create",
        "--image",
        "guest",
        "--flavor",
        "m1.test",
        "--nic",
        &format!("net-id={net_id},v4-fixed-ip=10.0.0.50"),
        "--config-drive",
        "true",
        "--wait",
        "vm1",
    ]);
    assert_eq!(vm1["status"], "ACTIVE", "{vm1}");
    let vm1_id = vm1["id"].as_str().unwrap().to_string();
    let shown = cloud.openstack_json(&["server", "show", "vm1"]);
    assert!(
        shown["addresses"].to_string().contains("10.0.0.50"),
        "{shown}"
    );
    assert!(
        shown["security_groups"].to_string().contains("default"),
        "{shown}"
    );
    let port1 = port_of(&cloud, "vm1");
    assert_eq!(port1["device_id"], vm1_id.as_str());
    assert_eq!(port1["device_owner"], "compute:nova");
    let mac1 = port1["mac_address"].as_str().unwrap().to_string();
    let text = wait_console(&cloud, "vm1", "NIMBUS-GUEST ready");
    assert!(
        text.contains(&format!("NIMBUS-GUEST nic eth0 {mac1}")),
        "the guest NIC has the port's MAC:\n{text}"
    );
    let nd: Value = serde_json::from_str(block(&text, "config:network_data.json").trim())
        .expect("network_data.json");
    assert_eq!(
        nd["links"][0]["ethernet_mac_address"],
        mac1.as_str(),
        "{nd}"
    );
    assert_eq!(nd["networks"][0]["ip_address"], "10.0.0.50", "{nd}");
    assert_eq!(nd["networks"][0]["type"], "ipv4", "{nd}");
    assert_eq!(nd["services"][0]["address"], "10.0.0.2", "{nd}");

    // os-server-ips, from the same ports.
    let (status, ips) = get_raw(&cloud, &format!("/servers/{vm1_id}/ips"));
    assert_eq!(status, 200, "{ips}");
    assert_eq!(
        ips,
        json!({"addresses": {"net1": [{"version": 4, "addr": "10.0.0.50"}]}})
    );
    let (status, one) = get_raw(&cloud, &format!("/servers/{vm1_id}/ips/net1"));
    assert_eq!((status, one), (200, ips["addresses"].clone()));
    assert_eq!(
        get_raw(&cloud, &format!("/servers/{vm1_id}/ips/public")).0,
        404
    );

    // A floating IP shows in the server's addresses, and goes again.
    let fip = cloud.openstack_json(&["floating", "ip", "create", "public"]);
    let fip_addr = fip["floating_ip_address"].as_str().unwrap().to_string();
    cloud.openstack_ok(&["server", "add", "floating", "ip", "vm1", &fip_addr]);
    let (_, detail) = get_raw(&cloud, &format!("/servers/{vm1_id}"));
    let addrs = &detail["server"]["addresses"]["net1"];
    assert_eq!(addrs[0]["addr"], "10.0.0.50", "{detail}");
    assert_eq!(addrs[0]["OS-EXT-IPS:type"], "fixed");
    assert_eq!(addrs[0]["OS-EXT-IPS-MAC:mac_addr"], mac1.as_str());
    assert_eq!(addrs[1]["addr"], fip_addr.as_str(), "{detail}");
    assert_eq!(addrs[1]["OS-EXT-IPS:type"], "floating");
    let shown = cloud.openstack_json(&["server", "show", "vm1"]);
    assert!(
        shown["addresses"].to_string().contains(&fip_addr),
        "{shown}"
    );
    let listed = cloud.openstack_json(&["server", "list", "--ip", "10.0.0.5"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    cloud.openstack_ok(&["server", "remove", "floating", "ip", "vm1", &fip_addr]);
    let shown = cloud.openstack_json(&["server", "show", "vm1"]);
    assert!(
        !shown["addresses"].to_string().contains(&fip_addr),
        "{shown}"
    );

    // `server add security group` goes through nova's addSecurityGroup
    // action: the server's port gets the group, and loses it again.
    cloud.openstack_ok(&["security", "group", "create", "web"]);
    cloud.openstack_ok(&["server", "add", "security", "group", "vm1", "web"]);
    let shown = cloud.openstack_json(&["server", "show", "vm1"]);
    assert!(
        shown["security_groups"].to_string().contains("web"),
        "{shown}"
    );
    let web = cloud.openstack_json(&["security", "group", "show", "web"]);
    let ports = cloud.openstack_json(&["port", "list", "--server", "vm1", "--long"]);
    assert!(
        ports.to_string().contains(web["id"].as_str().unwrap()),
        "{ports}"
    );
    cloud.openstack_ok(&["server", "remove", "security", "group", "vm1", "web"]);
    let shown = cloud.openstack_json(&["server", "show", "vm1"]);
    assert!(
        !shown["security_groups"].to_string().contains("web"),
        "{shown}"
    );

    // A user's port, injected into the root disk (no config drive).
    let mine = cloud.openstack_json(&[
        "port",
        "create",
        "--network",
        "net1",
        "--fixed-ip",
        "subnet=sub1,ip-address=10.0.0.60",
        "myport",
    ]);
    let mine_id = mine["id"].as_str().unwrap().to_string();
    let mac2 = mine["mac_address"].as_str().unwrap().to_string();
    let vm2 = cloud.openstack_json(&[
        "server", "create", "--image", "guest", "--flavor", "m1.test", "--port", "myport",
        "--wait", "vm2",
    ]);
    assert_eq!(vm2["status"], "ACTIVE", "{vm2}");
    let bound = cloud.openstack_json(&["port", "show", "myport"]);
    assert_eq!(bound["device_id"], vm2["id"]);
    let text = wait_console(&cloud, "vm2", "NIMBUS-GUEST ready");
    assert!(text.contains("NIMBUS-GUEST config-drive none"), "{text}");
    assert!(
        text.contains(&format!("NIMBUS-GUEST nic eth0 {mac2}")),
        "{text}"
    );
    let interfaces = block(&text, "interfaces");
    assert!(
        interfaces.contains("iface eth0 inet static")
            && interfaces.contains("address 10.0.0.60")
            && interfaces.contains("netmask 255.255.255.0")
            && interfaces.contains("gateway 10.0.0.1")
            && interfaces.contains(&format!("hwaddress ether {mac2}")),
        "{interfaces}"
    );

    // A bound port cannot go to another server; `auto` with two networks
    // is ambiguous.
    let err = failed(
        cloud.openstack(&[
            "server", "create", "--image", "guest", "--flavor", "m1.test", "--port", "myport",
            "vm3",
        ]),
        &["server create --port myport"],
    );
    assert!(err.contains("409") && err.contains("in use"), "{err}");
    cloud.openstack_ok(&["network", "create", "net2"]);
    let err = failed(
        cloud.openstack(&[
            "server", "create", "--image", "guest", "--flavor", "m1.test", "--nic", "auto", "vm4",
        ]),
        &["server create --nic auto"],
    );
    assert!(
        err.contains("409") && err.contains("More than one possible network"),
        "{err}"
    );

    // Delete: the created port goes, the user's is unbound and kept.
    let port1_id = port1["id"].as_str().unwrap().to_string();
    cloud.openstack_ok(&["server", "delete", "--wait", "vm1", "vm2"]);
    failed(
        cloud.openstack(&["port", "show", &port1_id]),
        &["port show of a deleted server's port"],
    );
    let kept = cloud.openstack_json(&["port", "show", &mine_id]);
    assert_eq!(kept["device_id"], "", "{kept}");
    assert_eq!(kept["device_owner"], "", "{kept}");
}
