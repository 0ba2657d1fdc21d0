//! Nova's proxy APIs through the real binary: `openstack extension list
//! --compute`, and at microversion 2.1 over HTTP (no CLI calls them any
//! more) a volume made with `openstack volume create` in nova's
//! `os-volumes` view, a network in `os-tenant-networks`, and the
//! `os-volumes_boot` alias under the binary's `/compute` mount.

use std::time::Duration;

use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, Cloud};

/// `method /compute/v2.1{path}` with `token` at `version`: (status, body).
fn nova(cloud: &Cloud, token: &str, version: &str, method: &str, path: &str) -> (u16, Value) {
    let request = match method {
        "GET" => cloud.http().get(cloud.url(&format!("/compute/v2.1{path}"))),
        "DELETE" => cloud
            .http()
            .delete(cloud.url(&format!("/compute/v2.1{path}"))),
        other => panic!("no {other} here"),
    };
    let response = request
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", format!("compute {version}"))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn compute_proxies(backend: Backend) {
    let Some(cloud) = Cloud::start(backend) else {
        return;
    };
    let extensions = cloud.openstack_json(&["extension", "list", "--compute"]);
    let extensions = extensions.as_array().unwrap();
    assert_eq!(extensions.len(), 99);
    assert!(
        extensions
            .iter()
            .any(|e| e["Alias"] == "os-consoles" && e["Name"] == "Consoles"),
        "{extensions:?}"
    );

    let token = cloud.token(&cloud.admin());
    let volume = cloud.openstack_json(&["volume", "create", "--size", "1", "pv"]);
    let id = volume["id"].as_str().unwrap().to_string();
    let mut shown = Value::Null;
    for _ in 0..300 {
        let (status, body) = nova(&cloud, &token, "2.1", "GET", &format!("/os-volumes/{id}"));
        assert_eq!(status, 200, "{body}");
        shown = body["volume"].clone();
        if shown["status"] == "available" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(shown["status"], "available", "{shown}");
    assert_eq!(shown["displayName"], "pv");
    assert_eq!(shown["size"], 1);
    assert_eq!(shown["attachments"], serde_json::json!([{}]));
    let (status, list) = nova(&cloud, &token, "2.1", "GET", "/os-volumes/detail");
    assert_eq!(status, 200);
    assert_eq!(list["volumes"], serde_json::json!([shown]));
    let (status, _) = nova(&cloud, &token, "2.36", "GET", "/os-volumes");
    assert_eq!(status, 404, "gone from 2.36");
    // An empty id is no route (nova's 404).
    let (status, _) = nova(&cloud, &token, "2.1", "DELETE", "/os-volumes/");
    assert_eq!(status, 404);
    let (status, body) = nova(&cloud, &token, "2.1", "GET", "/os-volumes/");
    assert_eq!(status, 404, "{body}");
    // The version root keeps working with its slash.
    let (status, _) = nova(&cloud, &token, "2.1", "GET", "/");
    assert_eq!(status, 200);

    let network = cloud.openstack_json(&["network", "create", "pn"]);
    let (status, nets) = nova(&cloud, &token, "2.1", "GET", "/os-tenant-networks");
    assert_eq!(status, 200);
    assert!(
        nets["networks"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"id": network["id"], "cidr": "None", "label": "pn"})),
        "{nets}"
    );

    let (status, servers) = nova(&cloud, &token, "2.1", "GET", "/os-volumes_boot/detail");
    assert_eq!(status, 200, "{servers}");
    assert_eq!(servers["servers"], serde_json::json!([]));
    let (status, body) = nova(
        &cloud,
        &token,
        "2.1",
        "GET",
        "/os-volumes_boot/5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0009",
    );
    assert_eq!(status, 404);
    assert!(
        body["itemNotFound"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be found")
    );

    let (status, _) = nova(
        &cloud,
        &token,
        "2.1",
        "DELETE",
        &format!("/os-volumes/{id}"),
    );
    assert_eq!(status, 202);
}
on_both_backends!(compute_proxies);
