//! `os-volumes` and `os-snapshots` (below 2.36): the volume service's
//! volumes and snapshots in nova's views, nova's and Cinder's errors.

use serde_json::{Value, json};

use super::{P1, P2};
use crate::support::cloud;

/// Polls `path` as P1 until `done` holds for its body (or it is gone when
/// `done` is None); panics after 30 s.
pub(super) async fn wait_for(
    c: &crate::support::Cloud,
    path: &str,
    done: Option<&dyn Fn(&Value) -> bool>,
) -> Value {
    for _ in 0..300 {
        let (s, body) = c.call(P1, "2.1", "GET", path, None).await;
        match done {
            Some(f) if s == 200 && f(&body) => return body,
            None if s == 404 => return body,
            _ => {}
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{path} did not settle");
}

pub(super) fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn volumes_and_snapshots_in_novas_shapes() {
    let c = cloud().await;
    let (s, body) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/os-volumes",
            Some(json!({"volume": {"size": "1", "display_name": "v1",
                                   "display_description": "d", "metadata": {"Type": "work"}}})),
        )
        .await;
    // nova answers 200 here (not 202), with the detail view.
    assert_eq!(s, 200, "{body}");
    let created = body["volume"].clone();
    assert_eq!(
        keys(&created),
        [
            "attachments",
            "availabilityZone",
            "createdAt",
            "displayDescription",
            "displayName",
            "id",
            "metadata",
            "size",
            "snapshotId",
            "status",
            "volumeType",
        ]
    );
    assert_eq!(created["displayName"], "v1");
    assert_eq!(created["size"], 1);
    assert_eq!(created["attachments"], json!([{}]));
    assert_eq!(created["metadata"], json!({"Type": "work"}));
    assert_eq!(created["snapshotId"], Value::Null);
    assert_eq!(created["volumeType"], "__DEFAULT__");
    assert!(
        chrono::NaiveDateTime::parse_from_str(
            created["createdAt"].as_str().unwrap(),
            "%Y-%m-%dT%H:%M:%S%.6f"
        )
        .is_ok(),
        "{created}"
    );
    let id = created["id"].as_str().unwrap().to_string();
    let shown = wait_for(
        &c,
        &format!("/os-volumes/{id}"),
        Some(&|b: &Value| b["volume"]["status"] == "available"),
    )
    .await["volume"]
        .clone();

    // The summary and detail listings show exactly what show shows.
    for path in ["/os-volumes", "/os-volumes/detail"] {
        let (s, body) = c.call(P1, "2.1", "GET", path, None).await;
        assert_eq!(s, 200);
        assert_eq!(body["volumes"], json!([shown.clone()]), "{path}");
    }
    // Another project sees nothing of it.
    let (s, _) = c
        .call(P2, "2.1", "GET", &format!("/os-volumes/{id}"), None)
        .await;
    assert_eq!(s, 404);
    let (_, body) = c.call(P2, "2.1", "GET", "/os-volumes", None).await;
    assert_eq!(body["volumes"], json!([]));

    // Bad requests, as nova's schema and Cinder refuse them.
    for bad in [
        json!({"volume": {"size": "#$%"}}),
        json!({"volume": {"size": ""}}),
        json!({"volume": {"size": "0"}}),
        json!({"volume": {"display_name": "no size"}}),
        json!({"volume": {"size": 1, "name": "cinder's name, not nova's"}}),
        json!({"volume": {"size": 1, "metadata": {"k": 1}}}),
        json!({"size": 1}),
    ] {
        let (s, body) = c
            .call(P1, "2.1", "POST", "/os-volumes", Some(bad.clone()))
            .await;
        assert_eq!(s, 400, "{bad} -> {body}");
    }

    // offset and limit (nova's common.limited) over the newest-first list.
    let (s, second) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/os-volumes",
            Some(json!({"volume": {"size": 1}})),
        )
        .await;
    assert_eq!(s, 200);
    let second = second["volume"]["id"].as_str().unwrap().to_string();
    let (_, all) = c.call(P1, "2.1", "GET", "/os-volumes", None).await;
    let all: Vec<&str> = all["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(all.len(), 2);
    assert!(all.contains(&second.as_str()) && all.contains(&id.as_str()));
    let (_, page) = c
        .call(P1, "2.1", "GET", "/os-volumes?offset=1&limit=1", None)
        .await;
    assert_eq!(page["volumes"].as_array().unwrap().len(), 1);
    assert_eq!(page["volumes"][0]["id"], all[1]);
    let (s, _) = c
        .call(P1, "2.1", "GET", "/os-volumes/detail?limit=-1", None)
        .await;
    assert_eq!(s, 400);

    // A snapshot of the volume.
    let (s, body) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/os-snapshots",
            Some(json!({"snapshot": {"volume_id": id, "display_name": "s1", "force": "False"}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let snap = body["snapshot"].clone();
    assert_eq!(
        keys(&snap),
        [
            "createdAt",
            "displayDescription",
            "displayName",
            "id",
            "size",
            "status",
            "volumeId",
        ]
    );
    assert_eq!(snap["volumeId"], id.as_str());
    assert_eq!(snap["displayName"], "s1");
    assert_eq!(snap["size"], 1);
    let sid = snap["id"].as_str().unwrap().to_string();
    let shown_snap = wait_for(
        &c,
        &format!("/os-snapshots/{sid}"),
        Some(&|b: &Value| b["snapshot"]["status"] == "available"),
    )
    .await["snapshot"]
        .clone();
    for path in ["/os-snapshots", "/os-snapshots/detail"] {
        let (s, body) = c.call(P1, "2.1", "GET", path, None).await;
        assert_eq!(s, 200);
        assert_eq!(body["snapshots"], json!([shown_snap.clone()]), "{path}");
    }
    let (_, body) = c.call(P2, "2.1", "GET", "/os-snapshots", None).await;
    assert_eq!(body["snapshots"], json!([]));
    for bad in [
        json!({"snapshot": {"display_name": "no volume"}}),
        json!({"snapshot": {"volume_id": id, "force": "maybe"}}),
        json!({"snapshot": {"volume_id": id, "metadata": {}}}),
    ] {
        let (s, body) = c
            .call(P1, "2.1", "POST", "/os-snapshots", Some(bad.clone()))
            .await;
        assert_eq!(s, 400, "{bad} -> {body}");
    }
    let (s, _) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/os-snapshots",
            Some(json!({"snapshot": {"volume_id": "5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0009"}})),
        )
        .await;
    assert_eq!(s, 404);

    // A volume with a snapshot cannot go (Cinder's 400); the snapshot can.
    let (s, _) = c
        .call(P1, "2.1", "DELETE", &format!("/os-volumes/{id}"), None)
        .await;
    assert_eq!(s, 400);
    let (s, _) = c
        .call(P1, "2.1", "DELETE", &format!("/os-snapshots/{sid}"), None)
        .await;
    assert_eq!(s, 202);
    wait_for(&c, &format!("/os-snapshots/{sid}"), None).await;
    let (s, _) = c
        .call(P1, "2.1", "DELETE", &format!("/os-volumes/{id}"), None)
        .await;
    assert_eq!(s, 202);
    wait_for(&c, &format!("/os-volumes/{id}"), None).await;

    // Unknown ids and the empty id are 404.
    for (method, path) in [
        ("GET", "/os-volumes/5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0009"),
        ("DELETE", "/os-volumes/5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0009"),
        ("DELETE", "/os-volumes/not-a-uuid"),
        ("GET", "/os-volumes/"),
        ("DELETE", "/os-volumes/"),
        // A path without the method is no route in nova: 404, not 405.
        ("DELETE", "/os-volumes"),
        ("PUT", "/os-volumes/detail"),
        ("GET", "/os-snapshots/5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0009"),
        (
            "DELETE",
            "/os-snapshots/5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0009",
        ),
    ] {
        let (s, _) = c.call(P1, "2.1", method, path, None).await;
        assert_eq!(s, 404, "{method} {path}");
    }

    // Gone from 2.36.
    for (method, path, body) in [
        ("GET", "/os-volumes".to_string(), None),
        ("GET", format!("/os-volumes/{second}"), None),
        (
            "POST",
            "/os-volumes".to_string(),
            Some(json!({"volume": {"size": 1}})),
        ),
        ("GET", "/os-snapshots/detail".to_string(), None),
        (
            "POST",
            "/os-snapshots".to_string(),
            Some(json!({"snapshot": {"volume_id": second}})),
        ),
    ] {
        let (s, _) = c.call(P1, "2.35", method, &path, body.clone()).await;
        assert_ne!(s, 404, "{method} {path} at 2.35");
        let (s, _) = c.call(P1, "2.36", method, &path, body).await;
        assert_eq!(s, 404, "{method} {path} at 2.36");
    }
}

#[tokio::test]
async fn an_attached_volume_shows_its_server_and_device() {
    let c = cloud().await;
    let (_, body) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/os-volumes",
            Some(json!({"volume": {"size": 1}})),
        )
        .await;
    let id = body["volume"]["id"].as_str().unwrap().to_string();
    wait_for(
        &c,
        &format!("/os-volumes/{id}"),
        Some(&|b: &Value| b["volume"]["status"] == "available"),
    )
    .await;
    let server = "5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0042";
    let ctx = crate::support::ctx("p1", "member,reader");
    let a = c
        .svc
        .volume()
        .attachment_create(
            &ctx,
            &id,
            Some(server),
            Some(json!({"host": "nimbus", "mountpoint": "/dev/vdb"})),
            None,
        )
        .await
        .unwrap();
    c.svc
        .volume()
        .attachment_complete(&ctx, &a.id)
        .await
        .unwrap();
    let (s, body) = c
        .call(P1, "2.1", "GET", &format!("/os-volumes/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["volume"]["status"], "in-use");
    assert_eq!(
        body["volume"]["attachments"],
        json!([{"id": id, "volumeId": id, "serverId": server, "device": "/dev/vdb"}])
    );
    // Attached volumes are not deleted (Cinder's 400 through nova).
    let (s, _) = c
        .call(P1, "2.1", "DELETE", &format!("/os-volumes/{id}"), None)
        .await;
    assert_eq!(s, 400);
}
