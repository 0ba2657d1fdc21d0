//! The Glance v2 API through the router: metadata, data, members, tags,
//! visibility, actions, paging, on SQLite and PostgreSQL.

use axum::body::Body;
use md5::Digest as _;
use serde_json::json;

use crate::support::{Harness, harness, harness_with, qemu_img_create, qemu_virtual_size};

fn sha512_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha512::digest(data))
}

async fn lifecycle(h: &Harness) {
    let data = qemu_img_create(h.dir.path(), "qcow2", &[], "64M");
    let id = h
        .create(
            "p1",
            json!({"name": "cirros", "disk_format": "qcow2", "container_format": "bare",
                   "min_disk": 1, "hw_disk_bus": "virtio", "tags": ["x"]}),
        )
        .await;
    let r = h.get(&format!("/v2/images/{id}"), "p1").await;
    let doc = r.json();
    assert_eq!(doc["status"], "queued");
    assert_eq!(doc["visibility"], "shared");
    assert_eq!(doc["owner"], "p1");
    assert_eq!(doc["hw_disk_bus"], "virtio");
    assert_eq!(doc["min_disk"], 1);
    assert!(doc.get("locations").is_none() && doc.get("direct_url").is_none());
    // No data yet: 204.
    assert_eq!(
        h.get(&format!("/v2/images/{id}/file"), "p1").await.status,
        204
    );

    let r = h.upload(&id, "p1", data.clone()).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let doc = h.get(&format!("/v2/images/{id}"), "p1").await.json();
    assert_eq!(doc["status"], "active");
    assert_eq!(doc["size"], data.len() as u64);
    assert_eq!(doc["checksum"], hex::encode(md5::Md5::digest(&data)));
    assert_eq!(doc["os_hash_algo"], "sha512");
    assert_eq!(doc["os_hash_value"], sha512_hex(&data));
    assert_eq!(doc["virtual_size"], qemu_virtual_size(&data, "qcow2"));
    let admin = h.admin_show(&id).await;
    assert!(
        admin["locations"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("file://")
    );
    assert!(admin["direct_url"].as_str().unwrap().starts_with("file://"));

    // Download, whole and a range.
    let r = h.get(&format!("/v2/images/{id}/file"), "p1").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_ref(), data.as_slice());
    assert_eq!(
        r.headers["content-md5"].to_str().unwrap(),
        hex::encode(md5::Md5::digest(&data))
    );
    let req =
        Harness::req("GET", &format!("/v2/images/{id}/file"), "p1").header("range", "bytes=10-99");
    let r = h.send(req, Body::empty()).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body.as_ref(), &data[10..100]);
    assert_eq!(
        r.headers["content-range"],
        format!("bytes 10-99/{}", data.len())
    );
    // As Glance: past the end or malformed is 416 naming the size, several
    // ranges 400; the legacy Content-Range request header also works.
    let ranged = |name: &'static str, value: String| {
        Harness::req("GET", &format!("/v2/images/{id}/file"), "p1").header(name, value)
    };
    let len = data.len();
    for bad in [
        format!("bytes={len}-"),
        "bytes=10-5".into(),
        "pages=1-2".into(),
    ] {
        let r = h.send(ranged("range", bad.clone()), Body::empty()).await;
        assert_eq!(r.status, 416, "{bad}");
        assert_eq!(
            r.headers["content-range"],
            format!("bytes */{len}"),
            "{bad}"
        );
        assert_eq!(r.json()["code"], "416 Range Not Satisfiable");
    }
    let r = h
        .send(ranged("range", "bytes=0-1,4-5".into()), Body::empty())
        .await;
    assert_eq!(r.status, 400);
    let r = h
        .send(ranged("range", "bytes=-7".into()), Body::empty())
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body.as_ref()),
        (206, &data[len - 7..])
    );
    let r = h
        .send(ranged("content-range", "bytes 3-5/*".into()), Body::empty())
        .await;
    assert_eq!((r.status.as_u16(), r.body.as_ref()), (206, &data[3..6]));

    // Data is immutable: a second upload is 409.
    assert_eq!(h.upload(&id, "p1", data.clone()).await.status, 409);

    // Other projects cannot see a shared image they are not members of.
    assert_eq!(h.get(&format!("/v2/images/{id}"), "p2").await.status, 404);
    assert_eq!(
        h.get(&format!("/v2/images/{id}/file"), "p2").await.status,
        404
    );

    // Patch: properties, read-only attributes, protected.
    let r = h
        .patch(
            &id,
            "p1",
            json!([{"op": "add", "path": "/os_distro", "value": "cirros"},
                   {"op": "replace", "path": "/name", "value": "renamed"},
                   {"op": "remove", "path": "/hw_disk_bus"},
                   {"op": "add", "path": "/protected", "value": true}]),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let doc = r.json();
    assert_eq!(doc["os_distro"], "cirros");
    assert_eq!(doc["name"], "renamed");
    assert!(doc.get("hw_disk_bus").is_none());
    for attr in ["size", "checksum", "status", "os_hash_value"] {
        let r = h
            .patch(
                &id,
                "p1",
                json!([{"op": "replace", "path": format!("/{attr}"), "value": "x"}]),
            )
            .await;
        assert_eq!(r.status, 403, "{attr}");
    }
    let r = h
        .patch(&id, "p1", json!([{"op": "remove", "path": "/nope"}]))
        .await;
    assert_eq!(r.status, 409);
    let r = h
        .patch(&id, "p1", json!([{"op": "add", "path": "/x", "value": 5}]))
        .await;
    assert_eq!(r.status, 400);
    let req = Harness::req("PATCH", &format!("/v2/images/{id}"), "p1")
        .header("content-type", "application/json");
    assert_eq!(h.send(req, Body::from("[]")).await.status, 415);
    // Not the owner: visible (after making it public) but not modifiable.
    let del = Harness::req("DELETE", &format!("/v2/images/{id}"), "p1");
    let r = h.send(del, Body::empty()).await;
    assert_eq!(r.status, 403, "protected");
    assert_eq!(r.json()["code"], "403 Forbidden");
    let r = h
        .patch(
            &id,
            "p1",
            json!([{"op": "replace", "path": "/protected", "value": false}]),
        )
        .await;
    assert_eq!(r.status, 200);

    // Tags.
    let put = Harness::req("PUT", &format!("/v2/images/{id}/tags/gold"), "p1");
    assert_eq!(h.send(put, Body::empty()).await.status, 204);
    let doc = h.get(&format!("/v2/images/{id}"), "p1").await.json();
    assert_eq!(doc["tags"], json!(["gold", "x"]));
    let list = h.get("/v2/images?tag=gold", "p1").await.json();
    assert_eq!(list["images"].as_array().unwrap().len(), 1);
    let del = Harness::req("DELETE", &format!("/v2/images/{id}/tags/gold"), "p1");
    assert_eq!(h.send(del, Body::empty()).await.status, 204);
    let del = Harness::req("DELETE", &format!("/v2/images/{id}/tags/gold"), "p1");
    assert_eq!(h.send(del, Body::empty()).await.status, 404);

    // Deactivate: download forbidden to non-admins; reactivate restores it.
    let act = |a: &str| Harness::req("POST", &format!("/v2/images/{id}/actions/{a}"), "p1");
    assert_eq!(h.send(act("deactivate"), Body::empty()).await.status, 204);
    assert_eq!(h.status_of(&id).await, "deactivated");
    assert_eq!(
        h.get(&format!("/v2/images/{id}/file"), "p1").await.status,
        403
    );
    assert_eq!(h.send(act("reactivate"), Body::empty()).await.status, 204);
    assert_eq!(
        h.get(&format!("/v2/images/{id}/file"), "p1").await.status,
        200
    );

    // Delete removes the data.
    assert!(!h.stored_files().is_empty());
    let del = Harness::req("DELETE", &format!("/v2/images/{id}"), "p1");
    assert_eq!(h.send(del, Body::empty()).await.status, 204);
    assert_eq!(h.get(&format!("/v2/images/{id}"), "p1").await.status, 404);
    assert!(h.stored_files().is_empty(), "{:?}", h.stored_files());
}

