//! Real QEMU: the test guest boots from a command line built here, over an
//! explicit qcow2 -> raw chain, and is controlled over QMP.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nimbus_qmp::{Accel, Disk, DiskBus, ImageFormat, ImageNode, Machine, Qmp};
use serde_json::{Value, json};

mod volumes;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds (or reuses) the test guest under target/test-guest.
fn test_guest() -> PathBuf {
    let out = repo().join("target/test-guest");
    let status = Command::new("bash")
        .arg(repo().join("scripts/guest/build.sh"))
        .arg(&out)
        .status()
        .expect("run scripts/guest/build.sh");
    assert!(status.success(), "building the test guest failed");
    out
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Running, not gone and not a zombie (a daemonized QEMU is reaped by
/// whoever is PID 1, which may be slow in a container).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn wait_console(log: &Path, needle: &str) -> String {
    for _ in 0..600 {
        let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
        if text.contains(needle) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "console never showed {needle:?}:\n{}",
        String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_hotplug_and_power_off_through_qmp() {
    let guest = test_guest();
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    let disk = dir.path().join("disk");
    run(Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "raw"])
        .arg(guest.join("root.qcow2"))
        .arg(&base));
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
        .arg(&base)
        .arg(&disk));
    let base_before = std::fs::read(&base).unwrap();

    let machine = Machine {
        name: "qmp-test".into(),
        uuid: "0b0e4a57-5a33-4d57-9a55-6a5d7e1f0001".into(),
        accel: Accel::Tcg,
        vcpus: 1,
        memory_mib: 256,
        kernel: Some(guest.join("vmlinuz")),
        initrd: Some(guest.join("initrd.img")),
        cmdline: Some("console=ttyS0 quiet nimbus.mode=run".into()),
        disks: vec![Disk {
            id: "disk0".into(),
            image: ImageNode::overlay(&disk, ImageNode::file(&base, ImageFormat::Raw)),
            bus: DiskBus::Virtio,
            read_only: false,
            serial: None,
        }],
        nics: vec![],
        serial_log: dir.path().join("console.log"),
        qmp_socket: dir.path().join("qmp.sock"),
        pidfile: dir.path().join("qemu.pid"),
    };
    std::fs::write(
        dir.path().join("domain.sh"),
        machine.script("qemu-system-x86_64"),
    )
    .unwrap();
    let log = std::fs::File::create(dir.path().join("qemu.log")).unwrap();
    let mut child = machine
        .command("qemu-system-x86_64")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let pid = child.id() as i32;

    let qmp = Qmp::connect(&machine.qmp_socket, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(qmp.status().await.unwrap(), "running");
    let pidfile = std::fs::read_to_string(&machine.pidfile).unwrap();
    assert_eq!(
        pidfile.trim(),
        pid.to_string(),
        "the pidfile names the guest's QEMU"
    );
    let console = wait_console(&machine.serial_log, "NIMBUS-GUEST ready").await;
    assert!(
        console.contains("NIMBUS-GUEST root-disk /dev/vda1"),
        "{console}"
    );

    // Hot-plug a blank volume: the guest sees it and writes its marker.
    let volume = dir.path().join("vol.raw");
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "raw"])
        .arg(&volume)
        .arg("8M"));
    let vol = Disk {
        id: "vol1".into(),
        image: ImageNode::file(&volume, ImageFormat::Raw),
        bus: DiskBus::Virtio,
        read_only: false,
        serial: Some("vol1-serial".into()),
    };
    for node in vol.image.blockdev_args(&vol.id, false) {
        qmp.execute("blockdev-add", node).await.unwrap();
    }
    qmp.execute("device_add", vol.device_args()).await.unwrap();
    wait_console(&machine.serial_log, "NIMBUS-GUEST disk-marked vdb").await;
    qmp.execute_and_wait(
        "device_del",
        json!({"id": "vol1"}),
        "DEVICE_DELETED",
        |d| d["device"] == "vol1",
        Duration::from_secs(30),
    )
    .await
    .unwrap();
    qmp.execute("blockdev-del", json!({"node-name": "vol1"}))
        .await
        .unwrap();
    wait_console(&machine.serial_log, "NIMBUS-GUEST disk-removed vdb").await;
    let marker = std::fs::read(&volume).unwrap();
    assert!(marker.starts_with(b"NIMBUS-MARKER:nimbus-guest"));

    // A command QEMU refuses is an error, not a hang.
    let err = qmp
        .execute("device_del", json!({"id": "nope"}))
        .await
        .unwrap_err();
    assert!(matches!(err, nimbus_qmp::Error::Command { .. }), "{err}");

    // Graceful power-off through ACPI; QEMU exits, the connection closes.
    qmp.execute_and_wait(
        "system_powerdown",
        Value::Null,
        "SHUTDOWN",
        |_| true,
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    wait_console(&machine.serial_log, "NIMBUS-GUEST acpi-powerdown").await;
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = child
        .try_wait()
        .unwrap()
        .expect("QEMU still running after power-off");
    assert!(status.success(), "QEMU exited with {status}");
    assert!(!alive(pid));
    assert!(
        std::fs::read(&base).unwrap() == base_before,
        "the backing file was written"
    );
}
