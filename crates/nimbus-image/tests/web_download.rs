//! The `web-download` import method against an HTTP server on 127.0.0.1
//! started by the test: filtering of the URL and of redirects, the same
//! inspection and limits as an upload, and failures that leave the image
//! `queued` with no data.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;
use sha2::Digest;

use crate::support::{Harness, harness_with, qemu_img_create};

/// Serves `qcow2` at `/img`, 2 MiB of zeros at `/big`, a redirect to port
/// `elsewhere` at `/away`, a redirect to `/img` at `/hop`; 404 elsewhere.
async fn source(qcow2: Vec<u8>, elsewhere: u16) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new()
        .route("/img", get(move || async move { qcow2.clone() }))
        .route("/big", get(|| async { vec![0u8; 2 << 20] }))
        .route(
            "/away",
            get(move || async move {
                let to = format!("http://127.0.0.1:{elsewhere}/img");
                (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
            }),
        )
        .route(
            "/hop",
            get(move || async move {
                let to = format!("http://127.0.0.1:{port}/img");
                (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

async fn import(h: &Harness, id: &str, uri: &str) -> u16 {
    let body = json!({"method": {"name": "web-download", "uri": uri}});
    let r = h
        .json("POST", &format!("/v2/images/{id}/import"), "p", body)
        .await;
    r.status.as_u16()
}

/// Waits for the background import to end; returns the final status.
async fn settled(h: &Harness, id: &str) -> String {
    for _ in 0..500 {
        let status = h.status_of(id).await;
        if status != "importing" {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("import of {id} never ended");
}

#[tokio::test]
async fn web_download_imports_filters_and_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let qcow2 = qemu_img_create(dir.path(), "qcow2", &[], "16M");
    // A second server whose port is not allowed: redirects there are refused.
    let elsewhere = source(qcow2.clone(), 1).await;
    let port = source(qcow2.clone(), elsewhere).await;
    let h = harness_with(false, |c| {
        c.import_filtering.allowed_ports = vec![port];
        // Loopback is refused unless listed.
        c.import_filtering.allowed_hosts = vec!["127.0.0.1".into()];
        c.image_size_cap = 1 << 20;
    })
    .await
    .unwrap();
    let info = h.get("/v2/info/import", "p").await.json();
    assert_eq!(
        info["import-methods"]["value"],
        json!(["glance-direct", "web-download"])
    );
    let create = |disk: &str| json!({"disk_format": disk, "container_format": "bare"});
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");

    // A good import, through a redirect.
    let id = h.create("p", create("qcow2")).await;
    assert_eq!(import(&h, &id, &url("/hop")).await, 202);
    assert_eq!(settled(&h, &id).await, "active");
    let image = h.admin_show(&id).await;
    assert_eq!(
        image["os_hash_value"],
        hex::encode(sha2::Sha512::digest(&qcow2))
    );
    assert_eq!(image["os_hash_algo"], "sha512");
    assert_eq!(image["size"], qcow2.len());
    assert_eq!(image["virtual_size"], 16 << 20);
    let r = h.get(&format!("/v2/images/{id}/file"), "p").await;
    assert_eq!(r.body.as_ref(), qcow2.as_slice());
    // Only a queued image can be imported this way.
    assert_eq!(import(&h, &id, &url("/img")).await, 409);

    // Refused before anything is fetched: 400, the image stays queued.
    let id = h.create("p", create("qcow2")).await;
    for bad in [
        format!("http://127.0.0.1:{elsewhere}/img"),
        "file:///etc/passwd".into(),
        format!("ftp://127.0.0.1:{port}/img"),
        format!("http://user:secret@127.0.0.1:{port}/img"),
        // Not in allowed_hosts, though the same address.
        format!("http://localhost:{port}/img"),
        format!("http://127.0.0.2:{port}/img"),
        "not a url".into(),
    ] {
        assert_eq!(import(&h, &id, &bad).await, 400, "{bad}");
        assert_eq!(h.status_of(&id).await, "queued");
    }
    let r = h
        .json(
            "POST",
            &format!("/v2/images/{id}/import"),
            "p",
            json!({"method": {"name": "web-download"}}),
        )
        .await;
    assert_eq!(r.status, 400, "no uri");
    assert_eq!(
        import(&h, &h.create("p", json!({})).await, &url("/img")).await,
        409,
        "no disk_format"
    );

    // Refused while fetching: back to queued, nothing stored.
    let mut stored_before = h.stored_files();
    for (path, disk) in [
        ("/away", "qcow2"),    // a redirect that does not pass filtering
        ("/missing", "qcow2"), // 404
        ("/big", "raw"),       // over image_size_cap
        ("/img", "raw"),       // qcow2 data declared raw
    ] {
        let id = h.create("p", create(disk)).await;
        assert_eq!(import(&h, &id, &url(path)).await, 202, "{path}");
        assert_eq!(settled(&h, &id).await, "queued", "{path}");
        let image = h.admin_show(&id).await;
        assert!(image["checksum"].is_null(), "{path}: {image}");
        assert_eq!(h.stored_files(), stored_before, "{path}");
        // A failed import can be retried.
        if path == "/missing" {
            assert_eq!(import(&h, &id, &url("/img")).await, 202);
            assert_eq!(settled(&h, &id).await, "active");
            stored_before = h.stored_files();
        }
    }
}

#[tokio::test]
async fn web_download_never_reaches_internal_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let qcow2 = qemu_img_create(dir.path(), "qcow2", &[], "16M");
    let port = source(qcow2, 1).await;
    // Glance's defaults apart from the port: no host list at all.
    let h = harness_with(false, |c| c.import_filtering.allowed_ports = vec![port, 80])
        .await
        .unwrap();
    let id = h
        .create(
            "p",
            json!({"disk_format": "qcow2", "container_format": "bare"}),
        )
        .await;
    for bad in [
        format!("http://127.0.0.1:{port}/img"),
        format!("http://127.1:{port}/img"),
        format!("http://2130706433:{port}/img"),
        format!("http://[::1]:{port}/img"),
        format!("http://[::ffff:127.0.0.1]:{port}/img"),
        format!("http://0.0.0.0:{port}/img"),
        // A name is checked on the addresses it resolves to.
        format!("http://localhost:{port}/img"),
        format!("http://LocalHost.:{port}/img"),
        // The metadata service of a cloud this one runs in.
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://[fe80::1]/a".into(),
    ] {
        assert_eq!(import(&h, &id, &bad).await, 400, "{bad}");
        assert_eq!(h.status_of(&id).await, "queued", "{bad}");
    }
    assert!(h.stored_files().is_empty());
}
