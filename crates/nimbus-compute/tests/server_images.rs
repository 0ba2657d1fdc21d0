//! One real TCG guest through the in-process router: `createBackup` and its
//! rotation, `OS-DCF:diskConfig` kept through create, update and rebuild,
//! a rebuild with a relative personality path, and every server-scoped
//! route answering 404 to another project (nova hides other projects'
//! servers; a reader of the owning project gets 403 where nova does).

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{call, cloud, ctx, upload};

const ADMIN: (&str, &str) = ("p1", "admin,member,reader");
const P1: (&str, &str) = ("p1", "member,reader");
const P1_READER: (&str, &str) = ("p1", "reader");
const P2: (&str, &str) = ("p2", "member,reader");
const P2_READER: (&str, &str) = ("p2", "reader");

/// A server action as `who` at `version`: status, headers, body.
async fn action(
    app: &Router,
    who: (&str, &str),
    version: &str,
    id: &str,
    body: Value,
) -> (StatusCode, HeaderMap, Value) {
    let req = Request::builder()
        .method("POST")
        .uri(format!("/v2.1/servers/{id}/action"))
        .header("x-test-project", who.0)
        .header("x-test-roles", who.1)
        .header("openstack-api-version", format!("compute {version}"))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, value)
}

async fn wait_status(app: &Router, id: &str, want: &str) -> Value {
    for _ in 0..1200 {
        let (_, body) = call(app, P1, "2.96", "GET", &format!("/servers/{id}"), None).await;
        let server = &body["server"];
        if server["status"] == want && server["OS-EXT-STS:task_state"].is_null() {
            return server.clone();
        }
        assert_ne!(server["status"], "ERROR", "{body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{id} never became {want}");
}

async fn wait_image(images: &nimbus_image::ImageService, id: &str) {
    for _ in 0..1200 {
        let image = images
            .image_visible(&ctx("p1", "member"), id)
            .await
            .unwrap();
        match image.status.as_str() {
            "active" => return,
            "queued" | "saving" => {}
            other => panic!("image {id} is {other}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("image {id} never became active");
}

/// The names of p1's backups of `server`, oldest first.
async fn backups(images: &nimbus_image::ImageService, server: &str) -> Vec<String> {
    let query: Vec<(String, String)> = [
        ("image_type", "backup"),
        ("backup_type", "daily"),
        ("instance_uuid", server),
        ("sort_key", "created_at"),
        ("sort_dir", "asc"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let (list, _) = images
        .image_list(&ctx("p1", "member"), &query)
        .await
        .unwrap();
    list.into_iter().filter_map(|i| i.name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_rotate_disk_config_is_kept_and_other_projects_see_404() {
    let guest = crate::test_guest();
    let cloud = cloud().await;
    let app = &cloud.app;
    let images = cloud.svc.images().service().clone();
    let kernel = upload(
        &images,
        json!({"name": "k", "disk_format": "aki", "container_format": "aki"}),
        &guest.join("vmlinuz"),
    )
    .await;
    let ramdisk = upload(
        &images,
        json!({"name": "r", "disk_format": "ari", "container_format": "ari"}),
        &guest.join("initrd.img"),
    )
    .await;
    let image = upload(
        &images,
        json!({"name": "guest", "disk_format": "qcow2", "container_format": "bare",
               "kernel_id": kernel, "ramdisk_id": ramdisk,
               "os_command_line": "console=ttyS0 nimbus.mode=run"}),
        &guest.join("root.qcow2"),
    )
    .await;
    let (status, flavor) = call(
        app,
        ADMIN,
        "2.61",
        "POST",
        "/flavors",
        Some(json!({"flavor": {"name": "t", "ram": 192, "vcpus": 1, "disk": 1}})),
    )
    .await;
    assert_eq!(status, 200, "{flavor}");
    let flavor = flavor["flavor"]["id"].as_str().unwrap().to_string();

    // diskConfig: as asked on create, refused when not AUTO/MANUAL.
    let body = |dc: &str| {
        json!({"server": {"name": "vm", "imageRef": image, "flavorRef": flavor,
            "networks": "none", "OS-DCF:diskConfig": dc}})
    };
    let (status, _) = call(app, P1, "2.37", "POST", "/servers", Some(body("auto"))).await;
    assert_eq!(status, 400);
    let (status, created) = call(app, P1, "2.37", "POST", "/servers", Some(body("AUTO"))).await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["server"]["OS-DCF:diskConfig"], "AUTO");
    let id = created["server"]["id"].as_str().unwrap().to_string();
    let shown = wait_status(app, &id, "ACTIVE").await;
    assert_eq!(shown["OS-DCF:diskConfig"], "AUTO");
    let (status, updated) = call(
        app,
        P1,
        "2.1",
        "PUT",
        &format!("/servers/{id}"),
        Some(json!({"server": {"OS-DCF:diskConfig": "MANUAL"}})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["server"]["OS-DCF:diskConfig"], "MANUAL");
    let (_, shown) = call(app, P1, "2.1", "GET", &format!("/servers/{id}"), None).await;
    assert_eq!(shown["server"]["OS-DCF:diskConfig"], "MANUAL");

    // createBackup: refusals first.
    for (args, want) in [
        (json!({"name": "b", "backup_type": "daily"}), 400),
        (json!({"name": "b", "rotation": 1}), 400),
        (
            json!({"name": "b", "backup_type": "daily", "rotation": -1}),
            400,
        ),
        (
            json!({"name": "b", "backup_type": "daily", "rotation": "x"}),
            400,
        ),
        (
            json!({"name": " ", "backup_type": "daily", "rotation": 1}),
            400,
        ),
        (
            json!({"name": "b", "backup_type": "daily", "rotation": 1, "bogus": 1}),
            400,
        ),
    ] {
        let (status, _, body) =
            action(app, P1, "2.1", &id, json!({"createBackup": args.clone()})).await;
        assert_eq!(status.as_u16(), want, "{args} -> {body}");
    }
    let good = |name: &str| json!({"createBackup": {"name": name, "backup_type": "daily", "rotation": "2"}});
    let (status, _, _) = action(app, P1_READER, "2.1", &id, good("b0")).await;
    assert_eq!(status, 403, "a reader may not back up");
    let (status, _, _) = action(app, P1, "2.1", "no-such-server", good("b0")).await;
    assert_eq!(status, 404);

    // Before 2.45 the image is named in Location (nova's images URL).
    let (status, headers, _) = action(app, P1, "2.1", &id, good("b1")).await;
    assert_eq!(status, 202);
    let location = headers["location"].to_str().unwrap().to_string();
    let prefix = "http://cloud:1/compute/v2.1/images/";
    assert!(location.starts_with(prefix), "{location}");
    let b1 = location[prefix.len()..].to_string();
    wait_image(&images, &b1).await;
    let image_b1 = images
        .image_visible(&ctx("p1", "member"), &b1)
        .await
        .unwrap();
    assert_eq!(image_b1.properties["image_type"], "backup");
    assert_eq!(image_b1.properties["backup_type"], "daily");
    assert_eq!(image_b1.properties["instance_uuid"], id);
    // nova: the source image's min_ram (0 here), min_disk raised to the
    // flavor's root disk (1 GiB).
    assert_eq!((image_b1.min_ram, image_b1.min_disk), (0, 1));
    wait_status(app, &id, "ACTIVE").await;

    // From 2.45 it is in the body.
    let mut ids = vec![b1.clone()];
    for name in ["b2", "b3"] {
        let (status, _, body) = action(app, P1, "2.45", &id, good(name)).await;
        assert_eq!(status, 202, "{body}");
        let new = body["image_id"].as_str().unwrap().to_string();
        wait_image(&images, &new).await;
        wait_status(app, &id, "ACTIVE").await;
        ids.push(new);
    }
    // Rotation 2: the oldest is gone once the third is saved.
    assert_eq!(backups(&images, &id).await, ["b2", "b3"]);
    assert!(
        images
            .image_visible(&ctx("p1", "member"), &b1)
            .await
            .is_err()
    );
    // Rotation 0 keeps none, not even the new one; no Location then.
    let (status, headers, _) = action(
        app,
        P1,
        "2.1",
        &id,
        json!({"createBackup": {"name": "b4", "backup_type": "daily", "rotation": 0}}),
    )
    .await;
    assert_eq!(status, 202);
    assert!(headers.get("location").is_none());
    let mut left = backups(&images, &id).await;
    for _ in 0..1200 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        left = backups(&images, &id).await;
    }
    assert!(left.is_empty(), "{left:?}");
    wait_status(app, &id, "ACTIVE").await;
    let (_, actions) = call(
        app,
        P1,
        "2.1",
        "GET",
        &format!("/servers/{id}/os-instance-actions"),
        None,
    )
    .await;
    assert!(actions.to_string().contains("createBackup"), "{actions}");

    // Rebuild with AUTO and a relative personality path (rooted at /).
    let (status, _, rebuilt) = action(
        app,
        P1,
        "2.1",
        &id,
        json!({"rebuild": {"imageRef": image, "OS-DCF:diskConfig": "AUTO",
            "personality": [{"path": "rebuild.txt", "contents": "VGVzdCBzZXJ2ZXIgcmVidWlsZC4="}]}}),
    )
    .await;
    assert_eq!(status, 202, "{rebuilt}");
    assert_eq!(rebuilt["server"]["OS-DCF:diskConfig"], "AUTO");
    let shown = wait_status(app, &id, "ACTIVE").await;
    assert_eq!(shown["OS-DCF:diskConfig"], "AUTO");

    // Another project's server is not found on every server route, for a
    // member and a reader alike; p1's reader is refused changes (403).
    let path = |rest: &str| format!("/servers/{id}{rest}");
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", path(""), None),
        ("PUT", path(""), Some(json!({"server": {"name": "x"}}))),
        ("DELETE", path(""), None),
        ("GET", path("/metadata"), None),
        (
            "POST",
            path("/metadata"),
            Some(json!({"metadata": {"a": "b"}})),
        ),
        (
            "PUT",
            path("/metadata"),
            Some(json!({"metadata": {"a": "b"}})),
        ),
        ("GET", path("/metadata/a"), None),
        (
            "PUT",
            path("/metadata/a"),
            Some(json!({"meta": {"a": "b"}})),
        ),
        ("DELETE", path("/metadata/a"), None),
        ("GET", path("/ips"), None),
        ("GET", path("/ips/net"), None),
        ("GET", path("/tags"), None),
        ("PUT", path("/tags"), Some(json!({"tags": ["a"]}))),
        ("DELETE", path("/tags"), None),
        ("GET", path("/tags/a"), None),
        ("PUT", path("/tags/a"), None),
        ("DELETE", path("/tags/a"), None),
        ("GET", path("/os-instance-actions"), None),
        ("GET", path("/os-instance-actions/req-x"), None),
        ("GET", path("/os-security-groups"), None),
        ("GET", path("/os-volume_attachments"), None),
        ("GET", path("/os-volume_attachments/v"), None),
        ("GET", path("/os-server-password"), None),
        ("DELETE", path("/os-server-password"), None),
    ];
    for who in [P2, P2_READER] {
        for (method, p, body) in &routes {
            let (status, resp) = call(app, who, "2.1", method, p, body.clone()).await;
            assert_eq!(status, 404, "{who:?} {method} {p} -> {resp}");
        }
    }
    let actions = [
        json!({"os-stop": null}),
        json!({"os-start": null}),
        json!({"pause": null}),
        json!({"unpause": null}),
        json!({"suspend": null}),
        json!({"resume": null}),
        json!({"reboot": {"type": "SOFT"}}),
        json!({"lock": null}),
        json!({"unlock": null}),
        json!({"os-getConsoleOutput": {"length": 5}}),
        json!({"changePassword": {"adminPass": "x"}}),
        json!({"rebuild": {"imageRef": image}}),
        json!({"createImage": {"name": "s"}}),
        json!({"createBackup": {"name": "b", "backup_type": "daily", "rotation": 1}}),
        json!({"forceDelete": null}),
        json!({"restore": null}),
        json!({"addSecurityGroup": {"name": "default"}}),
        json!({"removeSecurityGroup": {"name": "default"}}),
        json!({"addFloatingIp": {"address": "172.24.4.10"}}),
        json!({"removeFloatingIp": {"address": "172.24.4.10"}}),
    ];
    for who in [P2, P2_READER] {
        for body in &actions {
            let (status, _, resp) = action(app, who, "2.1", &id, body.clone()).await;
            assert_eq!(status, 404, "{who:?} {body} -> {resp}");
        }
    }
    let (status, resp) = call(app, P1_READER, "2.1", "DELETE", &path(""), None).await;
    assert_eq!(status, 403, "{resp}");
    let (status, resp) = call(
        app,
        P1_READER,
        "2.1",
        "PUT",
        &path(""),
        Some(json!({"server": {"name": "x"}})),
    )
    .await;
    assert_eq!(status, 403, "{resp}");

    let (status, _) = call(app, P1, "2.1", "DELETE", &path(""), None).await;
    assert_eq!(status, 204);
    for remaining in ids {
        let _ = images.image_delete(&ctx("p1", "member"), &remaining).await;
    }
}

/// An image made by `createImage` of a volume-backed server maps its root
/// to a volume snapshot: a create from it boots from that snapshot, so a
/// snapshot that is gone makes the create a 400 before anything is built.
#[tokio::test]
async fn an_image_mapping_its_root_to_a_snapshot_boots_from_the_snapshot() {
    let cloud = cloud().await;
    let images = cloud.svc.images().service().clone();
    let mapping = json!([{"source_type": "snapshot", "destination_type": "volume",
        "snapshot_id": "4e1f2a53-8f0e-4c4f-9a57-0b3c1a0d2e77", "boot_index": 0,
        "volume_size": 1, "delete_on_termination": false, "volume_id": null}]);
    let c = ctx("p1", "member,reader");
    let image = images
        .image_create(
            &c,
            json!({"name": "vsnap", "disk_format": "raw", "container_format": "bare",
                "bdm_v2": "True", "block_device_mapping": mapping.to_string(),
                "root_device_name": "/dev/vda"})
            .as_object()
            .unwrap(),
        )
        .await
        .unwrap();
    let empty = futures::stream::iter(std::iter::empty::<Result<bytes::Bytes, std::io::Error>>());
    images
        .image_upload(&c, &image.id, None, Some(0), Box::pin(empty))
        .await
        .unwrap();
    let (status, flavor) = cloud
        .call(
            ADMIN,
            "2.61",
            "POST",
            "/flavors",
            Some(json!({"flavor": {"name": "t", "ram": 192, "vcpus": 1, "disk": 1}})),
        )
        .await;
    assert_eq!(status, 200, "{flavor}");
    let (status, body) = cloud
        .call(
            P1,
            "2.37",
            "POST",
            "/servers",
            // As `openstack server create --image` sends it: the image as
            // the local root, which the image's own mapping replaces.
            Some(json!({"server": {"name": "vs3", "imageRef": image.id,
                "flavorRef": flavor["flavor"]["id"], "networks": "none",
                "block_device_mapping_v2": [{"uuid": image.id, "boot_index": 0,
                    "source_type": "image", "destination_type": "local",
                    "delete_on_termination": true}]}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("Snapshot 4e1f2a53"), "{body}");
}
