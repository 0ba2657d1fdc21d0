//! The S3 store against a real S3-compatible server (moto) started on
//! 127.0.0.1 by the test and stopped after it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::body::Body;
use nimbus_image::backend::s3::S3Config;
use serde_json::json;

use crate::support::{Harness, harness_with, qemu_img_create};

/// A moto server, killed on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_bin() -> PathBuf {
    let venv = std::env::var("NIMBUS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv"));
    venv.join("bin/moto_server")
}

async fn start_moto() -> Moto {
    // reqwest is built without a default TLS provider (see backend/s3.rs).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = moto_bin();
    let child = Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{} is required (scripts/lib/deps.sh installs it): {e}",
                bin.display()
            )
        });
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if client.get(&moto.url).send().await.is_ok() {
            // moto does not check signatures: a plain PUT makes the bucket.
            let r = client
                .put(format!("{}/images-bucket", moto.url))
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "create bucket: {}", r.status());
            return moto;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("moto_server did not start on port {port}");
}

async fn bucket_keys(moto: &Moto) -> Vec<String> {
    let text = reqwest::get(format!("{}/images-bucket", moto.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.split("<Key>")
        .skip(1)
        .filter_map(|s| s.split("</Key>").next())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn s3_store_round_trip_and_refusals() {
    let moto = start_moto().await;
    let url = moto.url.clone();
    let h = harness_with(false, move |c| {
        c.s3 = Some(S3Config {
            endpoint: Some(url),
            bucket: "images-bucket".into(),
            region: "us-east-1".into(),
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
        });
        c.default_backend = "s3".into();
    })
    .await
    .unwrap();
    // Larger than one multipart part, so the multipart path runs.
    let mut data = qemu_img_create(h.dir.path(), "qcow2", &[], "64M");
    let extra: Vec<u8> = (0..(20u32 << 20)).map(|i| (i % 253) as u8).collect();
    let raw_id = h
        .create(
            "p",
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await;
    assert_eq!(h.upload(&raw_id, "p", extra.clone()).await.status, 204);
    let got = h.get(&format!("/v2/images/{raw_id}/file"), "p").await;
    assert_eq!(got.body.len(), extra.len());
    assert!(got.body.as_ref() == extra.as_slice());
    let id = h
        .create(
            "p",
            json!({"disk_format": "qcow2", "container_format": "bare"}),
        )
        .await;
    assert_eq!(h.upload(&id, "p", data.clone()).await.status, 204);
    let doc = h.admin_show(&id).await;
    assert_eq!(doc["stores"], "s3");
    assert_eq!(doc["direct_url"], format!("s3://images-bucket/images/{id}"));
    assert_eq!(
        h.get(&format!("/v2/images/{id}/file"), "p")
            .await
            .body
            .as_ref(),
        data.as_slice()
    );
    let req =
        Harness::req("GET", &format!("/v2/images/{id}/file"), "p").header("range", "bytes=100-199");
    assert_eq!(
        h.send(req, Body::empty()).await.body.as_ref(),
        &data[100..200]
    );
    let mut keys = bucket_keys(&moto).await;
    keys.sort();
    let mut want = vec![format!("images/{id}"), format!("images/{raw_id}")];
    want.sort();
    assert_eq!(keys, want);
    // A refused upload puts nothing in the bucket.
    data[4..8].copy_from_slice(&1u32.to_be_bytes());
    let bad = h
        .create(
            "p",
            json!({"disk_format": "qcow2", "container_format": "bare"}),
        )
        .await;
    assert_eq!(h.upload(&bad, "p", data).await.status, 415);
    assert_eq!(bucket_keys(&moto).await.len(), 2);
    // The file store is still there for those who ask for it.
    let local = h
        .create(
            "p",
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await;
    let req = Harness::req("PUT", &format!("/v2/images/{local}/file"), "p")
        .header("content-type", "application/octet-stream")
        .header("x-image-meta-store", "file");
    assert_eq!(h.send(req, Body::from(vec![9u8; 1000])).await.status, 204);
    assert_eq!(h.admin_show(&local).await["stores"], "file");
    // Deleting an image deletes its object.
    for image in [&id, &raw_id] {
        let del = Harness::req("DELETE", &format!("/v2/images/{image}"), "p");
        assert_eq!(h.send(del, Body::empty()).await.status, 204);
    }
    assert!(bucket_keys(&moto).await.is_empty());
}
