//! Volumes for the compute side: the disk a Cinder-style `connection_info`
//! describes, hot-plugged into a running guest over QMP and unplugged again,
//! or put on the command line of a guest that starts with it attached.
//!
//! `driver_volume_type` `local` is a file (`data.device_path`, `data.format`);
//! `iscsi` is a LUN QEMU opens with its built-in initiator (`target_portal`,
//! `target_iqn`, `target_lun`, CHAP `auth_username` / `auth_password`). The
//! guest sees a virtio-blk disk whose serial is the volume id, as nova sets it.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cmdline::{Disk, DiskBus, ImageFormat, ImageNode, Secret, secret_id};
use crate::{Error, Qmp, Result};

fn field<'a>(data: &'a Value, key: &str) -> Result<&'a str> {
    data.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::ConnectionInfo(format!("data.{key} is missing")))
}

/// The image node `connection_info` describes. CHAP passwords are kept as
/// [`Secret::Data`] (for QMP); see [`write_secret_file`] for the command line.
pub fn volume_node(connection_info: &Value) -> Result<ImageNode> {
    let kind = connection_info
        .get("driver_volume_type")
        .and_then(Value::as_str)
        .unwrap_or("");
    let data = connection_info
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| Error::ConnectionInfo("no data object".into()))?;
    match kind {
        "local" => {
            let path = field(data, "device_path")?;
            if !Path::new(path).is_absolute() {
                return Err(Error::ConnectionInfo(format!(
                    "device_path {path} is not absolute"
                )));
            }
            let format = match data.get("format").and_then(Value::as_str).unwrap_or("raw") {
                "raw" => ImageFormat::Raw,
                "qcow2" => ImageFormat::Qcow2,
                other => return Err(Error::ConnectionInfo(format!("format {other}"))),
            };
            Ok(ImageNode::file(path, format))
        }
        "iscsi" => {
            let lun = data
                .get("target_lun")
                .and_then(Value::as_u64)
                .ok_or_else(|| Error::ConnectionInfo("data.target_lun is missing".into()))?;
            let (user, password) = match data.get("auth_method").and_then(Value::as_str) {
                Some(method) if method.eq_ignore_ascii_case("CHAP") => (
                    Some(field(data, "auth_username")?.to_string()),
                    Some(Secret::Data(field(data, "auth_password")?.to_string())),
                ),
                None | Some("") => (None, None),
                Some(other) => return Err(Error::ConnectionInfo(format!("auth_method {other}"))),
            };
            Ok(ImageNode::Iscsi {
                portal: field(data, "target_portal")?.to_string(),
                target: field(data, "target_iqn")?.to_string(),
                lun,
                user,
                password,
                initiator_name: data
                    .get("initiator_name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            })
        }
        other => Err(Error::ConnectionInfo(format!(
            "driver_volume_type {other:?} is not supported"
        ))),
    }
}

/// The guest disk for a volume: device `id` (unique in the guest, e.g.
/// `volume-<uuid>`), serial `volume_id`, read-only if the attachment is.
pub fn volume_disk(id: &str, volume_id: &str, connection_info: &Value) -> Result<Disk> {
    let read_only = connection_info
        .get("data")
        .and_then(|d| d.get("access_mode"))
        .and_then(Value::as_str)
        == Some("ro");
    Ok(Disk {
        id: id.to_string(),
        image: volume_node(connection_info)?,
        bus: DiskBus::Virtio,
        read_only,
        // virtio-blk serials are at most 20 bytes: QEMU truncates, as nova's
        // guests see it.
        serial: Some(volume_id.to_string()),
    })
}

/// For the command line: moves an in-memory CHAP password of `disk` into a
/// new file `dir/<id>.secret` (mode 0600) so it never shows in `ps`.
pub fn write_secret_file(disk: &mut Disk, dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let ImageNode::Iscsi {
        password: Some(secret @ Secret::Data(_)),
        ..
    } = &mut disk.image
    {
        let Secret::Data(data) = &*secret else {
            return Ok(());
        };
        let path = dir.join(format!("{}.secret", disk.id));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(data.as_bytes())?;
        *secret = Secret::File(path);
    }
    Ok(())
}

/// Hot-plugs `disk` into the running guest: its secret, its block nodes,
/// then the device. If a step fails, the steps before it are undone.
pub async fn disk_attach(qmp: &Qmp, disk: &Disk, timeout: Duration) -> Result<()> {
    let objects = disk.image.secret_objects(&disk.id);
    let nodes = disk.image.blockdev_args(&disk.id, disk.read_only);
    let mut added_objects = Vec::new();
    let mut added_nodes = Vec::new();
    let result = async {
        for object in objects {
            let id = object["id"].clone();
            qmp.execute_timeout("object-add", object, timeout).await?;
            added_objects.push(id);
        }
        for node in nodes {
            let name = node["node-name"].clone();
            qmp.execute_timeout("blockdev-add", node, timeout).await?;
            added_nodes.push(name);
        }
        qmp.execute_timeout("device_add", disk.device_args(), timeout)
            .await
            .map(|_| ())
    }
    .await;
    if result.is_err() {
        for name in added_nodes.iter().rev() {
            let _ = qmp
                .execute_timeout("blockdev-del", json!({"node-name": name}), timeout)
                .await;
        }
        for id in added_objects.iter().rev() {
            let _ = qmp
                .execute_timeout("object-del", json!({"id": id}), timeout)
                .await;
        }
    }
    result
}

/// Unplugs `disk`: `device_del`, then waits for the guest to let go
/// (`DEVICE_DELETED`), then removes its block nodes and secret.
pub async fn disk_detach(qmp: &Qmp, disk: &Disk, timeout: Duration) -> Result<()> {
    disk_unplug(qmp, &disk.id, 1, timeout).await?;
    disk_release(qmp, disk, timeout).await
}

/// Asks the guest to release device `id` up to `attempts` times, waiting
/// `timeout` for `DEVICE_DELETED` after each request, as nova's libvirt
/// driver retries its detach. The retry matters: an unplug requested
/// before the guest's ACPI is up is lost (Linux clears the pending GPE
/// bits while it boots), and QEMU accepts a new `device_del` for the same
/// device once the first one has been delivered. A device that is already
/// gone counts as released.
pub async fn disk_unplug(qmp: &Qmp, id: &str, attempts: u32, timeout: Duration) -> Result<()> {
    let mut last = Error::Timeout("event DEVICE_DELETED".into());
    for attempt in 1..=attempts.max(1) {
        let wanted = id.to_owned();
        match qmp
            .execute_and_wait(
                "device_del",
                json!({"id": id}),
                "DEVICE_DELETED",
                move |d| d.get("device").and_then(Value::as_str) == Some(wanted.as_str()),
                timeout,
            )
            .await
        {
            Ok(_) => return Ok(()),
            // The event came between two attempts, or an earlier detach
            // got this far: the device is gone.
            Err(Error::Command { class, .. }) if class == "DeviceNotFound" => return Ok(()),
            Err(e @ (Error::Timeout(_) | Error::Command { .. })) if attempt < attempts => {
                tracing::debug!(device = %id, attempt, error = %e, "unplug not acknowledged yet, asking again");
                last = e;
            }
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Removes the block nodes and secret of an unplugged `disk`.
pub async fn disk_release(qmp: &Qmp, disk: &Disk, timeout: Duration) -> Result<()> {
    let nodes = disk.image.blockdev_args(&disk.id, disk.read_only);
    // Top node first: it holds the nodes under it.
    for node in nodes.iter().rev() {
        qmp.execute_timeout(
            "blockdev-del",
            json!({"node-name": node["node-name"]}),
            timeout,
        )
        .await?;
    }
    if !disk.image.secret_objects(&disk.id).is_empty() {
        qmp.execute_timeout("object-del", json!({"id": secret_id(&disk.id)}), timeout)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A QMP peer whose guest ignores the first `ignored` unplug requests
    /// (as a booting guest does), then releases the device; a `device_del`
    /// for a device already gone is DeviceNotFound, as QEMU answers.
    async fn guest_that_ignores(listener: tokio::net::UnixListener, ignored: usize) {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        write
            .write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n")
            .await
            .unwrap();
        let mut lines = BufReader::new(read).lines();
        let mut asked = 0;
        let mut gone = false;
        while let Some(line) = lines.next_line().await.unwrap() {
            let msg: Value = serde_json::from_str(&line).unwrap();
            let id = msg["id"].clone();
            let mut reply = json!({"return": {}, "id": id});
            if msg["execute"] == "device_del" {
                asked += 1;
                if gone {
                    reply = json!({"error": {"class": "DeviceNotFound", "desc": "gone"}, "id": id});
                } else if asked > ignored {
                    gone = true;
                    write
                        .write_all(
                            b"{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"vol-1\"}}\n",
                        )
                        .await
                        .unwrap();
                }
            }
            write
                .write_all(format!("{reply}\n").as_bytes())
                .await
                .unwrap();
        }
    }

    async fn connected(ignored: usize) -> (tempfile::TempDir, Qmp) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(guest_that_ignores(listener, ignored));
        let qmp = Qmp::connect(&path, Duration::from_secs(5)).await.unwrap();
        (dir, qmp)
    }

    #[tokio::test]
    async fn unplug_asks_again_until_the_guest_lets_go() {
        let wait = Duration::from_millis(200);
        // The first two requests are lost: the third attempt succeeds.
        let (_dir, qmp) = connected(2).await;
        disk_unplug(&qmp, "vol-1", 3, wait).await.unwrap();
        // Asking once more finds the device gone, which counts as released.
        disk_unplug(&qmp, "vol-1", 1, wait).await.unwrap();
        // Too few attempts: the timeout is the error.
        let (_dir, qmp) = connected(2).await;
        assert!(matches!(
            disk_unplug(&qmp, "vol-1", 2, wait).await,
            Err(Error::Timeout(_))
        ));
    }

    #[test]
    fn connection_info_becomes_a_node() {
        let local = json!({"driver_volume_type": "local", "data": {"device_path": "/v/volume-1", "format": "raw"}});
        assert_eq!(
            volume_node(&local).unwrap(),
            ImageNode::file("/v/volume-1", ImageFormat::Raw)
        );
        let iscsi = json!({"driver_volume_type": "iscsi", "data": {
            "target_portal": "127.0.0.1:3260", "target_iqn": "iqn.x:v", "target_lun": 1,
            "auth_method": "CHAP", "auth_username": "u", "auth_password": "p", "access_mode": "ro"}});
        let disk = volume_disk("volume-1", "1111", &iscsi).unwrap();
        assert!(disk.read_only);
        assert_eq!(disk.device_args()["serial"], "1111");
        match &disk.image {
            ImageNode::Iscsi {
                lun,
                user,
                password,
                ..
            } => {
                assert_eq!(*lun, 1);
                assert_eq!(user.as_deref(), Some("u"));
                assert_eq!(password, &Some(Secret::Data("p".into())));
            }
            other => panic!("{other:?}"),
        }
        for bad in [
            json!({"driver_volume_type": "nfs", "data": {}}),
            json!({"driver_volume_type": "local", "data": {"device_path": "relative"}}),
            json!({"driver_volume_type": "local"}),
            json!({"driver_volume_type": "iscsi", "data": {"target_portal": "p", "target_iqn": "i", "target_lun": 1, "auth_method": "CHAP"}}),
        ] {
            assert!(volume_node(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let iscsi = json!({"driver_volume_type": "iscsi", "data": {
            "target_portal": "127.0.0.1:3260", "target_iqn": "iqn.x:v", "target_lun": 1,
            "auth_method": "CHAP", "auth_username": "u", "auth_password": "pw"}});
        let mut disk = volume_disk("vol", "1", &iscsi).unwrap();
        write_secret_file(&mut disk, dir.path()).unwrap();
        let path = dir.path().join("vol.secret");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "pw");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            disk.image.secret_objects("vol")[0]["file"],
            path.to_str().unwrap()
        );
    }
}
