//! Networks and subnets: shapes, defaults, tenancy, provider attributes and
//! neutron's refusals.

use serde_json::json;

use crate::support::{ADMIN, harness};

#[tokio::test]
async fn network_has_neutrons_shape_and_defaults() {
    let h = harness().await;
    let n = h
        .create(
            "networks",
            "network",
            "p1",
            json!({"name": "net1", "admin_state_up": true}),
        )
        .await;
    assert_eq!(n["name"], "net1");
    assert_eq!(n["status"], "ACTIVE");
    assert_eq!(n["shared"], false);
    assert_eq!(n["router:external"], false);
    assert_eq!(n["mtu"], 1450);
    assert_eq!(n["project_id"], "p1");
    assert_eq!(n["tenant_id"], "p1");
    assert_eq!(n["subnets"], json!([]));
    assert!(
        n.get("provider:network_type").is_none(),
        "provider attributes are admin-only"
    );
    let id = n["id"].as_str().unwrap();
    let shown = h.get(&format!("networks/{id}"), ADMIN).await.json();
    assert_eq!(shown["network"]["provider:network_type"], "vxlan");
    assert_eq!(shown["network"]["provider:segmentation_id"], 1);
    let listed = h.get("networks?name=net1", "p1").await.json();
    assert_eq!(listed["networks"][0]["id"], id);
    assert_eq!(
        h.get("networks?name=other", "p1").await.json()["networks"],
        json!([])
    );
    let fields = h
        .get(&format!("networks/{id}?fields=id&fields=name"), "p1")
        .await
        .json();
    assert_eq!(fields["network"], json!({"id": id, "name": "net1"}));
}

