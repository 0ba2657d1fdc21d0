//! Server-scoped APIs next to the proxies: `os-server-password` and the
//! `os-volumes_boot` alias of the servers API.

use serde_json::json;

use super::{P1, P2};
use crate::support::{Cloud, cloud};

const ADMIN: (&str, &str) = ("p1", "admin,member,reader");

/// A server of P1 that exists but never boots: the only compute service is
/// disabled, so it ends in ERROR (nova's NoValidHost). Its id.
pub(super) async fn unbooted_server(c: &Cloud) -> String {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.raw");
    std::fs::write(&disk, vec![0u8; 1 << 20]).unwrap();
    let image = crate::support::upload(
        c.svc.images().service(),
        json!({"name": "blank", "disk_format": "raw", "container_format": "bare"}),
        &disk,
    )
    .await;
    let (s, flavor) = c
        .call(
            ADMIN,
            "2.61",
            "POST",
            "/flavors",
            Some(json!({"flavor": {"name": "t", "ram": 64, "vcpus": 1, "disk": 1}})),
        )
        .await;
    assert_eq!(s, 200, "{flavor}");
    let (_, services) = c.call(ADMIN, "2.53", "GET", "/os-services", None).await;
    let compute = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["binary"] == "nova-compute")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, body) = c
        .call(
            ADMIN,
            "2.53",
            "PUT",
            &format!("/os-services/{compute}"),
            Some(json!({"status": "disabled"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, created) = c
        .call(
            P1,
            "2.96",
            "POST",
            "/servers",
            Some(json!({"server": {"name": "pw", "imageRef": image,
                "flavorRef": flavor["flavor"]["id"], "networks": "none"}})),
        )
        .await;
    assert_eq!(s, 202, "{created}");
    let id = created["server"]["id"].as_str().unwrap().to_string();
    for _ in 0..300 {
        let (_, body) = c
            .call(P1, "2.96", "GET", &format!("/servers/{id}"), None)
            .await;
        if body["server"]["status"] != "BUILD" {
            assert_eq!(body["server"]["status"], "ERROR", "{body}");
            return id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("server {id} stayed in BUILD");
}

#[tokio::test]
async fn server_password_shows_what_the_guest_posted_and_clears() {
    use nimbus_compute::store::server_passwords::password_store_once;

    let c = cloud().await;
    let id = unbooted_server(&c).await;
    let path = format!("/servers/{id}/os-server-password");
    let pool = c.svc.db().pool();
    let (s, body) = c.call(P1, "2.1", "GET", &path, None).await;
    assert_eq!(s, 200);
    assert_eq!(body, json!({"password": ""}));

    // What the metadata service stores when the guest posts its password
    // (nova allows at most 4 chunks of 255 characters).
    let posted = "x".repeat(1020);
    assert!(password_store_once(pool, &id, &posted).await.unwrap());
    // A second post does not replace it (the metadata service's 409).
    assert!(!password_store_once(pool, &id, "other").await.unwrap());
    for (who, version) in [(P1, "2.1"), (("p1", "reader"), "2.96")] {
        let (s, body) = c.call(who, version, "GET", &path, None).await;
        assert_eq!(s, 200);
        assert_eq!(body["password"], posted.as_str());
    }

    // A reader may not clear it; another project does not see the server.
    let (s, _) = c.call(("p1", "reader"), "2.1", "DELETE", &path, None).await;
    assert_eq!(s, 403);
    for method in ["GET", "DELETE"] {
        let (s, _) = c.call(P2, "2.1", method, &path, None).await;
        assert_eq!(s, 404, "{method}");
    }
    let unknown = "/servers/5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0009/os-server-password";
    let (s, _) = c.call(P1, "2.1", "GET", unknown, None).await;
    assert_eq!(s, 404);

    let (s, body) = c.call(P1, "2.1", "DELETE", &path, None).await;
    assert_eq!(s, 204, "{body}");
    let (_, body) = c.call(P1, "2.1", "GET", &path, None).await;
    assert_eq!(body, json!({"password": ""}));
    // Cleared, the guest may post a new one.
    assert!(password_store_once(pool, &id, "new").await.unwrap());
    let (_, body) = c.call(P1, "2.1", "GET", &path, None).await;
    assert_eq!(body["password"], "new");
}

#[tokio::test]
async fn os_volumes_boot_is_the_servers_api_under_another_name() {
    let c = cloud().await;
    let id = unbooted_server(&c).await;
    let (s, body) = c.call(P1, "2.1", "GET", "/os-volumes_boot", None).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["servers"][0]["id"], id.as_str());
    let (s, body) = c
        .call(P1, "2.1", "GET", "/os-volumes_boot/detail?name=pw", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["servers"][0]["status"], "ERROR");
    let (s, body) = c
        .call(P1, "2.1", "GET", &format!("/os-volumes_boot/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["server"]["id"], id.as_str());
    // Not a prefix match: a longer name is no route.
    let (s, _) = c.call(P1, "2.1", "GET", "/os-volumes_bootx", None).await;
    assert_eq!(s, 404);
    let (s, _) = c
        .call(P1, "2.1", "DELETE", &format!("/os-volumes_boot/{id}"), None)
        .await;
    assert_eq!(s, 204);
}
