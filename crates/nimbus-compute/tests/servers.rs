//! Servers through the in-process router with real QEMU (TCG) and the test
//! guest: create with injection, list and show as nova shapes them, power
//! actions, instance actions, delete, refusals, and a restarted service
//! re-attaching to its guest and failing an interrupted build.

use std::path::Path;
use std::time::Duration;

use axum::Router;
use base64::Engine;
use nimbus_compute::{ComputeConfig, ComputeService};
use nimbus_image::{ImageConfig, ImageService};
use serde_json::{Value, json};

use crate::support::{call, fake_auth, upload};

const ADMIN: (&str, &str) = ("p1", "admin,member,reader");
const P1: (&str, &str) = ("p1", "member,reader");
const P2: (&str, &str) = ("p2", "member,reader");

fn router(svc: &ComputeService) -> Router {
    nimbus_compute::router(svc.clone(), "http://cloud:1", |r| {
        r.route_layer(axum::middleware::from_fn(fake_auth))
    })
}

async fn wait_status(app: &Router, id: &str, want: &str) -> Value {
    for _ in 0..1200 {
        let (_, body) = call(app, P1, "2.96", "GET", &format!("/servers/{id}"), None).await;
        let status = body["server"]["status"].as_str().unwrap_or("").to_string();
        if status == want {
            return body["server"].clone();
        }
        assert_ne!(status, "ERROR", "{body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{id} never became {want}");
}

async fn wait_console(app: &Router, id: &str, needle: &str) -> String {
    for _ in 0..1200 {
        let (status, body) = call(
            app,
            P1,
            "2.96",
            "POST",
            &format!("/servers/{id}/action"),
            Some(json!({"os-getConsoleOutput": {}})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let text = body["output"].as_str().unwrap_or("").to_string();
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{needle} never appeared on {id}'s console");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_boots_with_its_injected_data_and_lives_through_actions_and_a_restart() {
    let guest = crate::test_guest();
    let dir = tempfile::tempdir().unwrap();
    let db = nimbus_db::Db::open_sqlite(&dir.path().join("nimbus.sqlite"), 4)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    let images = ImageService::new(db.clone(), ImageConfig::under(dir.path()))
        .await
        .unwrap();
    let mut config = ComputeConfig::under(dir.path());
    config.virt_type = "qemu".into();
    let svc = ComputeService::new(
        db.clone(),
        config.clone(),
        crate::peers(&db, dir.path(), &images).await,
    )
    .await
    .unwrap();
    let app = router(&svc);

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
        &app,
        ADMIN,
        "2.61",
        "POST",
        "/flavors",
        Some(json!({"flavor": {"name": "t", "ram": 192, "vcpus": 1, "disk": 1}})),
    )
    .await;
    assert_eq!(status, 200, "{flavor}");
    let flavor_id = flavor["flavor"]["id"].as_str().unwrap().to_string();

    // Refusals at the API, before anything is recorded.
    let server = |extra: Value| {
        let mut s =
            json!({"name": "vm", "imageRef": image, "flavorRef": flavor_id, "networks": "none"});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        json!({"server": s})
    };
    for (version, body, want) in [
        (
            "2.96",
            server(json!({"imageRef": "00000000-0000-0000-0000-000000000000"})),
            400,
        ),
        ("2.96", server(json!({"flavorRef": "missing"})), 400),
        ("2.96", server(json!({"user_data": "%%%"})), 400),
        (
            "2.57",
            server(json!({"personality": [{"path": "/a", "contents": "aGk="}]})),
            400,
        ),
        (
            "2.56",
            server(
                json!({"personality": (0..6).map(|i| json!({"path": format!("/f{i}"), "contents": "aGk="})).collect::<Vec<_>>()}),
            ),
            403,
        ),
        ("2.96", server(json!({"bogus": true})), 400),
    ] {
        let (status, resp) = call(&app, P1, version, "POST", "/servers", Some(body.clone())).await;
        assert_eq!(status.as_u16(), want, "{body} -> {resp}");
    }
    let (_, list) = call(&app, P1, "2.96", "GET", "/servers", None).await;
    assert_eq!(list["servers"], json!([]), "refused creates leave nothing");

    // Create at 2.56 with a personality file, a password and metadata.
    let contents = base64::engine::general_purpose::STANDARD.encode("hello-personality");
    let (status, created) = call(
        &app,
        P1,
        "2.56",
        "POST",
        "/servers",
        Some(server(
            json!({"name": "vm1", "adminPass": "pw-123456", "metadata": {"role": "db"},
            "personality": [{"path": "/etc/hello.txt", "contents": contents}]}),
        )),
    )
    .await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["server"]["adminPass"], "pw-123456");
    let id = created["server"]["id"].as_str().unwrap().to_string();
    let shown = wait_status(&app, &id, "ACTIVE").await;
    assert_eq!(shown["OS-EXT-STS:power_state"], 1);
    assert_eq!(shown["flavor"]["original_name"], "t");
    assert_eq!(shown["pinned_availability_zone"], Value::Null);
    let text = wait_console(&app, &id, "NIMBUS-GUEST ready").await;
    assert!(text.contains("\"role\""), "meta.js: {text}");
    assert!(text.contains("hello-personality"), "{text}");
    assert!(text.contains("root:$"), "a password hash: {text}");

    // Shapes per microversion; another project sees nothing.
    let (_, old) = call(&app, P1, "2.1", "GET", &format!("/servers/{id}"), None).await;
    assert!(old["server"]["flavor"]["id"].is_string());
    assert!(old["server"].get("description").is_none());
    let (status, _) = call(&app, P2, "2.96", "GET", &format!("/servers/{id}"), None).await;
    assert_eq!(status, 404);
    let (_, list) = call(
        &app,
        P1,
        "2.96",
        "GET",
        "/servers/detail?name=^vm&status=ACTIVE",
        None,
    )
    .await;
    assert_eq!(list["servers"].as_array().unwrap().len(), 1);
    let (_, list) = call(&app, P1, "2.96", "GET", "/servers?name=nomatch", None).await;
    assert_eq!(list["servers"], json!([]));

    // Power actions and their state rules.
    let action = |body: Value| {
        let app = app.clone();
        let id = id.clone();
        async move {
            call(
                &app,
                P1,
                "2.96",
                "POST",
                &format!("/servers/{id}/action"),
                Some(body),
            )
            .await
        }
    };
    assert_eq!(action(json!({"os-start": null})).await.0, 409);
    assert_eq!(action(json!({"os-stop": null})).await.0, 202);
    wait_status(&app, &id, "SHUTOFF").await;
    assert_eq!(action(json!({"os-start": null})).await.0, 202);
    wait_status(&app, &id, "ACTIVE").await;
    assert_eq!(action(json!({"pause": null})).await.0, 202);
    wait_status(&app, &id, "PAUSED").await;
    assert_eq!(action(json!({"unpause": null})).await.0, 202);
    wait_status(&app, &id, "ACTIVE").await;
    assert_eq!(
        action(json!({"changePassword": {"adminPass": "x"}}))
            .await
            .0,
        409
    );
    let (_, actions) = call(
        &app,
        P1,
        "2.96",
        "GET",
        &format!("/servers/{id}/os-instance-actions"),
        None,
    )
    .await;
    let names: Vec<&str> = actions["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["unpause", "pause", "start", "stop", "create"]);

    // A restart: a running guest is found again; a build the restart
    // interrupted (simulated: vm2's row put back to building/spawning while
    // its QEMU runs) ends in ERROR with a fault, its QEMU and files gone.
    let (_, second) = call(
        &app,
        P1,
        "2.96",
        "POST",
        "/servers",
        Some(server(json!({"name": "vm2"}))),
    )
    .await;
    let id2 = second["server"]["id"].as_str().unwrap().to_string();
    wait_status(&app, &id2, "ACTIVE").await;
    let qemu_pid =
        std::fs::read_to_string(config.instances_path.join(&id).join("qemu.pid")).unwrap();
    let qemu_pid2 =
        std::fs::read_to_string(config.instances_path.join(&id2).join("qemu.pid")).unwrap();
    drop(app);
    drop(svc);
    tokio::time::sleep(Duration::from_millis(500)).await;
    nimbus_compute::store::instances::instance_set_states(
        db.pool(),
        &id2,
        "building",
        Some("spawning"),
        0,
    )
    .await
    .unwrap();
    let svc2 = ComputeService::new(
        db.clone(),
        config.clone(),
        crate::peers(&db, dir.path(), &images).await,
    )
    .await
    .unwrap();
    let app2 = router(&svc2);
    let (_, again) = call(&app2, P1, "2.96", "GET", &format!("/servers/{id}"), None).await;
    assert_eq!(again["server"]["status"], "ACTIVE");
    let (_, s2) = call(
        &app2,
        ADMIN,
        "2.96",
        "GET",
        &format!("/servers/{id2}"),
        None,
    )
    .await;
    assert_eq!(s2["server"]["status"], "ERROR", "{s2}");
    assert!(
        s2["server"]["fault"]["message"]
            .as_str()
            .unwrap()
            .contains("restarted"),
        "{s2}"
    );
    assert!(
        !config.instances_path.join(&id2).exists(),
        "partial files removed"
    );
    assert!(
        !Path::new(&format!("/proc/{}", qemu_pid2.trim())).exists(),
        "its QEMU killed"
    );
    // The new service drives the old guest.
    let (status, _) = call(
        &app2,
        P1,
        "2.96",
        "POST",
        &format!("/servers/{id}/action"),
        Some(json!({"os-stop": null})),
    )
    .await;
    assert_eq!(status, 202);
    wait_status(&app2, &id, "SHUTOFF").await;
    assert!(!Path::new(&format!("/proc/{}", qemu_pid.trim())).exists());

    // Delete: QEMU gone, dir gone, quota freed.
    for server in [&id, &id2] {
        let (status, _) = call(
            &app2,
            P1,
            "2.96",
            "DELETE",
            &format!("/servers/{server}"),
            None,
        )
        .await;
        assert_eq!(status, 204);
    }
    for _ in 0..200 {
        let (_, list) = call(&app2, P1, "2.96", "GET", "/servers", None).await;
        if list["servers"] == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_, list) = call(&app2, P1, "2.96", "GET", "/servers", None).await;
    assert_eq!(list["servers"], json!([]));
    assert!(!config.instances_path.join(&id).exists());
    assert!(!config.instances_path.join(&id2).exists());
}