#[tokio::test]
async fn other_projects_see_404_but_shared_and_external_are_visible() {
    let h = harness().await;
    let private = h.network("p1", "private").await;
    let r = h.get(&format!("networks/{private}"), "p2").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_type(), "NetworkNotFound");
    assert_eq!(
        h.delete(&format!("networks/{private}"), "p2").await.status,
        404
    );
    assert_eq!(
        h.put(
            &format!("networks/{private}"),
            "p2",
            json!({"network": {"name": "x"}})
        )
        .await
        .status,
        404
    );
    let shared = h
        .create(
            "networks",
            "network",
            ADMIN,
            json!({"name": "shared", "shared": true}),
        )
        .await;
    let public = h
        .create(
            "networks",
            "network",
            ADMIN,
            json!({"name": "public", "router:external": true}),
        )
        .await;
    let listed = h.get("networks", "p2").await.json();
    let names: Vec<&str> = listed["networks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["shared", "public"]);
    // Visible is not writable.
    let r = h
        .put(
            &format!("networks/{}", shared["id"].as_str().unwrap()),
            "p2",
            json!({"network": {"name": "mine"}}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error_type(), "PolicyNotAuthorized");
    let _ = public;
    // Non-admins may not share or make external networks.
    let r = h
        .post("networks", "p1", json!({"network": {"shared": true}}))
        .await;
    assert_eq!(r.status, 403);
    let r = h
        .post(
            "networks",
            "p1",
            json!({"network": {"router:external": true}}),
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn provider_attributes_are_admin_only_and_validated() {
    let h = harness().await;
    let r = h
        .post(
            "networks",
            "p1",
            json!({"network": {"provider:network_type": "vlan"}}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(
        r.json()["NeutronError"]["message"]
            .as_str()
            .unwrap()
            .contains("provider:network_type")
    );
    let gre = h
        .create(
            "networks",
            "network",
            ADMIN,
            json!({"name": "g", "tenant_id": "p1",
            "provider:network_type": "gre", "provider:segmentation_id": 1}),
        )
        .await;
    assert_eq!(gre["project_id"], "p1");
    assert_eq!(gre["provider:network_type"], "gre");
    assert_eq!(gre["provider:segmentation_id"], 1);
    assert_eq!(gre["mtu"], 1458);
    let r = h
        .post(
            "networks",
            ADMIN,
            json!({"network": {"provider:network_type": "gre", "provider:segmentation_id": 1}}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "TunnelIdInUse");
    let vlan = h
        .create(
            "networks",
            "network",
            ADMIN,
            json!({"provider:network_type": "vlan",
        "provider:physical_network": "physnet1", "provider:segmentation_id": 100}),
        )
        .await;
    assert_eq!(vlan["mtu"], 1500);
    for bad in [
        json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 4095}),
        json!({"provider:network_type": "vlan", "provider:segmentation_id": 5}),
        json!({"provider:network_type": "vxlan", "provider:segmentation_id": 16777216}),
        json!({"provider:network_type": "flat"}),
        json!({"provider:network_type": "flat", "provider:physical_network": "public", "provider:segmentation_id": 2}),
        json!({"provider:network_type": "nonsense"}),
        json!({"provider:network_type": "vxlan", "provider:segmentation_id": "x"}),
    ] {
        let r = h
            .post("networks", ADMIN, json!({"network": bad.clone()}))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", String::from_utf8_lossy(&r.body));
    }
    h.create(
        "networks",
        "network",
        ADMIN,
        json!({"provider:network_type": "flat", "provider:physical_network": "public"}),
    )
    .await;
    let r = h.post("networks", ADMIN, json!({"network": {"provider:network_type": "flat", "provider:physical_network": "public"}})).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "FlatNetworkInUse");
}

#[tokio::test]
async fn bad_bodies_are_refused_clearly() {
    let h = harness().await;
    let r = h
        .post(
            "networks",
            "p1",
            json!({"network": {"name": "x", "bogus": 1}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json()["NeutronError"]["message"],
        "Unrecognized attribute(s) 'bogus'"
    );
    let r = h.post("networks", "p1", json!({"net": {}})).await;
    assert_eq!(r.status, 400);
    let r = h
        .post(
            "networks",
            "p1",
            json!({"network": {"admin_state_up": "maybe"}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .post(
            "networks",
            "p1",
            json!({"network": {"name": "x".repeat(300)}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .post("networks", "p1", json!({"network": {"mtu": 9000}}))
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .post("networks", "p1", json!({"network": {"id": "mine"}}))
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .post("networks", "p1:reader", json!({"network": {}}))
        .await;
    assert_eq!(r.status, 403);
    let r = h.get("nothing-here", "p1").await;
    assert_eq!(r.status, 404);
    assert!(r.json()["NeutronError"].is_object());
}

#[tokio::test]
async fn subnet_defaults_follow_neutron() {
    let h = harness().await;
    let net = h.network("p1", "net1").await;
    let s = h
        .subnet(
            "p1",
            &net,
            "192.168.0.0/24",
            json!({"name": "sub1", "dns_nameservers": ["8.8.8.8"]}),
        )
        .await;
    assert_eq!(s["gateway_ip"], "192.168.0.1");
    assert_eq!(
        s["allocation_pools"],
        json!([{"start": "192.168.0.2", "end": "192.168.0.254"}])
    );
    assert_eq!(s["enable_dhcp"], true);
    assert_eq!(s["dns_nameservers"], json!(["8.8.8.8"]));
    assert_eq!(s["host_routes"], json!([]));
    assert_eq!(s["ipv6_address_mode"], json!(null));
    let shown = h.get(&format!("networks/{net}"), "p1").await.json();
    assert_eq!(shown["network"]["subnets"], json!([s["id"]]));
    let none = h
        .subnet(
            "p1",
            &h.network("p1", "n2").await,
            "10.0.0.0/29",
            json!({"gateway_ip": null}),
        )
        .await;
    assert_eq!(none["gateway_ip"], json!(null));
    assert_eq!(
        none["allocation_pools"],
        json!([{"start": "10.0.0.1", "end": "10.0.0.6"}])
    );
    let pub_net = h
        .create(
            "networks",
            "network",
            ADMIN,
            json!({"name": "public", "router:external": true}),
        )
        .await;
    let public = h
        .subnet(ADMIN, pub_net["id"].as_str().unwrap(), "172.24.1.0/24", json!({"gateway_ip": "172.24.1.1",
            "allocation_pools": [{"start": "172.24.1.100", "end": "172.24.1.200"}], "enable_dhcp": false}))
        .await;
    assert_eq!(
        public["allocation_pools"],
        json!([{"start": "172.24.1.100", "end": "172.24.1.200"}])
    );
    assert_eq!(public["enable_dhcp"], false);
    let v6 = h
        .subnet(
            "p1",
            &net,
            "2001:db8::/64",
            json!({"ipv6_address_mode": "slaac", "ipv6_ra_mode": "slaac"}),
        )
        .await;
    assert_eq!(v6["gateway_ip"], "2001:db8::1");
    assert_eq!(
        v6["allocation_pools"][0]["end"],
        "2001:db8::ffff:ffff:ffff:ffff"
    );
    let routes = h
        .subnet(
            "p1",
            &h.network("p1", "n3").await,
            "10.1.0.0/24",
            json!({"host_routes": [{"destination": "10.2.0.0/16", "nexthop": "10.1.0.254"}]}),
        )
        .await;
    assert_eq!(routes["host_routes"][0]["nexthop"], "10.1.0.254");
}

#[tokio::test]
async fn bad_subnets_are_refused_with_neutrons_errors() {
    let h = harness().await;
    let net = h.network("p1", "net1").await;
    let post = |body: serde_json::Value| {
        let mut b = json!({"network_id": net, "ip_version": 4, "cidr": "10.0.0.0/24"});
        for (k, v) in body.as_object().unwrap() {
            b[k] = v.clone();
        }
        json!({ "subnet": b })
    };
    let cases = [
        (json!({"cidr": "10.0.0.0/33"}), 400, "HTTPBadRequest"),
        (json!({"cidr": "banana"}), 400, "HTTPBadRequest"),
        (json!({"cidr": "10.0.0.5/24"}), 400, "HTTPBadRequest"),
        (json!({"cidr": "2001:db8::/64"}), 400, "InvalidInput"),
        (json!({"gateway_ip": "10.9.9.1"}), 400, "InvalidInput"),
        (json!({"gateway_ip": "10.0.0.0"}), 400, "InvalidInput"),
        (json!({"gateway_ip": "not-an-ip"}), 400, "HTTPBadRequest"),
        (
            json!({"allocation_pools": [{"start": "10.0.0.10", "end": "10.0.0.20"}, {"start": "10.0.0.15", "end": "10.0.0.30"}]}),
            409,
            "OverlappingAllocationPools",
        ),
        (
            json!({"allocation_pools": [{"start": "10.0.0.10", "end": "10.0.1.20"}]}),
            400,
            "OutOfBoundsAllocationPool",
        ),
        (
            json!({"allocation_pools": [{"start": "10.0.0.20", "end": "10.0.0.10"}]}),
            400,
            "InvalidAllocationPool",
        ),
        (
            json!({"allocation_pools": [{"start": "10.0.0.1", "end": "10.0.0.10"}]}),
            409,
            "GatewayConflictWithAllocationPools",
        ),
        (
            json!({"allocation_pools": [{"start": "10.0.0.10"}]}),
            400,
            "HTTPBadRequest",
        ),
        (
            json!({"dns_nameservers": ["8.8.8.8", "8.8.8.8"]}),
            400,
            "HTTPBadRequest",
        ),
        (
            json!({"dns_nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4", "1.1.1.5", "1.1.1.6"]}),
            400,
            "DNSNameServersExhausted",
        ),
        (json!({"ip_version": 5}), 400, "HTTPBadRequest"),
        (json!({"ipv6_address_mode": "slaac"}), 400, "InvalidInput"),
        (json!({"network_id": "nope"}), 404, "NetworkNotFound"),
    ];
    for (body, status, ty) in cases {
        let r = h.post("subnets", "p1", post(body.clone())).await;
        assert_eq!(
            r.status,
            status,
            "{body}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.error_type(), ty, "{body}");
    }
    let r = h
        .post("subnets", "p1", json!({"subnet": {"network_id": net, "ip_version": 6, "cidr": "2001:db8::/56", "ipv6_address_mode": "slaac"}}))
        .await;
    assert_eq!(r.status, 400);
    h.subnet("p1", &net, "10.0.0.0/24", json!({})).await;
    let r = h
        .post("subnets", "p1", post(json!({"cidr": "10.0.0.128/25"})))
        .await;
    assert_eq!(r.status, 400, "overlapping subnets on one network");
    // Another project cannot add subnets to p1's network.
    let r = h
        .post("subnets", "p2", post(json!({"cidr": "10.5.0.0/24"})))
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn extensions_list_what_is_implemented() {
    let h = harness().await;
    let all = h.get("extensions", "p1").await.json();
    let aliases: Vec<&str> = all["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["alias"].as_str().unwrap())
        .collect();
    for a in [
        "router",
        "external-net",
        "provider",
        "security-group",
        "quotas",
        "binding",
        "allowed-address-pairs",
        "port-security",
        "net-mtu",
        "ext-gw-mode",
    ] {
        assert!(aliases.contains(&a), "{a} missing from {aliases:?}");
    }
    assert!(aliases.contains(&"subnet-external-network"));
    assert!(aliases.contains(&"agent"));
    assert!(!aliases.contains(&"dhcp_agent_scheduler"));
    assert_eq!(h.get("extensions/router", "p1").await.status, 200);
    assert_eq!(h.get("extensions/qos", "p1").await.status, 404);
    let root = h.call("GET", "/", "p1", None).await.json();
    assert_eq!(root["versions"][0]["id"], "v2.0");
}

#[tokio::test]
async fn quotas_default_update_and_enforce() {
    let h = harness().await;
    let q = h.get("quotas/p1", "p1").await.json();
    assert_eq!(q["quota"]["network"], 100);
    assert_eq!(q["quota"]["port"], 500);
    assert_eq!(q["quota"]["router"], 10);
    assert_eq!(q["quota"]["floatingip"], 50);
    assert_eq!(h.get("quotas/p2", "p1").await.status, 403);
    assert_eq!(
        h.put("quotas/p1", "p1", json!({"quota": {"network": 1}}))
            .await
            .status,
        403
    );
    let r = h
        .put("quotas/p1", ADMIN, json!({"quota": {"network": 1}}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["quota"]["network"], 1);
    h.network("p1", "one").await;
    let r = h
        .post("networks", "p1", json!({"network": {"name": "two"}}))
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "OverQuota");
    let listed = h.get("quotas", ADMIN).await.json();
    assert_eq!(listed["quotas"][0]["project_id"], "p1");
    let details = h.get("quotas/p1/details", "p1").await.json();
    assert_eq!(details["quota"]["network"]["used"], 1);
    assert_eq!(h.delete("quotas/p1", ADMIN).await.status, 204);
    h.network("p1", "two").await;
}

#[tokio::test]
async fn quota_update_takes_check_limit_and_force() {
    let h = harness().await;
    h.network("p1", "one").await;
    h.network("p1", "two").await;
    // What `openstack quota set --networks N` sends.
    let r = h
        .put(
            "quotas/p1",
            ADMIN,
            json!({"quota": {"network": 5, "check_limit": true}}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["quota"]["network"], 5);
    assert!(r.json()["quota"].get("check_limit").is_none());
    let r = h
        .put(
            "quotas/p1",
            ADMIN,
            json!({"quota": {"network": 1, "check_limit": true}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["NeutronError"]["message"]
            .as_str()
            .unwrap()
            .contains("must be greater than or equal to already used 2"),
        "{:?}",
        r.body
    );
    let r = h
        .put(
            "quotas/p1",
            ADMIN,
            json!({"quota": {"network": -1, "check_limit": true}}),
        )
        .await;
    assert_eq!(r.status, 200);
    // `--force`: no check.
    let r = h
        .put(
            "quotas/p1",
            ADMIN,
            json!({"quota": {"network": 1, "force": true}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["quota"]["network"], 1);
    let r = h
        .put(
            "quotas/p1",
            ADMIN,
            json!({"quota": {"network": 1, "bogus": true}}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn external_subnets_are_visible_and_say_so() {
    let h = harness().await;
    let public = h
        .create(
            "networks",
            "network",
            ADMIN,
            json!({"name": "public", "router:external": true}),
        )
        .await;
    let public_id = public["id"].as_str().unwrap();
    let ext = h.subnet(ADMIN, public_id, "172.24.4.0/24", json!({})).await;
    assert_eq!(ext["router:external"], true);
    let own = h.network("p1", "own").await;
    let mine = h.subnet("p1", &own, "10.0.0.0/24", json!({})).await;
    assert_eq!(mine["router:external"], false);
    // Another project sees the external network's subnet (neutron with
    // subnet-external-network), not the private one, and can filter on it.
    let listed = h.get("subnets", "p2").await.json();
    assert_eq!(listed["subnets"].as_array().unwrap().len(), 1);
    assert_eq!(listed["subnets"][0]["id"], ext["id"]);
    let filtered = h
        .get(
            &format!("subnets?network_id={public_id}&router:external=True"),
            "p2",
        )
        .await
        .json();
    assert_eq!(filtered["subnets"][0]["id"], ext["id"]);
    let none = h.get("subnets?router:external=false", "p2").await.json();
    assert_eq!(none["subnets"], json!([]));
    let shown = h
        .get(&format!("subnets/{}", ext["id"].as_str().unwrap()), "p2")
        .await
        .json();
    assert_eq!(shown["subnet"]["router:external"], true);
    // It follows the network, and clients may not set it.
    let r = h
        .put(
            &format!("networks/{public_id}"),
            ADMIN,
            json!({"network": {"router:external": false}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let shown = h
        .get(&format!("subnets/{}", ext["id"].as_str().unwrap()), ADMIN)
        .await
        .json();
    assert_eq!(shown["subnet"]["router:external"], false);
    assert_eq!(h.get("subnets", "p2").await.json()["subnets"], json!([]));
    let r = h
        .post(
            "subnets",
            "p1",
            json!({"subnet": {"network_id": own, "cidr": "10.1.0.0/24", "ip_version": 4, "router:external": true}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .put(
            &format!("subnets/{}", mine["id"].as_str().unwrap()),
            "p1",
            json!({"subnet": {"router:external": true}}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn agents_list_is_empty_and_agents_are_404() {
    let h = harness().await;
    for who in ["p1", "p1:reader", ADMIN] {
        let r = h.get("agents", who).await;
        assert_eq!(r.status, 200, "{who}");
        assert_eq!(r.json(), json!({"agents": []}));
    }
    let r = h.get("agents?agent_type=L3%20agent&fields=id", "p1").await;
    assert_eq!(r.json(), json!({"agents": []}));
    let id = "4d6b5f0c-8f4b-4f4e-9a43-2c8f3c7b1a11";
    let r = h.get(&format!("agents/{id}"), ADMIN).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error_type(), "AgentNotFound");
    let r = h
        .put(
            &format!("agents/{id}"),
            ADMIN,
            json!({"agent": {"admin_state_up": false}}),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(h.delete(&format!("agents/{id}"), "p1").await.status, 404);
    let root = h.call("GET", "/v2.0", "p1", None).await.json();
    assert!(
        root["resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["collection"] == "agents")
    );
}
