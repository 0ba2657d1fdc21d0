//! Upload-side cases of `security-cases.md`: hostile or mislabelled data is
//! refused with 415 and a reason, the image stays `queued`, nothing is
//! stored; limits give 413; interrupted uploads leave nothing.

use std::path::Path;

use axum::body::{Body, Bytes};
use serde_json::json;

use crate::support::{Harness, harness, harness_with, qemu_img_create, run};

/// Uploads `data` declared as `disk_format` and checks the refusal.
async fn refused(h: &Harness, data: Vec<u8>, disk_format: &str, status: u16, why: &str) {
    let before = h.stored_files();
    let id = h
        .create(
            "p",
            json!({"disk_format": disk_format, "container_format": "bare"}),
        )
        .await;
    let r = h.upload(&id, "p", data).await;
    assert_eq!(r.status, status, "{why}: {:?}", r.body);
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(message.len() > 10, "{why}: a reason is given: {message}");
    // The guard resets the status from a spawned task.
    let mut st = String::new();
    for _ in 0..100 {
        st = h.status_of(&id).await;
        if st == "queued" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(st, "queued", "{why}");
    let doc = h.admin_show(&id).await;
    assert!(
        doc["checksum"].is_null() && doc["size"].is_null(),
        "{why}: no checksum"
    );
    assert_eq!(h.stored_files(), before, "{why}: nothing stored");
}

async fn accepted(h: &Harness, data: Vec<u8>, disk_format: &str, why: &str) {
    let id = h
        .create(
            "p",
            json!({"disk_format": disk_format, "container_format": "bare"}),
        )
        .await;
    let r = h.upload(&id, "p", data).await;
    assert_eq!(r.status, 204, "{why}: {:?}", r.body);
    assert_eq!(h.status_of(&id).await, "active", "{why}");
}

fn set_incompatible(data: &mut [u8], bit: u32) {
    let mut v = u64::from_be_bytes(data[72..80].try_into().unwrap());
    v |= 1 << bit;
    data[72..80].copy_from_slice(&v.to_be_bytes());
}

fn clear_incompatible(data: &mut [u8], bit: u32) {
    let mut v = u64::from_be_bytes(data[72..80].try_into().unwrap());
    v &= !(1 << bit);
    data[72..80].copy_from_slice(&v.to_be_bytes());
}

fn qcow2(dir: &Path, opts: &[&str]) -> Vec<u8> {
    qemu_img_create(dir, "qcow2", opts, "16M")
}

#[tokio::test]
async fn qcow2_header_cases() {
    let h = harness().await;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // 1. Backing file.
    refused(
        &h,
        qcow2(dir, &["-u", "-b", "/etc/hostname", "-F", "raw"]),
        "qcow2",
        415,
        "backing file",
    )
    .await;
    // 2. External data file, and the extension without the bit.
    let data_file = dir.join("data.raw");
    let opt = format!("data_file={}", data_file.display());
    let with_data = qcow2(dir, &["-o", &opt]);
    refused(&h, with_data.clone(), "qcow2", 415, "data_file").await;
    let mut no_bit = with_data;
    clear_incompatible(&mut no_bit, 2);
    refused(
        &h,
        no_bit,
        "qcow2",
        415,
        "data-file extension without the bit",
    )
    .await;
    // 3. Unknown incompatible bit, corrupt bit; dirty and zstd are fine.
    let mut unknown = qcow2(dir, &[]);
    set_incompatible(&mut unknown, 4);
    refused(&h, unknown, "qcow2", 415, "incompatible bit 4").await;
    let mut corrupt = qcow2(dir, &[]);
    set_incompatible(&mut corrupt, 1);
    refused(&h, corrupt, "qcow2", 415, "corrupt bit").await;
    let mut dirty = qcow2(dir, &[]);
    set_incompatible(&mut dirty, 0);
    accepted(&h, dirty, "qcow2", "dirty bit").await;
    accepted(
        &h,
        qcow2(dir, &["-o", "compression_type=zstd"]),
        "qcow2",
        "zstd",
    )
    .await;
    // 4. Versions 1 and 4.
    for version in [1u32, 4] {
        let mut v = qcow2(dir, &[]);
        v[4..8].copy_from_slice(&version.to_be_bytes());
        refused(&h, v, "qcow2", 415, &format!("version {version}")).await;
    }
    // 5. A bare 100-byte header.
    let mut short = qcow2(dir, &[]);
    short.truncate(100);
    refused(&h, short, "qcow2", 415, "100-byte header").await;
    // 17. Zeros declared qcow2.
    refused(&h, vec![0u8; 1 << 20], "qcow2", 415, "zeros declared qcow2").await;
    // 30. A tiny qcow2 claiming 1 TiB.
    refused(
        &h,
        qemu_img_create(dir, "qcow2", &[], "1T"),
        "qcow2",
        415,
        "1 TiB virtual size",
    )
    .await;
}

#[tokio::test]
async fn mislabelled_and_foreign_formats() {
    let h = harness().await;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    // 7. A safe qcow2 declared raw; raw ext4 with a qcow2+backing header in
    // its boot block.
    refused(&h, qcow2(dir, &[]), "raw", 415, "qcow2 declared raw").await;
    let fs = dir.join("fs.ext4");
    run("truncate", &["-s", "8M", fs.to_str().unwrap()]);
    run("mkfs.ext4", &["-q", "-F", fs.to_str().unwrap()]);
    let mut ext4 = std::fs::read(&fs).unwrap();
    accepted(&h, ext4.clone(), "raw", "bare ext4 is raw").await;
    let header = qcow2(dir, &["-u", "-b", "/etc/shadow", "-F", "raw"]);
    ext4[..1024].copy_from_slice(&header[..1024]);
    refused(
        &h,
        ext4,
        "raw",
        415,
        "ext4 with a qcow2 header in the boot block",
    )
    .await;
    // 9. Text VMDK with a flat extent pointing at a host file.
    let vmdk = "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n\
                createType=\"monolithicFlat\"\n\n# Extent description\nRW 2048 FLAT \"/etc/shadow\" 0\n\n\
                # The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = \"4\"\n";
    let mut text = vmdk.as_bytes().to_vec();
    text.resize(4096, 0);
    refused(&h, text, "vmdk", 415, "flat VMDK extent /etc/shadow").await;
    // 15. QED.
    let r = h
        .json("POST", "/v2/images", "p", json!({"disk_format": "qed"}))
        .await;
    assert_eq!(r.status, 400, "qed is not a Glance disk_format");
    refused(
        &h,
        qemu_img_create(dir, "qed", &[], "16M"),
        "raw",
        415,
        "QED declared raw",
    )
    .await;
    refused(
        &h,
        qemu_img_create(dir, "qed", &[], "16M"),
        "qcow2",
        415,
        "QED declared qcow2",
    )
    .await;
    // Kernels and ramdisks are raw data.
    accepted(&h, vec![0x5a; 10_000], "aki", "kernel").await;
    accepted(&h, vec![0x5a; 10_000], "ari", "ramdisk").await;
}

#[tokio::test]
async fn size_cap_quota_and_state() {
    let h = harness_with(false, |c| {
        c.image_size_cap = 100_000;
        c.user_storage_quota = 150_000;
    })
    .await
    .unwrap();
    // 20. Chunked (no length) over the cap: 413 once the cap is crossed.
    let id = h
        .create(
            "p",
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await;
    let chunks: Vec<Result<Bytes, std::io::Error>> = (0..20)
        .map(|_| Ok(Bytes::from(vec![1u8; 10_000])))
        .collect();
    let req = Harness::req("PUT", &format!("/v2/images/{id}/file"), "p")
        .header("content-type", "application/octet-stream");
    let r = h
        .send(req, Body::from_stream(futures::stream::iter(chunks)))
        .await;
    assert_eq!(r.status, 413, "{:?}", r.body);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(h.status_of(&id).await, "queued");
    assert!(h.admin_show(&id).await["checksum"].is_null());
    assert!(h.stored_files().is_empty());
    // Announced over the cap: refused before reading.
    let r = h.upload(&id, "p", vec![1u8; 100_001]).await;
    assert_eq!(r.status, 413);
    // Quota: 90 kB fits, another 90 kB does not.
    assert_eq!(h.upload(&id, "p", vec![1u8; 90_000]).await.status, 204);
    let id2 = h
        .create(
            "p",
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await;
    let r = h.upload(&id2, "p", vec![1u8; 90_000]).await;
    assert_eq!(r.status, 413);
    assert!(r.json()["message"].as_str().unwrap().contains("quota"));
    // Another project has its own quota.
    let id3 = h
        .create(
            "q",
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await;
    assert_eq!(h.upload(&id3, "q", vec![1u8; 90_000]).await.status, 204);
    // 22. Upload to an active image.
    assert_eq!(h.upload(&id, "p", vec![1u8; 10]).await.status, 409);
    // No formats yet: 400; wrong content type: 415.
    let bare = h.create("p", json!({})).await;
    assert_eq!(h.upload(&bare, "p", vec![1u8; 10]).await.status, 400);
    let req = Harness::req("PUT", &format!("/v2/images/{id2}/file"), "p")
        .header("content-type", "text/plain");
    assert_eq!(h.send(req, Body::from("x")).await.status, 415);
}

#[tokio::test]
async fn interrupted_uploads_leave_nothing() {
    let h = harness().await;
    let id = h
        .create(
            "p",
            json!({"disk_format": "raw", "container_format": "bare"}),
        )
        .await;
    // 21. The client goes away after 1 MiB.
    let mut chunks: Vec<Result<Bytes, std::io::Error>> = (0..16)
        .map(|_| Ok(Bytes::from(vec![3u8; 65_536])))
        .collect();
    chunks.push(Err(std::io::Error::new(
        std::io::ErrorKind::ConnectionReset,
        "client went away",
    )));
    let req = Harness::req("PUT", &format!("/v2/images/{id}/file"), "p")
        .header("content-type", "application/octet-stream");
    let r = h
        .send(req, Body::from_stream(futures::stream::iter(chunks)))
        .await;
    assert_eq!(r.status, 400);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(h.status_of(&id).await, "queued");
    assert!(h.stored_files().is_empty(), "{:?}", h.stored_files());
    // Fewer bytes than announced.
    let req = Harness::req("PUT", &format!("/v2/images/{id}/file"), "p")
        .header("content-type", "application/octet-stream")
        .header("content-length", "5000");
    let r = h.send(req, Body::from(vec![3u8; 4000])).await;
    assert!(r.status == 400, "{:?}", r.status);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(h.status_of(&id).await, "queued");
    assert!(h.stored_files().is_empty());
    // A retry succeeds.
    assert_eq!(h.upload(&id, "p", vec![3u8; 70_000]).await.status, 204);
    assert_eq!(h.status_of(&id).await, "active");
}
