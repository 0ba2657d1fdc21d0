//! The attach API before attachments (3.27): os-reserve ... os-detach,
//! os-update_readonly_flag, and the image-metadata actions.

use serde_json::{Value, json};

use crate::support::{Harness, harness_on};

const SERVER: &str = "0b4f7e2c-9d1a-4c3b-8e5f-6a7b8c9d0e1f";
const OTHER_SERVER: &str = "1c5a8f3d-0e2b-4d4c-9f6a-7b8c9d0e1f2a";

fn connector() -> Value {
    json!({"host": "legacy-host", "initiator": "iqn.1993-08.org.debian:01:legacy", "ip": "127.0.0.1", "multipath": false})
}

async fn act(h: &Harness, project: &str, id: &str, body: Value) -> (u16, Value) {
    let r = h
        .call(
            "POST",
            &format!("/volumes/{id}/action"),
            project,
            Some(body),
        )
        .await;
    let body = if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    };
    (r.status.as_u16(), body)
}

async fn show(h: &Harness, id: &str) -> Value {
    let r = h.call("GET", &format!("/volumes/{id}"), "p1", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.json()["volume"].clone()
}

/// Nova's old sequence, each step changing the volume as in Cinder.
async fn reserve_attach_detach(pg: bool) {
    let Some(h) = harness_on(pg).await else {
        return;
    };
    let v = h.volume("p1", json!({"size": 1})).await;
    let id = v["id"].as_str().unwrap().to_string();

    // Reserve / unreserve.
    assert_eq!(act(&h, "p1", &id, json!({"os-reserve": {}})).await.0, 202);
    assert_eq!(show(&h, &id).await["status"], "attaching");
    let (status, body) = act(&h, "p1", &id, json!({"os-reserve": {}})).await;
    assert_eq!(status, 400, "reserving twice");
    assert!(
        body.to_string()
            .contains("must be available to reserve, but the status is attaching"),
        "{body}"
    );
    assert_eq!(act(&h, "p1", &id, json!({"os-unreserve": {}})).await.0, 202);
    assert_eq!(show(&h, &id).await["status"], "available");
    assert_eq!(
        act(&h, "p1", &id, json!({"os-unreserve": {}})).await.0,
        202,
        "unreserving an unreserved volume does nothing"
    );
    assert_eq!(show(&h, &id).await["status"], "available");

    // Another project's volume, or none: 404 for every action.
    for body in [
        json!({"os-reserve": {}}),
        json!({"os-unreserve": {}}),
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb"}}),
        json!({"os-detach": {}}),
        json!({"os-begin_detaching": {}}),
        json!({"os-initialize_connection": {"connector": connector()}}),
        json!({"os-update_readonly_flag": {"readonly": true}}),
        json!({"os-show_image_metadata": {}}),
    ] {
        assert_eq!(act(&h, "p2", &id, body.clone()).await.0, 404, "{body}");
        let missing = "6a0c2d63-5b0e-4a3c-9a4e-0d4f8f2b9c11";
        assert_eq!(act(&h, "p1", missing, body.clone()).await.0, 404, "{body}");
    }

    // Reserve, connect, attach.
    assert_eq!(act(&h, "p1", &id, json!({"os-reserve": {}})).await.0, 202);
    let (status, body) = act(
        &h,
        "p1",
        &id,
        json!({"os-initialize_connection": {"connector": connector()}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let info = &body["connection_info"];
    assert_eq!(info["driver_volume_type"], "local");
    assert_eq!(
        info["data"]["device_path"],
        h.volume_file(&id).to_str().unwrap()
    );
    assert_eq!(info["data"]["access_mode"], "rw");
    assert_eq!(info["data"]["volume_id"], id.as_str());
    assert_eq!(info["enforce_multipath"], false);
    assert_eq!(show(&h, &id).await["status"], "attaching");
    let attach = json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb"}});
    assert_eq!(act(&h, "p1", &id, attach.clone()).await.0, 202);
    let v = show(&h, &id).await;
    assert_eq!(v["status"], "in-use");
    let attachments = v["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{v}");
    assert_eq!(attachments[0]["server_id"], SERVER);
    assert_eq!(attachments[0]["device"], "/dev/vdb");
    assert_eq!(attachments[0]["id"], id.as_str());
    assert_eq!(attachments[0]["volume_id"], id.as_str());
    assert_eq!(v["metadata"]["readonly"], "False", "{v}");
    assert_eq!(v["metadata"]["attached_mode"], "rw", "{v}");
    let user_metadata = h
        .call("GET", &format!("/volumes/{id}/metadata"), "p1", None)
        .await
        .json();
    assert_eq!(
        user_metadata["metadata"],
        json!({}),
        "admin keys stay apart"
    );
    // The same server again is the same attachment; another server is refused.
    assert_eq!(act(&h, "p1", &id, attach).await.0, 202);
    assert_eq!(
        show(&h, &id).await["attachments"].as_array().unwrap().len(),
        1
    );
    let (status, body) = act(
        &h,
        "p1",
        &id,
        json!({"os-attach": {"instance_uuid": OTHER_SERVER, "mountpoint": "/dev/vdc"}}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(act(&h, "p1", &id, json!({"os-reserve": {}})).await.0, 400);
    // The attachments API sees it; an attached volume cannot be deleted.
    let r = h.call("GET", "/attachments", "p1", None).await;
    assert_eq!(r.json()["attachments"][0]["instance"], SERVER);
    assert_eq!(r.json()["attachments"][0]["status"], "attached");
    assert_eq!(
        h.call("DELETE", &format!("/volumes/{id}"), "p1", None)
            .await
            .status,
        400
    );

    // Detach: begin, roll back, begin, terminate, detach.
    assert_eq!(
        act(&h, "p1", &id, json!({"os-begin_detaching": {}}))
            .await
            .0,
        202
    );
    assert_eq!(show(&h, &id).await["status"], "detaching");
    assert_eq!(
        act(&h, "p1", &id, json!({"os-begin_detaching": {}}))
            .await
            .0,
        400,
        "only an in-use volume"
    );
    assert_eq!(
        act(&h, "p1", &id, json!({"os-roll_detaching": {}})).await.0,
        202
    );
    assert_eq!(show(&h, &id).await["status"], "in-use");
    assert_eq!(
        act(&h, "p1", &id, json!({"os-begin_detaching": {}}))
            .await
            .0,
        202
    );
    let (status, body) = act(
        &h,
        "p1",
        &id,
        json!({"os-terminate_connection": {"connector": connector()}}),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(act(&h, "p1", &id, json!({"os-detach": {}})).await.0, 202);
    let v = show(&h, &id).await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
    assert_eq!(v["metadata"], json!({"readonly": "False"}));
    let r = h.call("GET", "/attachments", "p1", None).await;
    assert_eq!(r.json()["attachments"], json!([]));
    // Detaching a detached volume is harmless.
    assert_eq!(act(&h, "p1", &id, json!({"os-detach": null})).await.0, 202);
    assert_eq!(show(&h, &id).await["status"], "available");

    // Given up before attaching: terminate_connection unreserves.
    assert_eq!(act(&h, "p1", &id, json!({"os-reserve": {}})).await.0, 202);
    let (status, _) = act(
        &h,
        "p1",
        &id,
        json!({"os-initialize_connection": {"connector": connector()}}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = act(
        &h,
        "p1",
        &id,
        json!({"os-terminate_connection": {"connector": null}}),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(show(&h, &id).await["status"], "available");
    assert_eq!(
        h.call("DELETE", &format!("/volumes/{id}"), "p1", None)
            .await
            .status,
        202
    );
}
crate::both!(reserve_attach_detach);

/// A read-only volume attaches read-only; the flag needs an available volume.
#[tokio::test]
async fn readonly_flag() {
    let h = crate::support::harness().await;
    let v = h.volume("p1", json!({"size": 1})).await;
    let id = v["id"].as_str().unwrap().to_string();
    for (value, shown) in [(json!(true), "True"), (json!("false"), "False")] {
        let (status, body) = act(
            &h,
            "p1",
            &id,
            json!({"os-update_readonly_flag": {"readonly": value}}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(show(&h, &id).await["metadata"]["readonly"], shown);
    }
    for bad in [
        json!({"os-update_readonly_flag": {"readonly": "maybe"}}),
        json!({"os-update_readonly_flag": {}}),
        json!({"os-update_readonly_flag": {"readonly": true, "x": 1}}),
    ] {
        assert_eq!(act(&h, "p1", &id, bad.clone()).await.0, 400, "{bad}");
    }
    assert_eq!(
        act(
            &h,
            "p1",
            &id,
            json!({"os-update_readonly_flag": {"readonly": true}})
        )
        .await
        .0,
        202
    );
    let rw = json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb"}});
    let (status, body) = act(&h, "p1", &id, rw).await;
    assert_eq!(status, 400);
    assert!(
        body.to_string().contains("Invalid attaching mode 'rw'"),
        "{body}"
    );
    let ro =
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb", "mode": "ro"}});
    assert_eq!(act(&h, "p1", &id, ro).await.0, 202);
    assert_eq!(show(&h, &id).await["metadata"]["attached_mode"], "ro");
    let (status, body) = act(
        &h,
        "p1",
        &id,
        json!({"os-update_readonly_flag": {"readonly": false}}),
    )
    .await;
    assert_eq!(status, 400, "in-use: {body}");
    assert_eq!(act(&h, "p1", &id, json!({"os-detach": {}})).await.0, 202);

    // The attachments API honours the flag: the connection is read-only.
    let r = h
        .call(
            "POST",
            "/attachments",
            "p1",
            Some(json!({"attachment": {"volume_uuid": id, "instance_uuid": SERVER, "connector": connector()}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let a = r.json()["attachment"].clone();
    assert_eq!(a["attach_mode"], "ro");
    assert_eq!(a["connection_info"]["data"]["access_mode"], "ro");

    // That attachment belongs to the compute service: users may not cut it.
    let att = a["id"].as_str().unwrap();
    let r = h
        .call(
            "POST",
            &format!("/attachments/{att}/action"),
            "p1",
            Some(json!({"os-complete": null})),
        )
        .await;
    assert_eq!(r.status, 204);
    for body in [
        json!({"os-detach": {}}),
        json!({"os-detach": {"attachment_id": att}}),
        json!({"os-terminate_connection": {"connector": connector()}}),
    ] {
        let (status, reply) = act(&h, "p1", &id, body).await;
        assert_eq!(status, 409, "{reply}");
        assert!(
            reply.to_string().contains("using the Compute API"),
            "{reply}"
        );
    }
    assert_eq!(show(&h, &id).await["status"], "in-use");
}

/// os-attach's schema, and a host attachment.
#[tokio::test]
async fn attach_input_and_hosts() {
    let h = crate::support::harness().await;
    let v = h.volume("p1", json!({"size": 1})).await;
    let id = v["id"].as_str().unwrap().to_string();
    for bad in [
        json!({"os-attach": {"instance_uuid": SERVER}}),
        json!({"os-attach": {"mountpoint": "/dev/vdb"}}),
        json!({"os-attach": {"instance_uuid": "not-a-uuid", "mountpoint": "/dev/vdb"}}),
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": ""}}),
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb", "mode": "rx"}}),
        json!({"os-attach": {"instance_uuid": SERVER, "mountpoint": "/dev/vdb", "extra": 1}}),
        json!({"os-attach": "x"}),
        json!({"os-detach": {"attachment_id": "nope"}}),
        json!({"os-initialize_connection": {}}),
        json!({"os-initialize_connection": {"connector": 5}}),
        json!({"os-terminate_connection": {}}),
        json!({"os-reserve": {}, "os-unreserve": {}}),
        json!({"os-frobnicate": {}}),
    ] {
        assert_eq!(act(&h, "p1", &id, bad.clone()).await.0, 400, "{bad}");
    }
    assert_eq!(show(&h, &id).await["status"], "available");
    let (status, _) = act(
        &h,
        "p1",
        &id,
        json!({"os-attach": {"host_name": "backup-host", "mountpoint": "/mnt/vol"}}),
    )
    .await;
    assert_eq!(status, 202);
    let v = show(&h, &id).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"][0]["host_name"], "backup-host");
    assert_eq!(v["attachments"][0]["server_id"], Value::Null);
    let (status, body) = act(
        &h,
        "p1",
        &id,
        json!({"os-detach": {"attachment_id": SERVER}}),
    )
    .await;
    assert_eq!(
        status, 400,
        "an attachment this volume does not have: {body}"
    );
    let att = v["attachments"][0]["attachment_id"].as_str().unwrap();
    assert_eq!(
        act(&h, "p1", &id, json!({"os-detach": {"attachment_id": att}}))
            .await
            .0,
        202
    );
    assert_eq!(show(&h, &id).await["status"], "available");
}

/// Two servers racing for one volume through os-attach: one wins.
async fn racing_legacy_attaches(pg: bool) {
    let Some(h) = harness_on(pg).await else {
        return;
    };
    let v = h.volume("p1", json!({"size": 1})).await;
    let id = v["id"].as_str().unwrap().to_string();
    let attach = |server: &'static str| {
        let h = &h;
        let id = id.clone();
        async move {
            act(
                h,
                "p1",
                &id,
                json!({"os-attach": {"instance_uuid": server, "mountpoint": "/dev/vdb"}}),
            )
            .await
            .0
        }
    };
    let (a, b) = tokio::join!(attach(SERVER), attach(OTHER_SERVER));
    let mut codes = [a, b];
    codes.sort();
    assert_eq!(codes, [202, 400]);
    let v = show(&h, &id).await;
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"].as_array().unwrap().len(), 1, "{v}");
}
crate::both!(racing_legacy_attaches);

/// os-set/unset/show_image_metadata.
#[tokio::test]
async fn image_metadata_actions() {
    let h = crate::support::harness().await;
    let v = h.volume("p1", json!({"size": 1})).await;
    let id = v["id"].as_str().unwrap().to_string();
    let (status, body) = act(&h, "p1", &id, json!({"os-show_image_metadata": {}})).await;
    assert_eq!((status, body), (200, json!({"metadata": {}})));
    assert!(show(&h, &id).await.get("volume_image_metadata").is_none());
    let set = json!({"os-set_image_metadata": {"metadata": {"image_id": "5137a025-3c5f-43c1-bc64-5f41270040a5", "kernel_id": "k", "ramdisk_id": "somedisk"}}});
    let (status, body) = act(&h, "p1", &id, set).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["metadata"]["kernel_id"], "k");
    let (_, body) = act(
        &h,
        "p1",
        &id,
        json!({"os-set_image_metadata": {"metadata": {"hw_disk_bus": "virtio"}}}),
    )
    .await;
    assert_eq!(body["metadata"].as_object().unwrap().len(), 4, "merged");
    assert_eq!(
        show(&h, &id).await["volume_image_metadata"]["ramdisk_id"],
        "somedisk"
    );
    let (status, body) = act(
        &h,
        "p1",
        &id,
        json!({"os-unset_image_metadata": {"key": "ramdisk_id"}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = act(&h, "p1", &id, json!({"os-show_image_metadata": {}})).await;
    assert!(body["metadata"].get("ramdisk_id").is_none(), "{body}");
    assert_eq!(body["metadata"]["kernel_id"], "k");
    let (status, _) = act(
        &h,
        "p1",
        &id,
        json!({"os-unset_image_metadata": {"key": "ramdisk_id"}}),
    )
    .await;
    assert_eq!(status, 404);
    for bad in [
        json!({"os-set_image_metadata": {"metadata": {"bad key!": "x"}}}),
        json!({"os-set_image_metadata": {"metadata": {"k": 1}}}),
        json!({"os-set_image_metadata": {}}),
        json!({"os-unset_image_metadata": {"key": ""}}),
    ] {
        assert_eq!(act(&h, "p1", &id, bad.clone()).await.0, 400, "{bad}");
    }
    assert_eq!(
        act(
            &h,
            "p2",
            &id,
            json!({"os-unset_image_metadata": {"key": "kernel_id"}})
        )
        .await
        .0,
        404
    );
}
