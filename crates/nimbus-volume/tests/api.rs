//! Volumes, types, snapshots, quotas and limits through the HTTP API.

use axum::body::Body;
use serde_json::json;

use crate::support::{Harness, harness, harness_on, read_at, write_at};

#[tokio::test]
async fn discovery_and_microversions() {
    let h = harness().await;
    let r = Harness::send_to(
        &h.app,
        axum::http::Request::builder().uri("/"),
        Body::empty(),
    )
    .await;
    assert_eq!(r.status, 300);
    assert_eq!(r.json()["versions"][0]["version"], "3.70");
    assert_eq!(
        r.json()["versions"][0]["links"][1]["href"],
        "http://cloud:1/volume/v3/"
    );
    let r = h.call("GET", "/volumes", "p1", None).await;
    assert_eq!(r.headers["openstack-api-version"], "volume 3.70");
    let req = Harness::req_at("GET", "/volumes", "p1", "volume 3.71");
    let r = Harness::send_to(&h.app, req, Body::empty()).await;
    assert_eq!(r.status, 406);
    assert_eq!(r.json()["notAcceptable"]["code"], 406);
    // Without a token-derived context, nothing but discovery answers.
    let r = Harness::send_to(
        &h.app,
        axum::http::Request::builder().uri("/v3/p1/volumes"),
        Body::empty(),
    )
    .await;
    assert_eq!(r.status, 401);
}