#[tokio::test]
async fn image_lifecycle_sqlite() {
    lifecycle(&harness().await).await;
}

#[tokio::test]
async fn image_lifecycle_postgres() {
    if let Some(h) = harness_with(true, |_| {}).await {
        lifecycle(&h).await;
    }
}

#[tokio::test]
async fn visibility_and_members() {
    let h = harness().await;
    let raw = vec![7u8; 4096];
    let body = |name: &str| json!({"name": name, "disk_format": "raw", "container_format": "bare"});
    let shared = h.create("owner", body("shared")).await;
    let private = h
        .create("owner", json!({"name": "private", "visibility": "private"}))
        .await;
    let community = h
        .create(
            "owner",
            json!({"name": "community", "visibility": "community"}),
        )
        .await;
    assert_eq!(h.upload(&shared, "owner", raw.clone()).await.status, 204);
    // Only admins may publicize.
    assert_eq!(
        h.json(
            "POST",
            "/v2/images",
            "owner",
            json!({"visibility": "public"})
        )
        .await
        .status,
        403
    );
    let public = {
        let req = Harness::req("POST", "/v2/images", "admin-p")
            .header("x-test-roles", "admin,member,reader")
            .header("content-type", "application/json");
        let r = h
            .send(
                req,
                Body::from(json!({"name": "pub", "visibility": "public"}).to_string()),
            )
            .await;
        assert_eq!(r.status, 201);
        r.json()["id"].as_str().unwrap().to_string()
    };
    let names = |v: serde_json::Value| {
        let mut n: Vec<String> = v["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names(h.get("/v2/images", "owner").await.json()),
        ["community", "private", "pub", "shared"]
    );
    // Community images of others are listed only on request.
    assert_eq!(names(h.get("/v2/images", "other").await.json()), ["pub"]);
    assert_eq!(
        names(
            h.get("/v2/images?visibility=community", "other")
                .await
                .json()
        ),
        ["community"]
    );
    assert_eq!(
        h.get(&format!("/v2/images/{community}"), "other")
            .await
            .status,
        200
    );
    assert_eq!(
        h.get(&format!("/v2/images/{private}"), "other")
            .await
            .status,
        404
    );
    // Private images have no members.
    let r = h
        .json(
            "POST",
            &format!("/v2/images/{private}/members"),
            "owner",
            json!({"member": "other"}),
        )
        .await;
    assert_eq!(r.status, 403);
    // Share: pending members see the image but do not list it.
    let r = h
        .json(
            "POST",
            &format!("/v2/images/{shared}/members"),
            "owner",
            json!({"member": "other"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["status"], "pending");
    let r = h
        .json(
            "POST",
            &format!("/v2/images/{shared}/members"),
            "owner",
            json!({"member": "other"}),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        h.get(&format!("/v2/images/{shared}"), "other").await.status,
        200
    );
    assert_eq!(names(h.get("/v2/images", "other").await.json()), ["pub"]);
    // Members cannot share further; owners cannot accept for them.
    let r = h
        .json(
            "POST",
            &format!("/v2/images/{shared}/members"),
            "other",
            json!({"member": "third"}),
        )
        .await;
    assert_eq!(r.status, 403);
    let uri = format!("/v2/images/{shared}/members/other");
    assert_eq!(
        h.json("PUT", &uri, "owner", json!({"status": "accepted"}))
            .await
            .status,
        403
    );
    let r = h
        .json("PUT", &uri, "other", json!({"status": "accepted"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "accepted");
    assert_eq!(
        names(h.get("/v2/images", "other").await.json()),
        ["pub", "shared"]
    );
    // The member downloads; it may not modify.
    assert_eq!(
        h.get(&format!("/v2/images/{shared}/file"), "other")
            .await
            .body
            .as_ref(),
        raw.as_slice()
    );
    let r = h
        .patch(
            &shared,
            "other",
            json!([{"op": "replace", "path": "/name", "value": "mine"}]),
        )
        .await;
    assert_eq!(r.status, 403);
    let members = h
        .get(&format!("/v2/images/{shared}/members"), "owner")
        .await
        .json();
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
    // The owner removes the member: the image is gone for it.
    let del = Harness::req("DELETE", &uri, "owner");
    assert_eq!(h.send(del, Body::empty()).await.status, 204);
    assert_eq!(
        h.get(&format!("/v2/images/{shared}"), "other").await.status,
        404
    );
    // An admin sees every image.
    let req =
        Harness::req("GET", "/v2/images", "admin-p").header("x-test-roles", "admin,member,reader");
    let all = h.send(req, Body::empty()).await.json();
    assert_eq!(
        all["images"].as_array().unwrap().len(),
        3,
        "community images are listed only on request"
    );
    assert!(
        all["images"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["id"] == public.as_str())
    );
}

#[tokio::test]
async fn paging_sorting_and_filters() {
    let h = harness().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            h.create("p", json!({"name": format!("img{i}"), "disk_format": "raw", "container_format": "bare"}))
                .await,
        );
    }
    let first = h
        .get("/v2/images?limit=2&sort_key=name&sort_dir=asc", "p")
        .await
        .json();
    let page: Vec<&str> = first["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(page, ["img0", "img1"]);
    let next = first["next"].as_str().unwrap().to_string();
    assert!(next.contains("marker="), "{next}");
    let second = h.get(&next, "p").await.json();
    let page: Vec<&str> = second["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(page, ["img2", "img3"]);
    let third = h.get(second["next"].as_str().unwrap(), "p").await.json();
    assert_eq!(third["images"].as_array().unwrap().len(), 1);
    assert!(third.get("next").is_none());
    let by_name = h.get("/v2/images?name=img3", "p").await.json();
    assert_eq!(by_name["images"][0]["id"], ids[3].as_str());
    let by_ids = h
        .get(&format!("/v2/images?id=in:{},{}", ids[0], ids[4]), "p")
        .await
        .json();
    assert_eq!(by_ids["images"].as_array().unwrap().len(), 2);
    assert_eq!(h.get("/v2/images?sort_key=nope", "p").await.status, 400);
    assert_eq!(h.get("/v2/images?limit=-1", "p").await.status, 400);
    assert_eq!(h.get("/v2/images?marker=missing", "p").await.status, 400);
    let hidden = h
        .patch(
            &ids[1],
            "p",
            json!([{"op": "replace", "path": "/os_hidden", "value": true}]),
        )
        .await;
    assert_eq!(hidden.status, 200);
    assert_eq!(
        h.get("/v2/images", "p").await.json()["images"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        h.get("/v2/images?os_hidden=true", "p").await.json()["images"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Custom property filter.
    h.patch(
        &ids[2],
        "p",
        json!([{"op": "add", "path": "/os_distro", "value": "debian"}]),
    )
    .await;
    let r = h.get("/v2/images?os_distro=debian", "p").await.json();
    assert_eq!(r["images"][0]["id"], ids[2].as_str());
}

#[tokio::test]
async fn discovery_schemas_info_and_auth() {
    let h = harness().await;
    let r = h
        .send(axum::http::Request::builder().uri("/"), Body::empty())
        .await;
    assert_eq!(r.status, 300);
    assert_eq!(r.json()["versions"][0]["status"], "CURRENT");
    assert_eq!(
        r.json()["versions"][0]["links"][0]["href"],
        "http://cloud:1/image/v2/"
    );
    let r = h
        .send(
            axum::http::Request::builder().uri("/v2/images"),
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["code"], "401 Unauthorized");
    assert_eq!(
        h.get("/v2/schemas/image", "p").await.json()["name"],
        "image"
    );
    assert_eq!(
        h.get("/v2/schemas/images", "p").await.json()["name"],
        "images"
    );
    assert_eq!(
        h.get("/v2/info/import", "p").await.json()["import-methods"]["value"][0],
        "glance-direct"
    );
    assert_eq!(
        h.get("/v2/info/stores", "p").await.json()["stores"][0]["id"],
        "file"
    );
    let r = h.get("/v2/nothing", "p").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn stage_and_glance_direct_import() {
    let h = harness().await;
    let data = qemu_img_create(h.dir.path(), "qcow2", &[], "16M");
    let id = h
        .create(
            "p",
            json!({"disk_format": "qcow2", "container_format": "bare"}),
        )
        .await;
    let import = json!({"method": {"name": "glance-direct"}});
    // Not staged yet.
    assert_eq!(
        h.json(
            "POST",
            &format!("/v2/images/{id}/import"),
            "p",
            import.clone()
        )
        .await
        .status,
        409
    );
    let req = Harness::req("PUT", &format!("/v2/images/{id}/stage"), "p")
        .header("content-type", "application/octet-stream");
    assert_eq!(h.send(req, Body::from(data.clone())).await.status, 204);
    assert_eq!(h.status_of(&id).await, "uploading");
    // An unknown method is 400; web-download needs a queued image (409).
    for (method, status) in [("glance-download", 400), ("web-download", 409)] {
        let bad = json!({"method": {"name": method, "uri": "http://example.com/x"}});
        assert_eq!(
            h.json("POST", &format!("/v2/images/{id}/import"), "p", bad)
                .await
                .status,
            status,
            "{method}"
        );
    }
    assert_eq!(
        h.json("POST", &format!("/v2/images/{id}/import"), "p", import)
            .await
            .status,
        202
    );
    let mut status = String::new();
    for _ in 0..200 {
        status = h.status_of(&id).await;
        if status == "active" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(status, "active");
    let r = h.get(&format!("/v2/images/{id}/file"), "p").await;
    assert_eq!(r.body.as_ref(), data.as_slice());
    assert_eq!(h.admin_show(&id).await["os_hash_value"], sha512_hex(&data));

    // The import left one task (the refused attempts none), which ends in
    // success; Tempest's snapshot tests wait on this list.
    let mut tasks = serde_json::Value::Null;
    for _ in 0..200 {
        tasks = h.get(&format!("/v2/images/{id}/tasks"), "p").await.json();
        if tasks["tasks"][0]["status"] != "processing" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let list = tasks["tasks"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{tasks}");
    assert_eq!(list[0]["type"], "api_image_import");
    assert_eq!(list[0]["status"], "success", "{tasks}");
    assert_eq!(list[0]["image_id"], id.as_str());
    assert_eq!(
        list[0]["input"]["import_req"]["method"]["name"],
        "glance-direct"
    );
    assert!(list[0]["expires_at"].is_string(), "{tasks}");
    // Another project cannot see the private image, nor its tasks.
    assert_eq!(
        h.get(&format!("/v2/images/{id}/tasks"), "q").await.status,
        404
    );
    // An image that was never imported has none.
    let other = h
        .create(
            "p",
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await;
    let none = h
        .get(&format!("/v2/images/{other}/tasks"), "p")
        .await
        .json();
    assert_eq!(none, json!({"tasks": []}));
}

#[tokio::test]
async fn client_fetches_with_verification() {
    let h = harness().await;
    let data = qemu_img_create(h.dir.path(), "qcow2", &[], "8M");
    let id = h
        .create(
            "p",
            json!({"disk_format": "qcow2", "container_format": "bare"}),
        )
        .await;
    let ctx = nimbus_common::RequestContext {
        request_id: "r".into(),
        user_id: "u".into(),
        user_name: "u".into(),
        user_domain_id: "default".into(),
        project_id: Some("p".into()),
        project_name: Some("p".into()),
        project_domain_id: Some("default".into()),
        domain_id: None,
        roles: vec!["member".into(), "reader".into()],
        audit_id: "a".into(),
    };
    let client = nimbus_image::client::ImageClient::new(h.svc.clone());
    let cache = tempfile::tempdir().unwrap();
    let dest = cache.path().join("base");
    let err = client.image_fetch_to(&ctx, &id, &dest).await.unwrap_err();
    assert_eq!(err.kind, nimbus_image::client::FetchErrorKind::NotActive);
    assert_eq!(h.upload(&id, "p", data.clone()).await.status, 204);
    let meta = client.image_get(&ctx, &id).await.unwrap();
    assert_eq!(meta.disk_format.as_deref(), Some("qcow2"));
    let fetched = client.image_fetch_to(&ctx, &id, &dest).await.unwrap();
    assert_eq!(fetched.sha512, sha512_hex(&data));
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    // Served bytes that do not match os_hash_value: error, nothing cached.
    let location = h.admin_show(&id).await["direct_url"]
        .as_str()
        .unwrap()
        .to_string();
    let path = location.strip_prefix("file://").unwrap();
    let mut tampered = data.clone();
    tampered[1000] ^= 1;
    std::fs::write(path, &tampered).unwrap();
    let dest2 = cache.path().join("base2");
    let err = client.image_fetch_to(&ctx, &id, &dest2).await.unwrap_err();
    assert_eq!(err.kind, nimbus_image::client::FetchErrorKind::Corrupt);
    assert_eq!(
        std::fs::read_dir(cache.path()).unwrap().count(),
        1,
        "only the first fetch is there"
    );
    // Data gone from its store: a store failure, not a missing image.
    std::fs::remove_file(path).unwrap();
    let err = client.image_fetch_to(&ctx, &id, &dest2).await.unwrap_err();
    assert_eq!(err.kind, nimbus_image::client::FetchErrorKind::Store);
    // An image that does not exist, or that the caller may not see.
    let missing = "0b7f2b0e-5a3c-4f4e-9d7c-1a2b3c4d5e6f";
    let err = client
        .image_fetch_to(&ctx, missing, &dest2)
        .await
        .unwrap_err();
    assert_eq!(err.kind, nimbus_image::client::FetchErrorKind::NotFound);
    let other = nimbus_common::RequestContext {
        project_id: Some("p2".into()),
        ..ctx.clone()
    };
    let err = client.image_get(&other, &id).await.unwrap_err();
    assert_eq!(err.kind, nimbus_image::client::FetchErrorKind::NotFound);
    // Deactivated: not served to compute.
    let admin = nimbus_common::RequestContext {
        roles: vec!["admin".into(), "member".into(), "reader".into()],
        ..ctx.clone()
    };
    h.svc.image_deactivate(&admin, &id).await.unwrap();
    let err = client.image_fetch_to(&ctx, &id, &dest2).await.unwrap_err();
    assert_eq!(err.kind, nimbus_image::client::FetchErrorKind::NotActive);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
}
