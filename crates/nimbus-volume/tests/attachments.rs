//! The attachment flow (Cinder's new-style attach) on the local backend,
//! through the API and the in-process calls the compute service makes.

use serde_json::{Value, json};

use crate::support::{Harness, ctx, harness_on};

const INSTANCE: &str = "8d6b36ee-4a56-4b8e-9d1c-0f0e5c9a1b2c";

fn connector() -> Value {
    json!({"host": "nimbus-host", "initiator": "iqn.1993-08.org.debian:01:nimbus", "ip": "127.0.0.1", "platform": "x86_64", "os_type": "linux", "multipath": false, "mountpoint": "/dev/vdb"})
}

async fn reserve_connect_complete_detach(pg: bool) {
    let Some(h) = harness_on(pg).await else {
        return;
    };
    let v = h.volume("p1", json!({"size": 1, "name": "data"})).await;
    let id = v["id"].as_str().unwrap().to_string();

    // Older microversions have no attachments API.
    let req = Harness::req_at("POST", "/attachments", "p1", "volume 3.26")
        .header("content-type", "application/json");
    let r = Harness::send_to(
        &h.app,
        req,
        axum::body::Body::from(json!({"attachment": {"volume_uuid": id}}).to_string()),
    )
    .await;
    assert_eq!(r.status, 404);

    let r = h
        .call(
            "POST",
            "/attachments",
            "p1",
            Some(json!({"attachment": {"volume_uuid": id, "instance_uuid": INSTANCE}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let a = r.json()["attachment"].clone();
    assert_eq!(a["status"], "reserved");
    assert_eq!(a["instance"], INSTANCE);
    assert_eq!(a["connection_info"], Value::Null);
    let att = a["id"].as_str().unwrap().to_string();
    assert_eq!(
        h.wait_volume("p1", &id, &["reserved"]).await["status"],
        "reserved"
    );

    // The same volume twice: refused. Another project's: not found.
    let r = h
        .call(
            "POST",
            "/attachments",
            "p1",
            Some(json!({"attachment": {"volume_uuid": id, "instance_uuid": INSTANCE}})),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .call(
            "POST",
            "/attachments",
            "p2",
            Some(json!({"attachment": {"volume_uuid": id, "instance_uuid": INSTANCE}})),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        h.call("GET", &format!("/attachments/{att}"), "p2", None)
            .await
            .status,
        404
    );
    let r = h
        .call(
            "POST",
            "/attachments",
            "p1",
            Some(json!({"attachment": {"volume_uuid": id, "instance_uuid": "not-a-uuid"}})),
        )
        .await;
    assert_eq!(r.status, 400);
    // Reserved volumes cannot be deleted.
    assert_eq!(
        h.call("DELETE", &format!("/volumes/{id}"), "p1", None)
            .await
            .status,
        400
    );

    let r = h
        .call(
            "PUT",
            &format!("/attachments/{att}"),
            "p1",
            Some(json!({"attachment": {"connector": connector()}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let info = r.json()["attachment"]["connection_info"].clone();
    assert_eq!(info["driver_volume_type"], "local");
    assert_eq!(
        info["data"]["device_path"],
        h.volume_file(&id).to_str().unwrap()
    );
    assert_eq!(r.json()["attachment"]["status"], "attaching");
    assert_eq!(
        h.wait_volume("p1", &id, &["attaching"]).await["status"],
        "attaching"
    );

    let r = h
        .call(
            "POST",
            &format!("/attachments/{att}/action"),
            "p1",
            Some(json!({"os-complete": null})),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let v = h.wait_volume("p1", &id, &["in-use"]).await;
    assert_eq!(v["attachments"][0]["server_id"], INSTANCE);
    assert_eq!(v["attachments"][0]["attachment_id"], att.as_str());
    assert_eq!(v["attachments"][0]["device"], "/dev/vdb");
    assert_eq!(v["attachments"][0]["host_name"], "nimbus-host");

    // In-use: no delete, no extend.
    let r = h
        .call("DELETE", &format!("/volumes/{id}"), "p1", None)
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("Volume status must be available")
    );
    assert_eq!(
        h.call(
            "POST",
            &format!("/volumes/{id}/action"),
            "p1",
            Some(json!({"os-extend": {"new_size": 3}}))
        )
        .await
        .status,
        400
    );

    let r = h
        .call(
            "GET",
            &format!("/attachments?instance_id={INSTANCE}"),
            "p1",
            None,
        )
        .await;
    assert_eq!(r.json()["attachments"].as_array().unwrap().len(), 1);

    let r = h
        .call("DELETE", &format!("/attachments/{att}"), "p1", None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["attachments"], json!([]));
    let v = h.wait_volume("p1", &id, &["available"]).await;
    assert_eq!(v["attachments"], json!([]));
    // Detaching what is not attached.
    assert_eq!(
        h.call("DELETE", &format!("/attachments/{att}"), "p1", None)
            .await
            .status,
        404
    );
}

async fn racing_attaches_one_wins_and_failures_roll_back(pg: bool) {
    let Some(h) = harness_on(pg).await else {
        return;
    };
    let v = h.volume("p1", json!({"size": 1})).await;
    let id = v["id"].as_str().unwrap().to_string();
    let c = ctx("p1", "member,reader");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let svc = h.svc.clone();
        let (c, id) = (c.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            svc.attachment_create(&c, &id, Some(INSTANCE), Some(connector()), None)
                .await
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        if let Ok(a) = t.await.unwrap() {
            won.push(a);
        }
    }
    assert_eq!(won.len(), 1, "exactly one attach wins");
    let a = &won[0];
    assert_eq!(
        a.connection_info.as_ref().unwrap()["driver_volume_type"],
        "local"
    );
    h.svc.attachment_complete(&c, &a.id).await.unwrap();
    assert_eq!(
        h.svc.volume_get(&c, &id).await.unwrap().status.as_str(),
        "in-use"
    );
    h.svc.attachment_delete(&c, &a.id).await.unwrap();
    assert_eq!(
        h.svc.volume_get(&c, &id).await.unwrap().status.as_str(),
        "available"
    );

    // A connector that is not an object is refused and leaves nothing.
    let err = h
        .svc
        .attachment_create(&c, &id, Some(INSTANCE), Some(json!("x")), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(
        h.svc.volume_get(&c, &id).await.unwrap().status.as_str(),
        "available"
    );
    assert!(
        h.svc
            .attachment_list(&c, None, false)
            .await
            .unwrap()
            .is_empty()
    );

    // A backend failure at connect time (the file vanished) rolls back.
    std::fs::remove_file(h.volume_file(&id)).unwrap();
    let err = h
        .svc
        .attachment_create(&c, &id, Some(INSTANCE), Some(connector()), None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 500);
    assert_eq!(
        h.svc.volume_get(&c, &id).await.unwrap().status.as_str(),
        "available"
    );
    assert!(
        h.svc
            .attachment_list(&c, None, false)
            .await
            .unwrap()
            .is_empty()
    );
}

crate::both!(reserve_connect_complete_detach);

crate::both!(racing_attaches_one_wins_and_failures_roll_back);