/// Cinder adds the tenant, host, migration and image-metadata attributes
/// in controller extensions that only decorate GET replies; Tempest's
/// create/update response schemas refuse them.
#[tokio::test]
async fn create_and_update_replies_are_the_bare_detail_view() {
    let h = harness().await;
    let r = h
        .call(
            "POST",
            "/volumes",
            "p1",
            Some(json!({"volume": {"name": "v", "size": 1}})),
        )
        .await;
    assert_eq!(r.status, 202);
    let created = r.json()["volume"].clone();
    assert!(
        created.get("os-vol-tenant-attr:tenant_id").is_none(),
        "{created}"
    );
    assert!(created.get("volume_image_metadata").is_none());
    let id = created["id"].as_str().unwrap().to_string();
    let shown = h.wait_volume("p1", &id, &["available"]).await;
    assert_eq!(shown["os-vol-tenant-attr:tenant_id"], "p1");
    let r = h
        .call(
            "PUT",
            &format!("/volumes/{id}"),
            "p1",
            Some(json!({"volume": {"name": "w"}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["volume"]["name"], "w");
    assert!(
        r.json()["volume"]
            .get("os-vol-tenant-attr:tenant_id")
            .is_none()
    );
    let r = h
        .call(
            "POST",
            "/snapshots",
            "p1",
            Some(json!({"snapshot": {"volume_id": id, "name": "s"}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert!(
        r.json()["snapshot"]
            .get("os-extended-snapshot-attributes:progress")
            .is_none()
    );
    let snap = r.json()["snapshot"]["id"].as_str().unwrap().to_string();
    let r = h
        .call("GET", &format!("/snapshots/{snap}"), "p1", None)
        .await;
    assert!(
        r.json()["snapshot"]
            .get("os-extended-snapshot-attributes:progress")
            .is_some()
    );
    // A null volume_id is a volume that cannot be found (Cinder), a missing
    // one is a schema error.
    let r = h
        .call(
            "POST",
            "/snapshots",
            "p1",
            Some(json!({"snapshot": {"volume_id": null}})),
        )
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .call("POST", "/snapshots", "p1", Some(json!({"snapshot": {}})))
        .await;
    assert_eq!(r.status, 400);
    // Snapshot lists check paging and sorting like volume lists.
    for (query, status) in [
        ("limit=invalid", 400),
        ("sort_key=invalid", 400),
        ("sort=name:sideways", 400),
        ("marker=00000000-0000-0000-0000-000000000000", 404),
        ("limit=1&sort=name:asc", 200),
    ] {
        let r = h
            .call("GET", &format!("/snapshots?{query}"), "p1", None)
            .await;
        assert_eq!(r.status, status, "{query}");
    }
    // The summary (3.12) counts what the caller would list.
    let r = h.call("GET", "/volumes/summary", "p1", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["volume-summary"]["total_count"], 1);
    assert_eq!(r.json()["volume-summary"]["total_size"], 1);
    assert!(r.json()["volume-summary"]["metadata"].is_object());
    let r = h.call("GET", "/volumes/summary", "p2", None).await;
    assert_eq!(r.json()["volume-summary"]["total_count"], 0);
    let req = Harness::req_at("GET", "/volumes/summary", "p1", "volume 3.11");
    assert_eq!(
        Harness::send_to(&h.app, req, Body::empty()).await.status,
        404
    );
    // The extensions list names what is served (Tempest probes it).
    let r = h.call("GET", "/extensions", "p1", None).await;
    assert_eq!(r.status, 200);
    let aliases: Vec<String> = r.json()["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["alias"].as_str().unwrap().to_string())
        .collect();
    assert!(
        aliases.contains(&"os-vol-tenant-attr".to_string()),
        "{aliases:?}"
    );
}

async fn volume_lifecycle(pg: bool) {
    let Some(h) = harness_on(pg).await else {
        return;
    };
    let v = h
        .volume(
            "p1",
            json!({"name": "v1", "size": 1, "metadata": {"a": "b"}}),
        )
        .await;
    assert_eq!(v["status"], "available");
    assert_eq!(v["size"], 1);
    assert_eq!(v["bootable"], "false");
    assert_eq!(v["volume_type"], "__DEFAULT__");
    assert_eq!(v["metadata"]["a"], "b");
    assert_eq!(v["multiattach"], false);
    assert_eq!(v["consumes_quota"], true);
    assert!(v["volume_type_id"].is_string());
    let id = v["id"].as_str().unwrap().to_string();
    let file = h.volume_file(&id);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 1 << 30);

    // Another project cannot see it.
    assert_eq!(
        h.call("GET", &format!("/volumes/{id}"), "p2", None)
            .await
            .status,
        404
    );
    assert_eq!(
        h.call("GET", "/volumes/detail", "p2", None).await.json()["volumes"],
        json!([])
    );

    // Update, metadata, bootable.
    let r = h
        .call(
            "PUT",
            &format!("/volumes/{id}"),
            "p1",
            Some(json!({"volume": {"name": "renamed", "description": "d"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["volume"]["name"], "renamed");
    let r = h
        .call(
            "POST",
            &format!("/volumes/{id}/metadata"),
            "p1",
            Some(json!({"metadata": {"k": "v"}})),
        )
        .await;
    assert_eq!(r.json()["metadata"], json!({"a": "b", "k": "v"}));
    let r = h
        .call("DELETE", &format!("/volumes/{id}/metadata/a"), "p1", None)
        .await;
    assert_eq!(r.status, 200);
    let r = h
        .call("DELETE", &format!("/volumes/{id}/metadata/a"), "p1", None)
        .await;
    assert_eq!(r.status, 404);
    let r = h
        .call(
            "POST",
            &format!("/volumes/{id}/action"),
            "p1",
            Some(json!({"os-set_bootable": {"bootable": true}})),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = h.call("GET", &format!("/volumes/{id}"), "p1", None).await;
    assert_eq!(r.json()["volume"]["bootable"], "true");
    assert_eq!(r.json()["volume"]["metadata"], json!({"k": "v"}));

    // Extend: must grow; the file grows.
    let r = h
        .call(
            "POST",
            &format!("/volumes/{id}/action"),
            "p1",
            Some(json!({"os-extend": {"new_size": 1}})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["badRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("must be greater than current size")
    );
    let r = h
        .call(
            "POST",
            &format!("/volumes/{id}/action"),
            "p1",
            Some(json!({"os-extend": {"new_size": 2}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let v = h.wait_volume("p1", &id, &["available"]).await;
    assert_eq!(v["size"], 2);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 2 << 30);

    // Unknown action, bad size.
    let r = h
        .call(
            "POST",
            &format!("/volumes/{id}/action"),
            "p1",
            Some(json!({"os-frobnicate": {}})),
        )
        .await;
    assert_eq!(r.status, 400);
    for size in [json!(0), json!(-1), json!("x"), json!(1.5)] {
        let r = h
            .call(
                "POST",
                "/volumes",
                "p1",
                Some(json!({"volume": {"size": size}})),
            )
            .await;
        assert_eq!(r.status, 400, "size {size}");
    }
    let r = h
        .call(
            "POST",
            "/volumes",
            "p1",
            Some(json!({"volume": {"size": 1, "volume_type": "nope"}})),
        )
        .await;
    assert_eq!(r.status, 404);

    // Delete: the row and the file go.
    let r = h
        .call("DELETE", &format!("/volumes/{id}"), "p1", None)
        .await;
    assert_eq!(r.status, 202);
    h.wait_volume("p1", &id, &["deleted"]).await;
    assert!(!file.exists());
}

async fn list_filters_sorting_and_paging(pg: bool) {
    let Some(h) = harness_on(pg).await else {
        return;
    };
    let mut ids = Vec::new();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let v = h
            .volume(
                "p1",
                json!({"name": name, "size": i + 1, "metadata": {"n": name}}),
            )
            .await;
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let r = h.call("GET", "/volumes", "p1", None).await;
    let names: Vec<_> = r.json()["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].clone())
        .collect();
    assert_eq!(names, vec!["c", "b", "a"], "newest first");
    assert!(
        r.json()["volumes"][0].get("status").is_none(),
        "the list view is a summary"
    );
    let r = h.call("GET", "/volumes/detail?name=b", "p1", None).await;
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 1);
    assert_eq!(r.json()["volumes"][0]["size"], 2);
    let r = h
        .call(
            "GET",
            "/volumes/detail?metadata=%7B%22n%22%3A%22c%22%7D",
            "p1",
            None,
        )
        .await;
    assert_eq!(r.json()["volumes"][0]["name"], "c");
    let r = h
        .call("GET", "/volumes?sort=size:asc&limit=2", "p1", None)
        .await;
    let body = r.json();
    assert_eq!(body["volumes"][0]["name"], "a");
    assert_eq!(body["volumes"].as_array().unwrap().len(), 2);
    let next = body["volumes_links"][0]["href"].as_str().unwrap();
    assert!(next.contains(&format!("marker={}", ids[1])), "{next}");
    let r = h
        .call(
            "GET",
            &format!("/volumes?sort=size:asc&limit=2&marker={}", ids[1]),
            "p1",
            None,
        )
        .await;
    assert_eq!(r.json()["volumes"][0]["name"], "c");
    assert!(r.json().get("volumes_links").is_none());
    let r = h.call("GET", "/volumes?with_count=true", "p1", None).await;
    assert_eq!(r.json()["count"], 3);
    assert_eq!(
        h.call("GET", "/volumes?limit=x", "p1", None).await.status,
        400
    );
    assert_eq!(
        h.call("GET", "/volumes?sort=size:sideways", "p1", None)
            .await
            .status,
        400
    );
    assert_eq!(
        h.call("GET", "/volumes?marker=nope", "p1", None)
            .await
            .status,
        404
    );
    // Admins see everything with all_tenants.
    let r = h.admin("GET", "/volumes/detail?all_tenants=1", None).await;
    assert_eq!(r.json()["volumes"].as_array().unwrap().len(), 3);
    assert!(
        r.json()["volumes"][0]
            .get("os-vol-host-attr:host")
            .is_some()
    );
}

async fn snapshots_and_clones_keep_data(pg: bool) {
    let Some(h) = harness_on(pg).await else {
        return;
    };
    let v = h.volume("p1", json!({"size": 1})).await;
    let id = v["id"].as_str().unwrap().to_string();
    write_at(&h.volume_file(&id), 1 << 20, b"snapshot me");
    let r = h
        .call(
            "POST",
            "/snapshots",
            "p1",
            Some(json!({"snapshot": {"volume_id": id, "name": "s1"}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let snap = r.json()["snapshot"]["id"].as_str().unwrap().to_string();
    let mut status = String::new();
    for _ in 0..200 {
        let r = h
            .call("GET", &format!("/snapshots/{snap}"), "p1", None)
            .await;
        status = r.json()["snapshot"]["status"].as_str().unwrap().to_string();
        if status != "creating" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, "available");
    // The volume changes afterwards; the snapshot does not.
    write_at(&h.volume_file(&id), 1 << 20, b"changed!!!!");
    let from_snap = h
        .volume("p1", json!({"snapshot_id": snap, "size": 2}))
        .await;
    assert_eq!(from_snap["status"], "available");
    assert_eq!(from_snap["snapshot_id"], snap.as_str());
    let f = h.volume_file(from_snap["id"].as_str().unwrap());
    assert_eq!(read_at(&f, 1 << 20, 11), b"snapshot me");
    assert_eq!(std::fs::metadata(&f).unwrap().len(), 2 << 30);
    let r = h
        .call(
            "POST",
            "/volumes",
            "p1",
            Some(json!({"volume": {"snapshot_id": snap, "size": 0}})),
        )
        .await;
    assert_eq!(r.status, 400);
    let clone = h.volume("p1", json!({"source_volid": id})).await;
    assert_eq!(clone["size"], 1);
    assert_eq!(
        read_at(&h.volume_file(clone["id"].as_str().unwrap()), 1 << 20, 11),
        b"changed!!!!"
    );
    // A volume with snapshots cannot be deleted (without cascade).
    let r = h
        .call("DELETE", &format!("/volumes/{id}"), "p1", None)
        .await;
    assert_eq!(r.status, 400);
    let r = h.call("GET", "/snapshots/detail", "p1", None).await;
    assert_eq!(r.json()["snapshots"][0]["user_id"], "user-p1");
    assert_eq!(
        h.call("GET", &format!("/snapshots/{snap}"), "p2", None)
            .await
            .status,
        404
    );
    let r = h
        .call("DELETE", &format!("/volumes/{id}?cascade=true"), "p1", None)
        .await;
    assert_eq!(r.status, 202);
    h.wait_volume("p1", &id, &["deleted"]).await;
    assert_eq!(
        h.call("GET", &format!("/snapshots/{snap}"), "p1", None)
            .await
            .status,
        404
    );
}

async fn types_quotas_and_limits(pg: bool) {
    let Some(h) = harness_on(pg).await else {
        return;
    };
    let r = h.call("GET", "/types", "p1", None).await;
    assert_eq!(r.json()["volume_types"][0]["name"], "__DEFAULT__");
    assert!(r.json()["volume_types"][0].get("extra_specs").is_none());
    let r = h.call("GET", "/types/default", "p1", None).await;
    assert_eq!(
        r.json()["volume_type"]["description"],
        "Default Volume Type"
    );
    assert_eq!(
        h.call(
            "POST",
            "/types",
            "p1",
            Some(json!({"volume_type": {"name": "fast"}}))
        )
        .await
        .status,
        403
    );
    let r = h
        .admin(
            "POST",
            "/types",
            Some(json!({"volume_type": {"name": "fast"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        h.admin(
            "POST",
            "/types",
            Some(json!({"volume_type": {"name": "fast"}}))
        )
        .await
        .status,
        409
    );
    let v = h
        .volume("p1", json!({"size": 1, "volume_type": "fast"}))
        .await;
    assert_eq!(v["volume_type"], "fast");

    let r = h
        .call("GET", "/os-quota-sets/p1?usage=True", "p1", None)
        .await;
    let q = &r.json()["quota_set"];
    assert_eq!(q["volumes"]["limit"], 10);
    assert_eq!(q["volumes"]["in_use"], 1);
    assert_eq!(q["gigabytes"]["limit"], 1000);
    assert_eq!(q["per_volume_gigabytes"]["limit"], -1);
    assert_eq!(
        h.call("GET", "/os-quota-sets/p2", "p1", None).await.status,
        403
    );
    assert_eq!(
        h.call(
            "PUT",
            "/os-quota-sets/p1",
            "p1",
            Some(json!({"quota_set": {"volumes": 1}}))
        )
        .await
        .status,
        403
    );
    let r = h
        .admin(
            "PUT",
            "/os-quota-sets/p1",
            Some(json!({"quota_set": {"volumes": 2, "gigabytes": 3}})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["quota_set"]["volumes"], 2);
    assert_eq!(
        h.admin(
            "PUT",
            "/os-quota-sets/p1",
            Some(json!({"quota_set": {"bogus": 2}}))
        )
        .await
        .status,
        400
    );
    let r = h
        .call(
            "POST",
            "/volumes",
            "p1",
            Some(json!({"volume": {"size": 3}})),
        )
        .await;
    assert_eq!(r.status, 413);
    assert!(
        r.json()["overLimit"]["message"]
            .as_str()
            .unwrap()
            .contains("gigabytes quota")
    );
    h.volume("p1", json!({"size": 1})).await;
    let r = h
        .call(
            "POST",
            "/volumes",
            "p1",
            Some(json!({"volume": {"size": 1}})),
        )
        .await;
    assert_eq!(r.status, 413);
    assert!(
        r.json()["overLimit"]["message"]
            .as_str()
            .unwrap()
            .contains("'volumes'")
    );
    let r = h.call("GET", "/limits", "p1", None).await;
    let abs = &r.json()["limits"]["absolute"];
    assert_eq!(abs["maxTotalVolumes"], 2);
    assert_eq!(abs["totalVolumesUsed"], 2);
    assert_eq!(abs["totalGigabytesUsed"], 2);
    // A type in use cannot go.
    let fast = r.json();
    let _ = fast;
    let t = h.admin("GET", "/types/fast", None).await.json()["volume_type"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        h.admin("DELETE", &format!("/types/{t}"), None).await.status,
        400
    );
}

#[tokio::test]
async fn create_from_image_and_upload_to_image() {
    let h = harness().await;
    // A qcow2 image whose data sits at 1 MiB.
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("img.qcow2");
    let p = img.to_str().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["qemu-img", "create", "-q", "-f", "qcow2", p, "64M"]);
    run(&["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 4k", p]);
    let data = std::fs::read(&img).unwrap();
    let create = Harness::send_to(
        &h.image_app,
        axum::http::Request::builder().method("POST").uri("/v2/images").header("x-test-project", "p1").header("content-type", "application/json"),
        Body::from(json!({"name": "img", "disk_format": "qcow2", "container_format": "bare", "hw_disk_bus": "virtio"}).to_string()),
    ).await;
    assert_eq!(create.status, 201, "{:?}", create.body);
    let image = create.json()["id"].as_str().unwrap().to_string();
    let up = Harness::send_to(
        &h.image_app,
        axum::http::Request::builder()
            .method("PUT")
            .uri(format!("/v2/images/{image}/file"))
            .header("x-test-project", "p1")
            .header("content-type", "application/octet-stream"),
        Body::from(data),
    )
    .await;
    assert_eq!(up.status, 204, "{:?}", up.body);

    let v = h
        .volume("p1", json!({"imageRef": image, "size": 1, "name": "boot"}))
        .await;
    assert_eq!(v["status"], "available", "{v}");
    assert_eq!(v["bootable"], "true");
    assert_eq!(v["volume_image_metadata"]["image_id"], image.as_str());
    assert_eq!(v["volume_image_metadata"]["hw_disk_bus"], "virtio");
    let id = v["id"].as_str().unwrap().to_string();
    let file = h.volume_file(&id);
    assert_eq!(
        std::fs::metadata(&file).unwrap().len(),
        1 << 30,
        "raw, grown to the volume size"
    );
    assert_eq!(read_at(&file, 1 << 20, 4096), vec![0x5a; 4096]);
    // Another project's private image is not found.
    let r = h
        .call(
            "POST",
            "/volumes",
            "p2",
            Some(json!({"volume": {"imageRef": image, "size": 1}})),
        )
        .await;
    assert_eq!(r.status, 404);

    // Upload: a new image holding the volume's bytes.
    write_at(&file, 0, b"uploaded-marker");
    let r = h.call("POST", &format!("/volumes/{id}/action"), "p1", Some(json!({"os-volume_upload_image": {"image_name": "from-vol", "disk_format": "qcow2"}}))).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let new_image = r.json()["os-volume_upload_image"]["image_id"]
        .as_str()
        .unwrap()
        .to_string();
    let ctx = crate::support::ctx("p1", "member,reader");
    let client = nimbus_image::client::ImageClient::new(h.images.clone());
    let mut active = false;
    for _ in 0..600 {
        let img = client.image_get(&ctx, &new_image).await.unwrap();
        if img.status == nimbus_image::app::model::Status::Active {
            active = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(active, "the uploaded image never became active");
    h.wait_volume("p1", &id, &["available"]).await;
    let back = dir.path().join("back.qcow2");
    client
        .image_fetch_to(&ctx, &new_image, &back)
        .await
        .unwrap();
    let out = std::process::Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "raw"])
        .arg(&back)
        .arg(dir.path().join("back.raw"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        read_at(&dir.path().join("back.raw"), 0, 15),
        b"uploaded-marker"
    );
    assert_eq!(
        read_at(&dir.path().join("back.raw"), 1 << 20, 4),
        vec![0x5a; 4]
    );
}

crate::both!(volume_lifecycle);

crate::both!(list_filters_sorting_and_paging);

crate::both!(snapshots_and_clones_keep_data);

crate::both!(types_quotas_and_limits);
