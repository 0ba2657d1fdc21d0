//! Ports and IPAM: addresses, MACs, SLAAC, refusals, and allocation under
//! 200 concurrent creations on SQLite and PostgreSQL.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{Value, json};

use crate::support::{ADMIN, Harness, harness, harness_on};

async fn port(h: &Harness, who: &str, body: Value) -> Value {
    h.create("ports", "port", who, body).await
}

#[tokio::test]
async fn ports_get_addresses_macs_and_default_security_group() {
    let h = harness().await;
    let net = h.network("p1", "net1").await;
    let s = h.subnet("p1", &net, "192.168.0.0/24", json!({})).await;
    let p = port(&h, "p1", json!({"network_id": net, "name": "a"})).await;
    let ip = p["fixed_ips"][0]["ip_address"].as_str().unwrap();
    assert_eq!(p["fixed_ips"][0]["subnet_id"], s["id"]);
    assert!(
        ip.starts_with("192.168.0.")
            && ip != "192.168.0.1"
            && ip != "192.168.0.0"
            && ip != "192.168.0.255",
        "{ip}"
    );
    assert!(p["mac_address"].as_str().unwrap().starts_with("fa:16:3e:"));
    assert_eq!(p["status"], "DOWN");
    assert_eq!(p["device_owner"], "");
    assert_eq!(p["port_security_enabled"], true);
    assert_eq!(p["security_groups"].as_array().unwrap().len(), 1);
    assert!(p.get("binding:host_id").is_none(), "binding is admin-only");
    let sg = h
        .get(
            &format!(
                "security-groups/{}",
                p["security_groups"][0].as_str().unwrap()
            ),
            "p1",
        )
        .await
        .json();
    assert_eq!(sg["security_group"]["name"], "default");
    assert_eq!(
        sg["security_group"]["security_group_rules"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    // Specific address, by address only.
    let fixed = port(
        &h,
        "p1",
        json!({"network_id": net, "fixed_ips": [{"ip_address": "192.168.0.50"}]}),
    )
    .await;
    assert_eq!(
        fixed["fixed_ips"],
        json!([{"subnet_id": s["id"], "ip_address": "192.168.0.50"}])
    );
    // Taken, gateway, outside, broadcast.
    let r = h
        .post(
            "ports",
            "p1",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "192.168.0.50"}]}}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "IpAddressAlreadyAllocated");
    let r = h
        .post(
            "ports",
            "p1",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "192.168.0.1"}]}}),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = h
        .post(
            "ports",
            "p1",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.5"}]}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), "InvalidIpForNetwork");
    let r = h.post("ports", "p1", json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": s["id"], "ip_address": "192.168.0.255"}]}})).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_type(), "InvalidIpForSubnet");
    let r = h
        .post(
            "ports",
            "p1",
            json!({"port": {"network_id": net, "fixed_ips": [{"subnet_id": "nope"}]}}),
        )
        .await;
    assert_eq!(r.status, 400);
    // No addresses when asked for none.
    let bare = port(&h, "p1", json!({"network_id": net, "fixed_ips": []})).await;
    assert_eq!(bare["fixed_ips"], json!([]));
    // MAC given, then reused on the same network.
    let m = port(
        &h,
        "p1",
        json!({"network_id": net, "mac_address": "FA:16:3E:AA:BB:CC"}),
    )
    .await;
    assert_eq!(m["mac_address"], "fa:16:3e:aa:bb:cc");
    let r = h
        .post(
            "ports",
            "p1",
            json!({"port": {"network_id": net, "mac_address": "fa:16:3e:aa:bb:cc"}}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "MacAddressInUse");
    let r = h
        .post(
            "ports",
            "p1",
            json!({"port": {"network_id": net, "mac_address": "zz"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    // Admin-only binding.
    let r = h
        .post(
            "ports",
            "p1",
            json!({"port": {"network_id": net, "binding:host_id": "h1"}}),
        )
        .await;
    assert_eq!(r.status, 403);
    let bound = port(&h, ADMIN, json!({"network_id": net, "tenant_id": "p1", "binding:host_id": "h1", "device_owner": "compute:nova", "device_id": "vm"})).await;
    assert_eq!(bound["binding:host_id"], "h1");
    assert_eq!(bound["binding:vif_type"], "other");
    assert_eq!(bound["status"], "ACTIVE");
    // Filters.
    let found = h
        .get("ports?fixed_ips=ip_address%3D192.168.0.50", "p1")
        .await
        .json();
    assert_eq!(found["ports"].as_array().unwrap().len(), 1);
    let by_device = h.get("ports?device_id=vm", "p1").await.json();
    assert_eq!(by_device["ports"][0]["id"], bound["id"]);
    // Tenancy.
    let r = h
        .get(&format!("ports/{}", fixed["id"].as_str().unwrap()), "p2")
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_type(), "PortNotFound");
    assert_eq!(h.get("ports", "p2").await.json()["ports"], json!([]));
}

#[tokio::test]
async fn ports_update_addresses_pairs_and_security() {
    let h = harness().await;
    let net = h.network("p1", "net1").await;
    let s = h.subnet("p1", &net, "10.0.0.0/24", json!({})).await;
    let p = port(
        &h,
        "p1",
        json!({"network_id": net, "fixed_ips": [{"ip_address": "10.0.0.10"}]}),
    )
    .await;
    let id = p["id"].as_str().unwrap();
    let r = h.put(&format!("ports/{id}"), "p1", json!({"port": {"fixed_ips": [{"ip_address": "10.0.0.10"}, {"subnet_id": s["id"]}], "name": "renamed"}})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let updated = r.json()["port"].clone();
    assert_eq!(updated["fixed_ips"].as_array().unwrap().len(), 2);
    assert_eq!(updated["fixed_ips"][0]["ip_address"], "10.0.0.10");
    assert_eq!(updated["name"], "renamed");
    let r = h
        .put(
            &format!("ports/{id}"),
            "p1",
            json!({"port": {"allowed_address_pairs": [{"ip_address": "10.0.0.200/32"}]}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["port"]["allowed_address_pairs"][0]["mac_address"],
        p["mac_address"]
    );
    let r = h
        .put(
            &format!("ports/{id}"),
            "p1",
            json!({"port": {"port_security_enabled": false}}),
        )
        .await;
    assert_eq!(r.status, 400, "security groups still set");
    let r = h.put(&format!("ports/{id}"), "p1", json!({"port": {"port_security_enabled": false, "security_groups": [], "allowed_address_pairs": []}})).await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = h
        .put(
            &format!("ports/{id}"),
            "p1",
            json!({"port": {"security_groups": ["nope"], "port_security_enabled": true}}),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .put(
            &format!("ports/{id}"),
            "p1",
            json!({"port": {"network_id": "x"}}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn slaac_ports_get_eui64_addresses() {
    let h = harness().await;
    let net = h.network("p1", "v6").await;
    let v6 = h
        .subnet(
            "p1",
            &net,
            "2001:db8::/64",
            json!({"ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}),
        )
        .await;
    let v4 = h.subnet("p1", &net, "10.0.0.0/24", json!({})).await;
    let p = port(
        &h,
        "p1",
        json!({"network_id": net, "mac_address": "fa:16:3e:12:34:56"}),
    )
    .await;
    let ips = p["fixed_ips"].as_array().unwrap();
    assert!(
        ips.contains(
            &json!({"subnet_id": v6["id"], "ip_address": "2001:db8::f816:3eff:fe12:3456"})
        ),
        "{ips:?}"
    );
    assert!(ips.iter().any(|i| i["subnet_id"] == v4["id"]));
    let r = h
        .post(
            "ports",
            "p1",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": "2001:db8::5"}]}}),
        )
        .await;
    assert_eq!(r.status, 400, "SLAAC subnets take no fixed addresses");
    let stateful = h
        .subnet(
            "p1",
            &h.network("p1", "v6s").await,
            "2001:db8:1::/64",
            json!({"ipv6_address_mode": "dhcpv6-stateful"}),
        )
        .await;
    let q = port(&h, "p1", json!({"network_id": stateful["network_id"]})).await;
    assert_eq!(
        q["fixed_ips"][0]["ip_address"],
        q["fixed_ips"][0]["ip_address"]
    );
    assert!(
        q["fixed_ips"][0]["ip_address"]
            .as_str()
            .unwrap()
            .starts_with("2001:db8:1::")
    );
}

#[tokio::test]
async fn in_use_networks_and_subnets_are_not_deleted() {
    let h = harness().await;
    let net = h.network("p1", "net1").await;
    let s = h.subnet("p1", &net, "10.0.0.0/24", json!({})).await;
    let p = port(&h, "p1", json!({"network_id": net})).await;
    let r = h.delete(&format!("networks/{net}"), "p1").await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "NetworkInUse");
    let r = h
        .delete(&format!("subnets/{}", s["id"].as_str().unwrap()), "p1")
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "SubnetInUse");
    assert_eq!(
        h.delete(&format!("ports/{}", p["id"].as_str().unwrap()), "p1")
            .await
            .status,
        204
    );
    assert_eq!(h.delete(&format!("networks/{net}"), "p1").await.status, 204);
    assert_eq!(
        h.get(&format!("subnets/{}", s["id"].as_str().unwrap()), "p1")
            .await
            .status,
        404
    );
}

/// Fills a /24 with `ports` concurrent creations: each success has a
/// distinct address in the pool, the overflow gets 409, and a delete frees
/// an address for the next creation.
async fn concurrent_allocation(h: Harness) {
    let h = Arc::new(h);
    let net = h.network("p1", "busy").await;
    h.subnet("p1", &net, "10.20.0.0/24", json!({})).await;
    // 253 addresses in the pool, 200 + 60 requests.
    let total = 260;
    let mut tasks = Vec::new();
    for i in 0..total {
        let h = h.clone();
        let net = net.clone();
        tasks.push(tokio::spawn(async move {
            h.post(
                "ports",
                "p1",
                json!({"port": {"network_id": net, "name": format!("p{i}")}}),
            )
            .await
        }));
    }
    let mut addresses = HashSet::new();
    let mut conflicts = 0;
    let mut ids = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        match r.status.as_u16() {
            201 => {
                let p = r.json()["port"].clone();
                let ip = p["fixed_ips"][0]["ip_address"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let last: u8 = ip.rsplit('.').next().unwrap().parse().unwrap();
                assert!((2..=254).contains(&last), "{ip} outside the pool");
                assert!(addresses.insert(ip.clone()), "{ip} handed out twice");
                ids.push((p["id"].as_str().unwrap().to_string(), ip));
            }
            409 => {
                assert_eq!(
                    r.error_type(),
                    "IpAddressGenerationFailure",
                    "{}",
                    String::from_utf8_lossy(&r.body)
                );
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&r.body)),
        }
    }
    assert_eq!(addresses.len(), 253);
    assert_eq!(conflicts, total - 253);
    let (freed_id, freed_ip) = &ids[17];
    let r = h.delete(&format!("ports/{freed_id}"), "p1").await;
    assert_eq!(r.status, 204);
    let again = h
        .create("ports", "port", "p1", json!({"network_id": net}))
        .await;
    assert_eq!(
        again["fixed_ips"][0]["ip_address"],
        freed_ip.as_str(),
        "the freed address is reused"
    );
    let r = h
        .post("ports", "p1", json!({"port": {"network_id": net}}))
        .await;
    assert_eq!(r.status, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_port_creations_on_sqlite() {
    concurrent_allocation(harness().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_port_creations_on_postgres() {
    if let Some(h) = harness_on(true).await {
        concurrent_allocation(h).await;
    }
}

#[tokio::test]
async fn deleting_an_auto_address_subnet_takes_its_addresses_from_the_ports() {
    let h = harness().await;
    for mode in ["slaac", "dhcpv6-stateless"] {
        let net = h.network("p1", mode).await;
        let v6 = h
            .subnet(
                "p1",
                &net,
                "2001:db8::/64",
                json!({"ipv6_address_mode": mode, "ipv6_ra_mode": mode}),
            )
            .await;
        let v4 = h.subnet("p1", &net, "10.0.0.0/24", json!({})).await;
        let p = port(&h, "p1", json!({"network_id": net})).await;
        let v4_ip = p["fixed_ips"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["subnet_id"] == v4["id"])
            .unwrap()
            .clone();
        assert_eq!(p["fixed_ips"].as_array().unwrap().len(), 2, "{p}");
        let v6_id = v6["id"].as_str().unwrap();
        let r = h.delete(&format!("subnets/{v6_id}"), "p1").await;
        assert_eq!(
            r.status,
            204,
            "{mode}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(h.get(&format!("subnets/{v6_id}"), "p1").await.status, 404);
        let pid = p["id"].as_str().unwrap();
        let shown = h.get(&format!("ports/{pid}"), "p1").await.json()["port"].clone();
        assert_eq!(shown["fixed_ips"], json!([v4_ip]), "{mode}");
        assert_eq!(
            shown["revision_number"].as_i64().unwrap(),
            p["revision_number"].as_i64().unwrap() + 1
        );
        let shown_net = h.get(&format!("networks/{net}"), "p1").await.json();
        assert_eq!(shown_net["network"]["subnets"], json!([v4["id"]]));
        // The port itself stays, so the network is still in use, and so is
        // the IPv4 subnet it holds an address on.
        let r = h.delete(&format!("networks/{net}"), "p1").await;
        assert_eq!(r.status, 409);
        assert_eq!(r.error_type(), "NetworkInUse");
        let r = h
            .delete(&format!("subnets/{}", v4["id"].as_str().unwrap()), "p1")
            .await;
        assert_eq!(r.error_type(), "SubnetInUse");
    }

    // The RA mode alone makes a subnet auto-address too (neutron's
    // is_auto_address_subnet): ports get EUI-64 addresses, deletion frees them.
    let net = h.network("p1", "ra-only").await;
    let ra = h
        .subnet(
            "p1",
            &net,
            "2001:db8:2::/64",
            json!({"ipv6_ra_mode": "slaac"}),
        )
        .await;
    let p = port(
        &h,
        "p1",
        json!({"network_id": net, "mac_address": "fa:16:3e:12:34:56"}),
    )
    .await;
    assert_eq!(
        p["fixed_ips"],
        json!([{"subnet_id": ra["id"], "ip_address": "2001:db8:2:0:f816:3eff:fe12:3456"}])
    );
    let r = h
        .delete(&format!("subnets/{}", ra["id"].as_str().unwrap()), "p1")
        .await;
    assert_eq!(r.status, 204);
    let pid = p["id"].as_str().unwrap();
    let shown = h.get(&format!("ports/{pid}"), "p1").await.json();
    assert_eq!(shown["port"]["fixed_ips"], json!([]));

    // A stateful IPv6 subnet keeps neutron's rule: in use while a port
    // holds an address.
    let net = h.network("p1", "stateful").await;
    let st = h
        .subnet(
            "p1",
            &net,
            "2001:db8:1::/64",
            json!({"ipv6_address_mode": "dhcpv6-stateful"}),
        )
        .await;
    port(&h, "p1", json!({"network_id": net})).await;
    let r = h
        .delete(&format!("subnets/{}", st["id"].as_str().unwrap()), "p1")
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "SubnetInUse");
}

#[tokio::test]
async fn a_router_interface_keeps_an_auto_address_subnet() {
    let h = harness().await;
    let net = h.network("p1", "routed").await;
    let s = h
        .subnet(
            "p1",
            &net,
            "2001:db8:3::/64",
            json!({"ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}),
        )
        .await;
    let router = h
        .create("routers", "router", "p1", json!({"name": "r"}))
        .await;
    let rid = router["id"].as_str().unwrap();
    let r = h
        .put(
            &format!("routers/{rid}/add_router_interface"),
            "p1",
            json!({"subnet_id": s["id"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let pid = r.json()["port_id"].as_str().unwrap().to_string();
    let interface = h.get(&format!("ports/{pid}"), "p1").await.json();
    assert_eq!(
        interface["port"]["fixed_ips"],
        json!([{"subnet_id": s["id"], "ip_address": "2001:db8:3::1"}]),
        "the interface holds the gateway, not an EUI-64 address"
    );
    let sid = s["id"].as_str().unwrap();
    let r = h.delete(&format!("subnets/{sid}"), "p1").await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "SubnetInUse");
    let r = h
        .put(
            &format!("routers/{rid}/remove_router_interface"),
            "p1",
            json!({"subnet_id": sid}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(h.delete(&format!("subnets/{sid}"), "p1").await.status, 204);
}
