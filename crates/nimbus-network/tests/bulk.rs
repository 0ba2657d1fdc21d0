//! Bulk creation: `POST /v2.0/{networks,subnets,ports}` with the plural
//! body, all or nothing, answered with the plural list.

use serde_json::{Value, json};

use crate::support::{ADMIN, Harness, harness};

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

async fn names_of(h: &Harness, who: &str, collection: &str) -> Vec<String> {
    h.get(collection, who).await.json()[collection]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn networks_are_created_in_bulk_in_order() {
    let h = harness().await;
    let r = h
        .post(
            "networks",
            "p1",
            // Items bare or wrapped, as neutron's prepare_request_body takes them.
            json!({"networks": [{"name": "a"}, {"network": {"name": "b", "admin_state_up": false}}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    assert!(body.get("network").is_none());
    let made = body["networks"].as_array().unwrap();
    assert_eq!(made.len(), 2);
    assert_eq!(made[0]["name"], "a");
    assert_eq!(made[1]["name"], "b");
    assert_eq!(made[1]["admin_state_up"], false);
    assert_eq!(made[0]["project_id"], "p1");
    assert_eq!(made[0]["subnets"], json!([]));
    let mut listed = names_of(&h, "p1", "networks").await;
    listed.sort();
    assert_eq!(listed, ["a", "b"]);
    // The singular form is unchanged.
    assert_eq!(
        h.post("networks", "p1", json!({"network": {"name": "c"}}))
            .await
            .json()["network"]["name"],
        "c"
    );
}

#[tokio::test]
async fn a_failing_item_leaves_nothing_behind() {
    let h = harness().await;
    let r = h
        .put("quotas/p1", ADMIN, json!({"quota": {"network": 3}}))
        .await;
    assert_eq!(r.status, 200);
    // The third network is refused (bad attribute): the first two go again.
    let r = h
        .post(
            "networks",
            "p1",
            json!({"networks": [{"name": "a"}, {"name": "b"}, {"name": "c", "bogus": 1}]}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(names_of(&h, "p1", "networks").await.is_empty());
    // Over quota on the fourth: none of the four stay.
    let r = h
        .post(
            "networks",
            "p1",
            json!({"networks": [{"name": "a"}, {"name": "b"}, {"name": "c"}, {"name": "d"}]}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error_type(), "OverQuota");
    assert!(names_of(&h, "p1", "networks").await.is_empty());

    let net = h.network("p1", "n").await;
    let r = h
        .post(
            "subnets",
            "p1",
            json!({"subnets": [
                {"network_id": net, "cidr": "10.1.0.0/24", "ip_version": 4, "name": "s1"},
                {"network_id": net, "cidr": "10.1.0.0/25", "ip_version": 4, "name": "overlaps"},
            ]}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(names_of(&h, "p1", "subnets").await.is_empty());

    let s = h.subnet("p1", &net, "10.2.0.0/24", json!({})).await;
    let r = h
        .post(
            "ports",
            "p1",
            json!({"ports": [
                {"network_id": net, "name": "p1"},
                {"network_id": net, "fixed_ips": [{"subnet_id": s["id"], "ip_address": "10.2.0.9"}]},
                {"network_id": net, "fixed_ips": [{"subnet_id": s["id"], "ip_address": "10.2.0.9"}]},
            ]}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error_type(), "IpAddressAlreadyAllocated");
    assert_eq!(
        h.get("ports", "p1").await.json()["ports"],
        json!([]),
        "the ports made before the failure are gone, their addresses free"
    );
    let again = h
        .create(
            "ports",
            "port",
            "p1",
            json!({"network_id": net, "fixed_ips": [{"subnet_id": s["id"], "ip_address": "10.2.0.9"}]}),
        )
        .await;
    assert_eq!(again["fixed_ips"][0]["ip_address"], "10.2.0.9");
}

#[tokio::test]
async fn subnets_and_ports_in_bulk() {
    let h = harness().await;
    let n1 = h.network("p1", "n1").await;
    let n2 = h.network("p1", "n2").await;
    let r = h
        .post(
            "subnets",
            "p1",
            json!({"subnets": [
                {"network_id": n1, "cidr": "10.1.0.0/24", "ip_version": 4},
                {"network_id": n2, "cidr": "2001:db8::/64", "ip_version": 6},
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let subnets = r.json()["subnets"].clone();
    assert_eq!(subnets[0]["gateway_ip"], "10.1.0.1");
    assert_eq!(subnets[1]["ip_version"], 6);
    let shown = h.get(&format!("networks/{n1}"), "p1").await.json();
    assert_eq!(shown["network"]["subnets"], json!([subnets[0]["id"]]));

    let r = h
        .post(
            "ports",
            "p1",
            json!({"ports": [{"network_id": n1}, {"network_id": n2}, {"network_id": n1}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let ports = r.json()["ports"].clone();
    assert_eq!(ports[0]["network_id"], n1);
    assert_eq!(ports[1]["network_id"], n2);
    assert_eq!(ports[0]["admin_state_up"], true);
    assert_ne!(
        ports[0]["fixed_ips"][0]["ip_address"], ports[2]["fixed_ips"][0]["ip_address"],
        "later items see the addresses earlier ones took"
    );
    let mut listed = ids(&h.get("ports", "p1").await.json()["ports"]);
    let mut made = ids(&ports);
    listed.sort();
    made.sort();
    assert_eq!(listed, made);
}

#[tokio::test]
async fn bad_bulk_bodies_are_400() {
    let h = harness().await;
    for (body, message) in [
        (json!({"networks": []}), "Resources required"),
        (
            json!({"networks": {"name": "x"}}),
            "Body contains invalid data",
        ),
        (json!({"networks": ["x"]}), "Body contains invalid data"),
        (
            json!({"networks": vec![json!({}); 1001]}),
            "at most 1000 networks",
        ),
    ] {
        let r = h.post("networks", "p1", body).await;
        assert_eq!(r.status, 400);
        let m = r.json()["NeutronError"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(m.contains(message), "{m}");
    }
    assert!(names_of(&h, "p1", "networks").await.is_empty());
    // A reader may not create in bulk either.
    let r = h
        .post(
            "networks",
            "p1:reader",
            json!({"networks": [{"name": "x"}]}),
        )
        .await;
    assert_eq!(r.status, 403);
}
