//! Routers, floating IPs and security groups: seed 003's topology and the
//! refusals around it.

use serde_json::json;

use crate::support::{ADMIN, harness};

#[tokio::test]
async fn seed_003_topology_and_floating_ips() {
    let h = harness().await;
    let net = h.network("p1", "openstack-net").await;
    let sub = h
        .subnet(
            "p1",
            &net,
            "192.168.0.0/24",
            json!({"gateway_ip": "192.168.0.1", "dns_nameservers": ["8.8.8.8"]}),
        )
        .await;
    let sub_id = sub["id"].as_str().unwrap();
    let router = h
        .create(
            "routers",
            "router",
            "p1",
            json!({"name": "openstack-router"}),
        )
        .await;
    let rid = router["id"].as_str().unwrap();
    assert_eq!(router["external_gateway_info"], json!(null));
    let r = h
        .put(
            &format!("routers/{rid}/add_router_interface"),
            "p1",
            json!({"subnet_id": sub_id}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let info = r.json();
    assert_eq!(info["subnet_id"], sub_id);
    assert_eq!(info["id"], rid);
    let iface = h
        .get(
            &format!("ports/{}", info["port_id"].as_str().unwrap()),
            "p1",
        )
        .await
        .json();
    assert_eq!(iface["port"]["fixed_ips"][0]["ip_address"], "192.168.0.1");
    assert_eq!(iface["port"]["device_owner"], "network:router_interface");
    let r = h
        .put(
            &format!("routers/{rid}/add_router_interface"),
            "p1",
            json!({"subnet_id": sub_id}),
        )
        .await;
    assert_eq!(r.status, 400, "second interface on one subnet");
    let public = h
        .create(
            "networks",
            "network",
            ADMIN,
            json!({"name": "public", "router:external": true}),
        )
        .await;
    let pid = public["id"].as_str().unwrap();
    h.subnet(
        ADMIN,
        pid,
        "172.24.1.0/24",
        json!({"gateway_ip": "172.24.1.1", "enable_dhcp": false,
        "allocation_pools": [{"start": "172.24.1.100", "end": "172.24.1.200"}]}),
    )
    .await;
    let r = h
        .put(
            &format!("routers/{rid}"),
            "p1",
            json!({"router": {"external_gateway_info": {"network_id": net}}}),
        )
        .await;
    assert_eq!(r.status, 400, "gateway on a non-external network");
    let r = h
        .put(
            &format!("routers/{rid}"),
            "p1",
            json!({"router": {"external_gateway_info": {"network_id": pid}}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let gw = r.json()["router"]["external_gateway_info"].clone();
    assert_eq!(gw["network_id"], pid);
    assert_eq!(gw["enable_snat"], true);
    let gw_ip = gw["external_fixed_ips"][0]["ip_address"].as_str().unwrap();
    let last: u8 = gw_ip.rsplit('.').next().unwrap().parse().unwrap();
    assert!((100..=200).contains(&last), "{gw_ip}");
    // Floating IP from the pool, associated to a port behind the router.
    let vm_port = h
        .create("ports", "port", "p1", json!({"network_id": net}))
        .await;
    let fip = h
        .create(
            "floatingips",
            "floatingip",
            "p1",
            json!({"floating_network_id": pid}),
        )
        .await;
    let addr = fip["floating_ip_address"].as_str().unwrap();
    assert!(addr.starts_with("172.24.1."));
    assert_eq!(fip["port_id"], json!(null));
    assert_eq!(fip["status"], "DOWN");
    let fid = fip["id"].as_str().unwrap();
    let r = h
        .put(
            &format!("floatingips/{fid}"),
            "p1",
            json!({"floatingip": {"port_id": vm_port["id"]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let assoc = r.json()["floatingip"].clone();
    assert_eq!(
        assoc["fixed_ip_address"],
        vm_port["fixed_ips"][0]["ip_address"]
    );
    assert_eq!(assoc["router_id"], rid);
    // Things in use are protected.
    let r = h
        .put(
            &format!("routers/{rid}"),
            "p1",
            json!({"router": {"external_gateway_info": {}}}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "RouterExternalGatewayInUseByFloatingIp");
    let r = h
        .put(
            &format!("routers/{rid}/remove_router_interface"),
            "p1",
            json!({"subnet_id": sub_id}),
        )
        .await;
    assert_eq!(r.status, 409);
    let r = h.delete(&format!("routers/{rid}"), "p1").await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "RouterInUse");
    let r = h
        .delete(
            &format!("ports/{}", info["port_id"].as_str().unwrap()),
            "p1",
        )
        .await;
    assert_eq!(r.status, 409, "router ports are deleted through the router");
    // Disassociate, then unwind.
    let r = h
        .put(
            &format!("floatingips/{fid}"),
            "p1",
            json!({"floatingip": {"port_id": null}}),
        )
        .await;
    assert_eq!(r.json()["floatingip"]["port_id"], json!(null));
    assert_eq!(
        h.delete(&format!("floatingips/{fid}"), "p1").await.status,
        204
    );
    let r = h
        .put(
            &format!("routers/{rid}/remove_router_interface"),
            "p1",
            json!({"subnet_id": sub_id}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = h
        .put(
            &format!("routers/{rid}/remove_router_interface"),
            "p1",
            json!({"subnet_id": sub_id}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(h.delete(&format!("routers/{rid}"), "p1").await.status, 204);
    // The gateway and floating addresses went back to the pool.
    let left = h
        .get(&format!("ports?network_id={pid}"), ADMIN)
        .await
        .json();
    assert_eq!(left["ports"], json!([]));
}

#[tokio::test]
async fn floating_ips_need_an_external_network_and_a_router() {
    let h = harness().await;
    let net = h.network("p1", "n").await;
    h.subnet("p1", &net, "10.0.0.0/24", json!({})).await;
    let r = h
        .post(
            "floatingips",
            "p1",
            json!({"floatingip": {"floating_network_id": net}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let public = h
        .create(
            "networks",
            "network",
            ADMIN,
            json!({"router:external": true}),
        )
        .await;
    let pid = public["id"].as_str().unwrap();
    h.subnet(ADMIN, pid, "172.24.1.0/29", json!({})).await;
    let port = h
        .create("ports", "port", "p1", json!({"network_id": net}))
        .await;
    let r = h
        .post(
            "floatingips",
            "p1",
            json!({"floatingip": {"floating_network_id": pid, "port_id": port["id"]}}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_type(), "ExternalGatewayForFloatingIPNotFound");
    let r = h.post("floatingips", "p1", json!({"floatingip": {"floating_network_id": pid, "floating_ip_address": "172.24.1.3"}})).await;
    assert_eq!(r.status, 403, "choosing the address is admin-only");
    // A /29 has 5 pool addresses; the failed attempt above released its own.
    for _ in 0..5 {
        h.create(
            "floatingips",
            "floatingip",
            "p1",
            json!({"floating_network_id": pid}),
        )
        .await;
    }
    let r = h
        .post(
            "floatingips",
            "p1",
            json!({"floatingip": {"floating_network_id": pid}}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "IpAddressGenerationFailure");
    assert_eq!(
        h.get("floatingips", "p2").await.json()["floatingips"],
        json!([])
    );
}

#[tokio::test]
async fn security_groups_and_rules() {
    let h = harness().await;
    let listed = h.get("security-groups", "p1").await.json();
    let groups = listed["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"], "default");
    let rules = groups[0]["security_group_rules"].as_array().unwrap();
    let ingress: Vec<_> = rules
        .iter()
        .filter(|r| r["direction"] == "ingress")
        .collect();
    assert_eq!(ingress.len(), 2);
    assert!(
        ingress
            .iter()
            .all(|r| r["remote_group_id"] == groups[0]["id"])
    );
    assert_eq!(
        h.get("security-groups", "p1").await.json()["security_groups"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let web = h
        .create(
            "security-groups",
            "security_group",
            "p1",
            json!({"name": "web"}),
        )
        .await;
    assert_eq!(web["security_group_rules"].as_array().unwrap().len(), 2);
    let wid = web["id"].as_str().unwrap();
    let rule = h
        .create("security-group-rules", "security_group_rule", "p1", json!({"security_group_id": wid,
            "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}))
        .await;
    assert_eq!(rule["protocol"], "tcp");
    let r = h.post("security-group-rules", "p1", json!({"security_group_rule": {"security_group_id": wid,
        "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}})).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "SecurityGroupRuleExists");
    // A prefix with host bits is kept as given, its network shown as
    // normalized_cidr (neutron's security-groups-normalized-cidr; Tempest
    // sends 10.2.3.124/24 through nova and expects it back).
    let masked = h
        .create("security-group-rules", "security_group_rule", "p1", json!({"security_group_id": wid,
            "direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "10.2.3.124/24"}))
        .await;
    assert_eq!(masked["remote_ip_prefix"], "10.2.3.124/24");
    assert_eq!(masked["normalized_cidr"], "10.2.3.0/24");
    // The same network written another way is the same rule.
    let r = h.post("security-group-rules", "p1", json!({"security_group_rule": {"security_group_id": wid,
        "direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "10.2.3.7/24"}})).await;
    assert_eq!(r.status, 409);
    for bad in [
        json!({"direction": "sideways"}),
        json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 22}),
        json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 70000}),
        // Tempest's invalid-port cases: a range needs both ends, 0 is no port.
        json!({"direction": "ingress", "protocol": "tcp", "port_range_max": 6}),
        json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 6}),
        json!({"direction": "ingress", "protocol": "udp", "port_range_min": 0, "port_range_max": 6}),
        json!({"direction": "ingress", "port_range_min": 22}),
        json!({"direction": "ingress", "protocol": "bogus"}),
        json!({"direction": "ingress", "ethertype": "IPv6", "remote_ip_prefix": "10.0.0.0/8"}),
        json!({"direction": "ingress", "ethertype": "IPv5"}),
    ] {
        let mut body = bad.clone();
        body["security_group_id"] = json!(wid);
        let r = h
            .post(
                "security-group-rules",
                "p1",
                json!({"security_group_rule": body}),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", String::from_utf8_lossy(&r.body));
    }
    assert_eq!(
        h.get(&format!("security-groups/{wid}"), "p2").await.status,
        404
    );
    let net = h.network("p1", "n").await;
    h.subnet("p1", &net, "10.0.0.0/24", json!({})).await;
    let port = h
        .create(
            "ports",
            "port",
            "p1",
            json!({"network_id": net, "security_groups": [wid]}),
        )
        .await;
    assert_eq!(port["security_groups"], json!([wid]));
    let r = h.delete(&format!("security-groups/{wid}"), "p1").await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "SecurityGroupInUse");
    let default_id = groups[0]["id"].as_str().unwrap();
    assert_eq!(
        h.delete(&format!("security-groups/{default_id}"), "p1")
            .await
            .status,
        409
    );
    assert_eq!(
        h.delete(
            &format!("security-group-rules/{}", rule["id"].as_str().unwrap()),
            "p1"
        )
        .await
        .status,
        204
    );
}

#[tokio::test]
async fn only_the_default_group_is_called_default() {
    let h = harness().await;
    // The project's default group exists once anything was asked of it.
    h.get("security-groups", "p1").await;
    let r = h
        .post(
            "security-groups",
            "p1",
            json!({"security_group": {"name": "default"}}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "SecurityGroupDefaultAlreadyExists");
    let web = h
        .create(
            "security-groups",
            "security_group",
            "p1",
            json!({"name": "web"}),
        )
        .await;
    let id = web["id"].as_str().unwrap();
    let r = h
        .put(
            &format!("security-groups/{id}"),
            "p1",
            json!({"security_group": {"name": "default"}}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "SecurityGroupDefaultAlreadyExists");
    let r = h
        .put(
            &format!("security-groups/{id}"),
            "p1",
            json!({"security_group": {"name": "web2"}}),
        )
        .await;
    assert_eq!(r.status, 200);
}
