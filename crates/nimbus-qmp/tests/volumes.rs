//! Volume hot-plug against a real guest: a local file and iSCSI LUNs served
//! by the real tgtd with CHAP, attached over QMP and at start (command
//! line), seen by the guest, detached; wrong CHAP credentials refused.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nimbus_qmp::{Accel, Disk, DiskBus, ImageFormat, ImageNode, Machine, Qmp};
use serde_json::{Value, json};

use super::{run, test_guest};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Starts tgtd on 127.0.0.1 unless one answers (as the volume service does).
fn ensure_tgtd() {
    let up = || {
        Command::new("tgtadm")
            .args(["--lld", "iscsi", "--op", "show", "--mode", "target"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if up() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let status = Command::new("tgtd")
        .args(["--iscsi", "portal=127.0.0.1:3260"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .status()
        .expect("tgtd (package tgt) is required");
    assert!(status.success());
    for _ in 0..100 {
        if up() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("tgtd did not start");
}

/// A target for `backing` with CHAP `user`/`password`, in Cinder's template;
/// removed on drop.
struct Target {
    iqn: String,
}

impl Target {
    fn new(dir: &Path, name: &str, backing: &Path, user: &str, password: &str) -> Target {
        ensure_tgtd();
        let iqn = format!(
            "iqn.2010-10.org.nimbus.qmp-test-{}:{name}",
            std::process::id()
        );
        let conf = dir.join(format!("{name}.conf"));
        std::fs::write(
            &conf,
            format!(
                "<target {iqn}>\n    backing-store {}\n    driver iscsi\n    incominguser {user} {password}\n    write-cache on\n</target>\n",
                backing.display()
            ),
        )
        .unwrap();
        run(Command::new("tgt-admin")
            .arg("--conf")
            .arg(&conf)
            .args(["--update", &iqn]));
        Target { iqn }
    }

    fn connection_info(&self, user: &str, password: &str) -> Value {
        json!({"driver_volume_type": "iscsi", "data": {
            "target_portal": "127.0.0.1:3260", "target_iqn": self.iqn, "target_lun": 1,
            "auth_method": "CHAP", "auth_username": user, "auth_password": password,
            "access_mode": "rw"}})
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = Command::new("tgt-admin")
            .args(["--force", "--delete", &self.iqn])
            .status();
    }
}

fn blank(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(8 << 20).unwrap();
    path
}

/// Waits until `needle` occurs at least `count` times on the console.
async fn wait_count(log: &Path, needle: &str, count: usize) {
    for _ in 0..900 {
        let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
        if text.matches(needle).count() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "console never showed {needle:?} {count} times:\n{}",
        String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default())
    );
}

fn marker_of(path: &Path) -> Vec<u8> {
    let data = std::fs::read(path).unwrap();
    data[..64].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_attach_at_start_hot_plug_and_detach() {
    let guest = test_guest();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    run(Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "raw"])
        .arg(guest.join("root.qcow2"))
        .arg(&base));
    let overlay = dir.path().join("disk");
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&base)
        .arg(&overlay));

    // Cold-attached at start: an iSCSI volume, its CHAP password in a file.
    let cold_file = blank(dir.path(), "cold.raw");
    std::fs::write(&cold_file, b"NIMBUS-MARKER:cold-volume").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&cold_file)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    let cold_target = Target::new(
        dir.path(),
        "cold",
        &cold_file,
        "colduser",
        "coldpassword1234",
    );
    let mut cold = nimbus_qmp::volume_disk(
        "volume-cold",
        "cold-volume-id",
        &cold_target.connection_info("colduser", "coldpassword1234"),
    )
    .unwrap();
    nimbus_qmp::write_secret_file(&mut cold, dir.path()).unwrap();

    let machine = Machine {
        name: "volume-test".into(),
        uuid: "0b0e4a57-5a33-4d57-9a55-6a5d7e1f0002".into(),
        accel: Accel::Tcg,
        vcpus: 1,
        memory_mib: 256,
        kernel: Some(guest.join("vmlinuz")),
        initrd: Some(guest.join("initrd.img")),
        cmdline: Some("console=ttyS0 quiet nimbus.mode=run".into()),
        disks: vec![
            Disk {
                id: "disk0".into(),
                image: ImageNode::overlay(&overlay, ImageNode::file(&base, ImageFormat::Raw)),
                bus: DiskBus::Virtio,
                read_only: false,
                serial: None,
            },
            cold.clone(),
        ],
        nics: vec![],
        serial_log: dir.path().join("console.log"),
        qmp_socket: dir.path().join("qmp.sock"),
        pidfile: dir.path().join("qemu.pid"),
    };
    let script = machine.script("qemu-system-x86_64");
    assert!(
        !script.contains("coldpassword1234"),
        "the CHAP password is not on the command line"
    );
    let log = std::fs::File::create(dir.path().join("qemu.log")).unwrap();
    let mut child = machine
        .command("qemu-system-x86_64")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let qmp = match Qmp::connect(&machine.qmp_socket, Duration::from_secs(10)).await {
        Ok(q) => q,
        Err(e) => panic!(
            "{e}: {}",
            std::fs::read_to_string(dir.path().join("qemu.log")).unwrap_or_default()
        ),
    };
    let console = &machine.serial_log;
    wait_count(console, "NIMBUS-GUEST ready", 1).await;
    let text = std::fs::read_to_string(console).unwrap();
    let partitions = text
        .split("===NIMBUS-BEGIN partitions===")
        .nth(1)
        .unwrap_or("");
    assert!(
        partitions.contains("vdb"),
        "the cold-attached volume is there at boot:\n{text}"
    );

    // Hot-plug a local volume: the guest sees vdc and writes its marker.
    let local_file = blank(dir.path(), "local.raw");
    let local = nimbus_qmp::volume_disk(
        "volume-local",
        "local-volume-id",
        &json!({"driver_volume_type": "local", "data": {"device_path": local_file, "format": "raw"}}),
    )
    .unwrap();
    nimbus_qmp::disk_attach(&qmp, &local, TIMEOUT)
        .await
        .unwrap();
    wait_count(console, "NIMBUS-GUEST disk-marked vdc", 1).await;
    nimbus_qmp::disk_detach(&qmp, &local, TIMEOUT)
        .await
        .unwrap();
    wait_count(console, "NIMBUS-GUEST disk-removed vdc", 1).await;
    assert!(marker_of(&local_file).starts_with(b"NIMBUS-MARKER:nimbus-guest"));

    // An iSCSI volume with the wrong CHAP password: tgtd refuses the login,
    // the attach fails, and nothing is left half-added.
    let iscsi_file = blank(dir.path(), "iscsi.raw");
    let target = Target::new(
        dir.path(),
        "hot",
        &iscsi_file,
        "hotuser",
        "hotpassword12345",
    );
    let wrong = nimbus_qmp::volume_disk(
        "volume-hot",
        "hot-volume-id",
        &target.connection_info("hotuser", "wrong-password"),
    )
    .unwrap();
    let err = nimbus_qmp::disk_attach(&qmp, &wrong, TIMEOUT)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Authentication failure"), "{err}");
    let nodes = qmp
        .execute("query-named-block-nodes", Value::Null)
        .await
        .unwrap();
    assert!(!nodes.to_string().contains("volume-hot"), "{nodes}");

    // The right password: attached, seen, marked, detached.
    let hot = nimbus_qmp::volume_disk(
        "volume-hot",
        "hot-volume-id",
        &target.connection_info("hotuser", "hotpassword12345"),
    )
    .unwrap();
    nimbus_qmp::disk_attach(&qmp, &hot, TIMEOUT).await.unwrap();
    wait_count(console, "NIMBUS-GUEST disk-marked vdc", 2).await;
    nimbus_qmp::disk_detach(&qmp, &hot, TIMEOUT).await.unwrap();
    wait_count(console, "NIMBUS-GUEST disk-removed vdc", 2).await;
    assert!(
        marker_of(&iscsi_file).starts_with(b"NIMBUS-MARKER:nimbus-guest"),
        "written through tgtd"
    );

    // The cold-attached volume detaches the same way.
    nimbus_qmp::disk_detach(&qmp, &cold, TIMEOUT).await.unwrap();
    wait_count(console, "NIMBUS-GUEST disk-removed vdb", 1).await;
    let nodes = qmp
        .execute("query-named-block-nodes", Value::Null)
        .await
        .unwrap();
    assert!(!nodes.to_string().contains("volume-"), "{nodes}");

    let _ = qmp.execute("quit", Value::Null).await;
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}
