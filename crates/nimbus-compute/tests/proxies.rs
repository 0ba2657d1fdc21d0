//! Nova's proxy APIs through the in-process router: nova's shapes over the
//! network, volume and image services, nova's errors, and the 2.36 cutoff.
//! The security group and floating IP proxies are here; the others in
//! `proxies/`.

mod extensions;
mod images;
mod servers;
mod tenant_networks;
mod volumes;

use nimbus_common::RequestContext;
use serde_json::{Value, json};

use crate::support::cloud;

const P1: (&str, &str) = ("p1", "member,reader");
const P2: (&str, &str) = ("p2", "member,reader");

#[tokio::test]
async fn security_groups_and_rules_in_novas_shapes() {
    let c = cloud().await;
    // The project's default group appears on the first listing.
    let (s, body) = c.call(P1, "2.1", "GET", "/os-security-groups", None).await;
    assert_eq!(s, 200, "{body}");
    let groups = body["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"], "default");
    assert_eq!(groups[0]["tenant_id"], "p1");

    let (s, body) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/os-security-groups",
            Some(json!({"security_group": {"name": "web", "description": "www"}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let group = body["security_group"].clone();
    let gid = group["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::try_parse(&gid).is_ok());
    assert_eq!(group["description"], "www");
    // Neutron's egress rules are not nova's: a new group shows none.
    assert_eq!(group["rules"], json!([]));

    // A missing name is nova's 400.
    let (s, _) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/os-security-groups",
            Some(json!({"security_group": {"description": "x"}})),
        )
        .await;
    assert_eq!(s, 400);

    let (s, body) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/os-security-group-rules",
            Some(json!({"security_group_rule": {
                "parent_group_id": gid, "ip_protocol": "tcp",
                "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/24"}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let rule = body["security_group_rule"].clone();
    assert_eq!(rule["parent_group_id"], gid.as_str());
    assert_eq!(rule["ip_protocol"], "tcp");
    assert_eq!(rule["from_port"], 22);
    assert_eq!(rule["to_port"], 22);
    assert_eq!(rule["ip_range"], json!({"cidr": "10.0.0.0/24"}));
    assert_eq!(rule["group"], json!({}));
    let rid = rule["id"].as_str().unwrap().to_string();

    // A rule naming a group shows the group's name and project.
    let (s, body) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/os-security-group-rules",
            Some(json!({"security_group_rule": {
                "parent_group_id": gid, "ip_protocol": "icmp",
                "from_port": -1, "to_port": -1, "group_id": gid}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["security_group_rule"]["group"],
        json!({"name": "web", "tenant_id": "p1"})
    );
    assert_eq!(body["security_group_rule"]["from_port"], -1);

    // The same rule twice, a bad range, a bad protocol: 400.
    for bad in [
        json!({"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/24"}),
        json!({"parent_group_id": gid, "ip_protocol": "tcp", "from_port": 30, "to_port": 22}),
        json!({"parent_group_id": gid, "ip_protocol": "gre", "from_port": 1, "to_port": 2}),
        json!({"parent_group_id": "not-a-uuid", "ip_protocol": "tcp", "from_port": 1, "to_port": 2}),
    ] {
        let (s, body) = c
            .call(
                P1,
                "2.1",
                "POST",
                "/os-security-group-rules",
                Some(json!({"security_group_rule": bad})),
            )
            .await;
        assert_eq!(s, 400, "{bad} -> {body}");
    }

    let (s, body) = c
        .call(
            P1,
            "2.1",
            "GET",
            &format!("/os-security-groups/{gid}"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["security_group"]["rules"].as_array().unwrap().len(), 2);

    // Another project sees neither the group nor its rules.
    let (s, _) = c
        .call(
            P2,
            "2.1",
            "GET",
            &format!("/os-security-groups/{gid}"),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = c
        .call(
            P2,
            "2.1",
            "DELETE",
            &format!("/os-security-group-rules/{rid}"),
            None,
        )
        .await;
    assert_eq!(s, 404);

    let (s, body) = c
        .call(
            P1,
            "2.1",
            "PUT",
            &format!("/os-security-groups/{gid}"),
            Some(json!({"security_group": {"name": "web2", "description": "d2"}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["security_group"]["name"], "web2");

    let (s, _) = c
        .call(
            P1,
            "2.1",
            "DELETE",
            &format!("/os-security-group-rules/{rid}"),
            None,
        )
        .await;
    assert_eq!(s, 202);
    let (s, _) = c
        .call(
            P1,
            "2.1",
            "DELETE",
            &format!("/os-security-group-rules/{rid}"),
            None,
        )
        .await;
    assert_eq!(s, 404);

    let (s, _) = c
        .call(
            P1,
            "2.1",
            "DELETE",
            &format!("/os-security-groups/{gid}"),
            None,
        )
        .await;
    assert_eq!(s, 202);
    let (s, _) = c
        .call(
            P1,
            "2.1",
            "GET",
            &format!("/os-security-groups/{gid}"),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = c
        .call(P1, "2.1", "GET", "/os-security-groups/not-a-uuid", None)
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn proxies_are_gone_from_2_36() {
    let c = cloud().await;
    let (s, _) = c.call(P1, "2.35", "GET", "/os-security-groups", None).await;
    assert_eq!(s, 200);
    let (s, _) = c.call(P1, "2.36", "GET", "/os-security-groups", None).await;
    assert_eq!(s, 404);
    let (s, _) = c
        .call(
            P1,
            "2.36",
            "POST",
            "/os-security-groups",
            Some(json!({"security_group": {"name": "a", "description": "b"}})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = c
        .call(
            P1,
            "2.36",
            "POST",
            "/os-security-group-rules",
            Some(json!({"security_group_rule": {}})),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn the_default_group_cannot_be_deleted_by_its_project() {
    let c = cloud().await;
    let (_, body) = c.call(P1, "2.1", "GET", "/os-security-groups", None).await;
    let id = body["security_groups"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // nova turns neutron's 409 into a 400.
    let (s, body) = c
        .call(
            P1,
            "2.1",
            "DELETE",
            &format!("/os-security-groups/{id}"),
            None,
        )
        .await;
    assert_eq!(s, 400, "{body}");
}

fn attrs(v: Value) -> nimbus_network::app::input::Attrs {
    nimbus_network::app::input::Attrs::from_map(v.as_object().unwrap().clone())
}

#[tokio::test]
async fn floating_ips_allocate_list_show_delete() {
    let c = cloud().await;
    let admin = RequestContext {
        request_id: "req-admin".into(),
        user_id: "admin".into(),
        user_name: "admin".into(),
        user_domain_id: "default".into(),
        project_id: Some("admin-p".into()),
        project_name: Some("admin-p".into()),
        project_domain_id: Some("default".into()),
        domain_id: None,
        roles: vec!["admin".into(), "member".into(), "reader".into()],
        audit_id: "audit".into(),
    };
    let net = c
        .svc
        .network()
        .network_create(
            &admin,
            attrs(json!({"name": "public", "router:external": true})),
        )
        .await
        .unwrap();
    c.svc
        .network()
        .subnet_create(
            &admin,
            attrs(json!({"network_id": net.id, "cidr": "203.0.113.0/28", "ip_version": 4})),
        )
        .await
        .unwrap();

    let (s, body) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/os-floating-ips",
            Some(json!({"pool": "public"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let fip = body["floating_ip"].clone();
    assert!(
        fip["ip"].as_str().unwrap().starts_with("203.0.113."),
        "{fip}"
    );
    assert_eq!(fip["pool"], "public");
    assert_eq!(fip["fixed_ip"], Value::Null);
    assert_eq!(fip["instance_id"], Value::Null);
    let id = fip["id"].as_str().unwrap().to_string();

    // Without a pool: the one external network.
    let (s, body) = c.call(P1, "2.1", "POST", "/os-floating-ips", None).await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/os-floating-ips",
            Some(json!({"pool": "nowhere"})),
        )
        .await;
    assert_eq!(s, 404);

    let (s, body) = c.call(P1, "2.1", "GET", "/os-floating-ips", None).await;
    assert_eq!(s, 200);
    assert_eq!(body["floating_ips"].as_array().unwrap().len(), 2);
    let (_, body) = c.call(P2, "2.1", "GET", "/os-floating-ips", None).await;
    assert_eq!(body["floating_ips"], json!([]));

    let (s, body) = c
        .call(P1, "2.1", "GET", &format!("/os-floating-ips/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["floating_ip"], fip);
    let (s, _) = c
        .call(P2, "2.1", "GET", &format!("/os-floating-ips/{id}"), None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = c
        .call(P1, "2.36", "GET", &format!("/os-floating-ips/{id}"), None)
        .await;
    assert_eq!(s, 404);

    // The actions: an unknown server is 404; from 2.44 the action is gone.
    let (s, _) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/servers/5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0009/action",
            Some(json!({"addFloatingIp": {"address": fip["ip"]}})),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/servers/5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0009/action",
            Some(json!({"addFloatingIp": {"address": "not an ip"}})),
        )
        .await;
    assert_eq!(s, 400);
    let (s, body) = c
        .call(
            P1,
            "2.44",
            "POST",
            "/servers/5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0009/action",
            // Input that 2.43 would refuse with a 400: the action is gone.
            Some(json!({"removeFloatingIp": {"address": "not an ip"}})),
        )
        .await;
    assert_eq!(s, 404, "{body}");
    let (s, _) = c
        .call(
            P1,
            "2.1",
            "GET",
            "/servers/5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0009/os-security-groups",
            None,
        )
        .await;
    assert_eq!(s, 404);

    let (s, _) = c
        .call(P1, "2.1", "DELETE", &format!("/os-floating-ips/{id}"), None)
        .await;
    assert_eq!(s, 202);
    let (s, _) = c
        .call(P1, "2.1", "GET", &format!("/os-floating-ips/{id}"), None)
        .await;
    assert_eq!(s, 404);
}
