//! The volume service through the real `openstack` CLI (and raw HTTP for
//! the attachments API, which the compute side normally drives), on SQLite
//! and PostgreSQL, with the local backend and with iSCSI through tgtd.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::Backend;
use crate::support::{Cloud, failed};

const INSTANCE: &str = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f";

fn wait_status(cloud: &Cloud, what: &[&str], name: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut args = what.to_vec();
        args.extend(["show", name]);
        let doc = cloud.openstack_json(&args);
        if doc["status"] == want {
            return doc;
        }
        assert!(
            doc["status"] != "error" && Instant::now() < deadline,
            "{what:?} {name} is {} (waiting for {want})",
            doc["status"]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn volume_file(cloud: &Cloud, id: &str) -> PathBuf {
    cloud
        .data_dir()
        .join("volumes")
        .join(format!("volume-{id}"))
}

fn write_at(path: &Path, offset: u64, data: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(data).unwrap();
}

fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0; len];
    f.read_exact(&mut buf).unwrap();
    buf
}

/// A raw call to the volume API as admin at microversion 3.70.
fn call(cloud: &Cloud, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let token = cloud.token(&cloud.admin());
    let project = cloud.openstack_json(&["token", "issue"])["project_id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = cloud.url(&format!("/volume/v3/{project}{path}"));
    let client = cloud.http();
    let mut req = match method {
        "POST" => client.post(url),
        "PUT" => client.put(url),
        "DELETE" => client.delete(url),
        _ => client.get(url),
    }
    .header("x-auth-token", token)
    .header("openstack-api-version", "volume 3.70");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn connector() -> Value {
    json!({"host": "e2e-host", "initiator": "iqn.1993-08.org.debian:01:e2e", "ip": "127.0.0.1", "platform": "x86_64", "os_type": "linux", "multipath": false, "mountpoint": "/dev/vdb"})
}

/// The acceptance flow of the volume service through the CLI.
fn volume_cli(backend: Backend) {
    let Some(cloud) = Cloud::start(backend) else {
        return;
    };
    let created = cloud.openstack_json(&["volume", "create", "--size", "1", "v1"]);
    assert_eq!(created["size"], 1);
    let v = wait_status(&cloud, &["volume"], "v1", "available");
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(v["type"], "__DEFAULT__", "{v}");
    assert_eq!(v["bootable"], false);
    let file = volume_file(&cloud, &id);
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 1 << 30);

    let list = cloud.openstack_json(&["volume", "list", "--long"]);
    let row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ID"] == id.as_str())
        .expect("listed");
    assert_eq!(row["Name"], "v1");
    assert_eq!(row["Status"], "available");
    assert_eq!(row["Size"], 1);

    // set: name, property, bootable; extend.
    cloud.openstack_ok(&[
        "volume",
        "set",
        "--name",
        "v1b",
        "--property",
        "k=v",
        "--bootable",
        "v1",
    ]);
    let v = cloud.openstack_json(&["volume", "show", "v1b"]);
    assert_eq!(v["properties"]["k"], "v", "{v}");
    assert_eq!(v["bootable"], true);
    cloud.openstack_ok(&["volume", "set", "--size", "2", "v1b"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while cloud.openstack_json(&["volume", "show", "v1b"])["size"] != 2 {
        assert!(Instant::now() < deadline, "extend never finished");
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_status(&cloud, &["volume"], "v1b", "available");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 2 << 30);

    // Snapshot, then a volume from it keeps the data.
    write_at(&file, 3 << 20, b"kept-by-the-snapshot");
    cloud.openstack_ok(&["volume", "snapshot", "create", "--volume", "v1b", "s1"]);
    wait_status(&cloud, &["volume", "snapshot"], "s1", "available");
    write_at(&file, 3 << 20, b"changed-afterwards!!");
    let snap_id = cloud.openstack_json(&["volume", "snapshot", "show", "s1"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    cloud.openstack_ok(&[
        "volume",
        "create",
        "--snapshot",
        &snap_id,
        "--size",
        "3",
        "v2",
    ]);
    let v2 = wait_status(&cloud, &["volume"], "v2", "available");
    let v2_file = volume_file(&cloud, v2["id"].as_str().unwrap());
    assert_eq!(read_at(&v2_file, 3 << 20, 20), b"kept-by-the-snapshot");
    assert_eq!(std::fs::metadata(&v2_file).unwrap().len(), 3 << 30);

    // Types and quotas.
    let types = cloud.openstack_json(&["volume", "type", "list"]);
    assert!(
        types
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["Name"] == "__DEFAULT__"),
        "{types}"
    );
    let quota = cloud.openstack_json(&["quota", "show", "--volume"]);
    let text = quota.to_string();
    assert!(
        text.contains("volumes") && text.contains("gigabytes"),
        "{text}"
    );
    cloud.openstack_ok(&["quota", "set", "--volumes", "3", "admin"]);
    let out = cloud.openstack(&["volume", "create", "--size", "1", "v3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = failed(
        cloud.openstack(&["volume", "create", "--size", "1", "v4"]),
        &["volume", "create"],
    );
    assert!(
        err.contains("VolumeLimitExceeded") || err.contains("413"),
        "{err}"
    );

    // An in-use volume cannot be deleted (attach through the attachments API).
    let (status, body) = call(
        &cloud,
        "POST",
        "/attachments",
        Some(
            json!({"attachment": {"volume_uuid": id, "instance_uuid": INSTANCE, "connector": connector()}}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    let att = body["attachment"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        body["attachment"]["connection_info"]["data"]["device_path"],
        file.to_str().unwrap()
    );
    let (status, _) = call(
        &cloud,
        "POST",
        &format!("/attachments/{att}/action"),
        Some(json!({"os-complete": null})),
    );
    assert_eq!(status, 204);
    let v = cloud.openstack_json(&["volume", "show", "v1b"]);
    assert_eq!(v["status"], "in-use");
    let err = failed(
        cloud.openstack(&["volume", "delete", "v1b"]),
        &["volume", "delete"],
    );
    assert!(err.contains("Volume status must be available"), "{err}");
    let (status, _) = call(
        &cloud,
        "POST",
        "/attachments",
        Some(json!({"attachment": {"volume_uuid": id, "instance_uuid": INSTANCE}})),
    );
    assert_eq!(status, 400, "attaching an attached volume again");
    let (status, _) = call(&cloud, "DELETE", &format!("/attachments/{att}"), None);
    assert_eq!(status, 200);
    wait_status(&cloud, &["volume"], "v1b", "available");

    // Delete: snapshot first, then the volumes; their files go.
    cloud.openstack_ok(&["volume", "snapshot", "delete", "s1"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while cloud
        .openstack(&["volume", "snapshot", "show", "s1"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(200));
    }
    cloud.openstack_ok(&["volume", "delete", "v1b", "v2", "v3"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while file.exists() || v2_file.exists() {
        assert!(Instant::now() < deadline, "volume files left behind");
        std::thread::sleep(Duration::from_millis(200));
    }
    let err = failed(
        cloud.openstack(&["volume", "show", "v1b"]),
        &["volume", "show"],
    );
    assert!(
        err.contains("No volume") || err.contains("No Volume"),
        "{err}"
    );
}
on_both_backends!(volume_cli);

/// `volume create --image` writes the image's guest-visible bytes.
fn volume_from_image(backend: Backend) {
    let Some(cloud) = Cloud::start(backend) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let img = work.path().join("img.qcow2");
    let p = img.to_str().unwrap();
    for args in [
        vec!["qemu-img", "create", "-q", "-f", "qcow2", p, "64M"],
        vec!["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 2M 64k", p],
    ] {
        let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(out.status.success(), "{args:?}");
    }
    cloud.openstack_ok(&[
        "image",
        "create",
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--file",
        p,
        "img",
    ]);
    cloud.openstack_ok(&[
        "volume",
        "create",
        "--image",
        "img",
        "--size",
        "2",
        "--bootable",
        "boot",
    ]);
    let v = wait_status(&cloud, &["volume"], "boot", "available");
    assert_eq!(v["bootable"], true);
    assert!(
        v["volume_image_metadata"].to_string().contains("img"),
        "{v}"
    );
    let file = volume_file(&cloud, v["id"].as_str().unwrap());
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 2 << 30);
    assert_eq!(read_at(&file, 2 << 20, 65536), vec![0x5a; 65536]);
    assert_eq!(
        read_at(&file, 0, 4096),
        vec![0; 4096],
        "raw bytes, not the qcow2 header"
    );
    // Too small for the image: refused.
    let out = cloud.openstack(&["volume", "create", "--image", "img", "--size", "0", "tiny"]);
    assert!(!out.status.success());
}
on_both_backends!(volume_from_image);

/// The iSCSI backend: the attachment's connection info names a tgtd target
/// with CHAP credentials, and the target goes away on detach.
#[test]
fn volume_iscsi_backend() {
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("nimbus.toml");
    let prefix = format!("iqn.2010-10.org.nimbus.e2e-{}:", std::process::id());
    std::fs::write(
        &conf,
        format!("[backend_defaults]\nvolume_driver = \"iscsi\"\ntarget_prefix = \"{prefix}\"\n"),
    )
    .unwrap();
    let Some(cloud) = Cloud::start_with(Backend::Sqlite, &["--config", conf.to_str().unwrap()])
    else {
        return;
    };
    cloud.openstack_ok(&["volume", "create", "--size", "1", "vi"]);
    let v = wait_status(&cloud, &["volume"], "vi", "available");
    let id = v["id"].as_str().unwrap().to_string();
    let (status, body) = call(
        &cloud,
        "POST",
        "/attachments",
        Some(
            json!({"attachment": {"volume_uuid": id, "instance_uuid": INSTANCE, "connector": connector()}}),
        ),
    );
    assert_eq!(status, 200, "{body}");
    let info = &body["attachment"]["connection_info"];
    assert_eq!(info["driver_volume_type"], "iscsi");
    let iqn = format!("{prefix}volume-{id}");
    assert_eq!(info["data"]["target_iqn"], iqn.as_str());
    assert_eq!(info["data"]["auth_method"], "CHAP");
    let shown = |iqn: &str| {
        let out = Command::new("tgtadm")
            .args(["--lld", "iscsi", "--op", "show", "--mode", "target"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains(iqn)
    };
    assert!(shown(&iqn));
    let att = body["attachment"]["id"].as_str().unwrap().to_string();
    let (status, _) = call(&cloud, "DELETE", &format!("/attachments/{att}"), None);
    assert_eq!(status, 200);
    assert!(!shown(&iqn));
    cloud.openstack_ok(&["volume", "delete", "vi"]);
}

/// `openstack image create --volume` (Cinder's `os-volume_upload_image`):
/// the volume's bytes become an active image, raw or qcow2, the image gets
/// the volume's non-core image properties, and an in-use volume (attached
/// through the pre-3.27 `os-reserve`/`os-attach` actions) needs `--force`.
#[test]
fn volume_upload_to_image() {
    let Some(cloud) = Cloud::start(Backend::Sqlite) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    cloud.openstack_ok(&["volume", "create", "--size", "1", "up"]);
    let v = wait_status(&cloud, &["volume"], "up", "available");
    let id = v["id"].as_str().unwrap().to_string();
    write_at(&volume_file(&cloud, &id), 5 << 20, b"uploaded-marker");
    let action = format!("/volumes/{id}/action");
    let (status, body) = call(
        &cloud,
        "POST",
        &action,
        Some(
            json!({"os-set_image_metadata": {"metadata": {"kernel_id": "k-1", "image_name": "old"}}}),
        ),
    );
    assert_eq!(status, 200, "{body}");

    let started = Instant::now();
    let reply = cloud.openstack_json(&["image", "create", "--volume", "up", "up-raw"]);
    assert_eq!(reply["status"], "uploading", "{reply}");
    assert_eq!(reply["image_name"], "up-raw");
    assert_eq!(reply["visibility"], "private");
    let image = wait_status(&cloud, &["image"], "up-raw", "active");
    eprintln!("1 GiB volume uploaded as raw in {:?}", started.elapsed());
    assert_eq!(image["id"], reply["image_id"]);
    assert_eq!(image["disk_format"], "raw");
    assert_eq!(image["size"], 1u64 << 30);
    assert_eq!(image["properties"]["kernel_id"], "k-1", "{image}");
    assert!(
        image["properties"].get("image_name").is_none(),
        "core properties are not copied: {image}"
    );
    wait_status(&cloud, &["volume"], "up", "available");
    let raw = work.path().join("raw");
    cloud.openstack_ok(&["image", "save", "--file", raw.to_str().unwrap(), "up-raw"]);
    assert_eq!(std::fs::metadata(&raw).unwrap().len(), 1 << 30);
    assert_eq!(read_at(&raw, 5 << 20, 15), b"uploaded-marker");

    // In use (the legacy attach): refused without --force, uploaded with it.
    for body in [
        json!({"os-reserve": {}}),
        json!({"os-attach": {"instance_uuid": INSTANCE, "mountpoint": "/dev/vdb"}}),
    ] {
        let (status, reply) = call(&cloud, "POST", &action, Some(body));
        assert_eq!(status, 202, "{reply}");
    }
    let v = cloud.openstack_json(&["volume", "show", "up"]);
    assert_eq!(v["status"], "in-use", "{v}");
    let err = failed(
        cloud.openstack(&["image", "create", "--volume", "up", "up-q"]),
        &["image", "create"],
    );
    assert!(err.contains("in-use"), "{err}");
    cloud.openstack_json(&[
        "image",
        "create",
        "--volume",
        "up",
        "--disk-format",
        "qcow2",
        "--force",
        "up-q",
    ]);
    wait_status(&cloud, &["image"], "up-q", "active");
    wait_status(&cloud, &["volume"], "up", "in-use");
    let qcow2 = work.path().join("q.qcow2");
    cloud.openstack_ok(&["image", "save", "--file", qcow2.to_str().unwrap(), "up-q"]);
    assert!(
        std::fs::metadata(&qcow2).unwrap().len() < 16 << 20,
        "the zeros are not stored"
    );
    let back = work.path().join("back.raw");
    let out = Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "raw"])
        .args([&qcow2, &back])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(read_at(&back, 5 << 20, 15), b"uploaded-marker");
    let (status, reply) = call(&cloud, "POST", &action, Some(json!({"os-detach": {}})));
    assert_eq!(status, 202, "{reply}");
    wait_status(&cloud, &["volume"], "up", "available");
}
