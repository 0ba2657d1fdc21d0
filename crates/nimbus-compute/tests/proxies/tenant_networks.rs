//! `os-tenant-networks` (below 2.36): the networks a project sees, in
//! nova-network's old shape; create and delete are 410.

use serde_json::json;

use super::{P1, P2};
use crate::support::cloud;

#[tokio::test]
async fn tenant_networks_list_and_show_what_the_project_sees() {
    let c = cloud().await;
    let p1 = crate::support::ctx("p1", "member,reader");
    let net = c
        .svc
        .network()
        .network_create(&p1, super::attrs(json!({"name": "net1"})))
        .await
        .unwrap();
    let (s, body) = c.call(P1, "2.1", "GET", "/os-tenant-networks", None).await;
    assert_eq!(s, 200, "{body}");
    let expected = json!({"id": net.id, "cidr": "None", "label": "net1"});
    assert!(
        body["networks"].as_array().unwrap().contains(&expected),
        "{body}"
    );
    let (s, body) = c
        .call(
            P1,
            "2.1",
            "GET",
            &format!("/os-tenant-networks/{}", net.id),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(body, json!({"network": expected}));

    // Another project neither lists nor shows it.
    let (_, body) = c.call(P2, "2.1", "GET", "/os-tenant-networks", None).await;
    assert!(
        !body["networks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == net.id.as_str()),
        "{body}"
    );
    let (s, _) = c
        .call(
            P2,
            "2.1",
            "GET",
            &format!("/os-tenant-networks/{}", net.id),
            None,
        )
        .await;
    assert_eq!(s, 404);

    // Create and delete went with nova-network: 410 at any version.
    for version in ["2.1", "2.96"] {
        let (s, body) = c
            .call(
                P1,
                version,
                "POST",
                "/os-tenant-networks",
                Some(json!({"network": {"label": "x", "cidr": "10.0.0.0/24"}})),
            )
            .await;
        assert_eq!(s, 410, "{body}");
        let (s, _) = c
            .call(
                P1,
                version,
                "DELETE",
                &format!("/os-tenant-networks/{}", net.id),
                None,
            )
            .await;
        assert_eq!(s, 410);
    }
    let (s, _) = c.call(P1, "2.36", "GET", "/os-tenant-networks", None).await;
    assert_eq!(s, 404);
}
