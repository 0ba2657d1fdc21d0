//! The QEMU driver against real QEMU and the test guest (scripts/guest).

mod build;
mod images;
mod proxies;
mod quota_classes;
mod resources;
mod server_extras;
mod server_images;
mod servers;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nimbus_compute::driver::{PowerState, QemuDriver};
use nimbus_qmp::{Accel, Disk, DiskBus, ImageFormat, ImageNode, Machine};

/// The in-process peers of a compute service under `dir`.
async fn peers(
    db: &nimbus_db::Db,
    dir: &Path,
    images: &nimbus_image::ImageService,
) -> nimbus_compute::Peers {
    nimbus_compute::Peers {
        images: nimbus_image::client::ImageClient::new(images.clone()),
        network: nimbus_network::NetworkService::new(
            db.clone(),
            nimbus_network::NetworkConfig::default(),
        )
        .unwrap(),
        volume: nimbus_volume::VolumeService::new(
            db.clone(),
            nimbus_volume::VolumeConfig::under(dir),
            Some(images.clone()),
        )
        .await
        .unwrap(),
    }
}

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
        .unwrap();
    assert!(status.success(), "building the test guest failed");
    out
}

async fn console_has(dir: &Path, needle: &str) -> bool {
    for _ in 0..600 {
        let text = nimbus_compute::driver::Guest::console_output(dir, 1 << 20)
            .await
            .unwrap();
        if String::from_utf8_lossy(&text).contains(needle) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

fn machine(guest: &Path, dir: &Path) -> Machine {
    let (pidfile, qmp_socket) = QemuDriver::paths_in(dir);
    Machine {
        name: "driver-test".into(),
        uuid: "5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0001".into(),
        accel: Accel::Tcg,
        vcpus: 1,
        memory_mib: 192,
        kernel: Some(guest.join("vmlinuz")),
        initrd: Some(guest.join("initrd.img")),
        cmdline: Some("console=ttyS0 quiet nimbus.mode=run".into()),
        disks: vec![Disk {
            id: "disk0".into(),
            image: ImageNode::overlay(
                dir.join("disk"),
                ImageNode::file(guest.join("root.qcow2"), ImageFormat::Qcow2),
            ),
            bus: DiskBus::Virtio,
            read_only: false,
            serial: None,
        }],
        nics: vec![],
        serial_log: dir.join("console.log"),
        qmp_socket,
        pidfile,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_pause_suspend_resume_find_again_and_power_off() {
    let guest_files = test_guest();
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(guest_files.join("root.qcow2"))
        .arg(dir.path().join("disk"))
        .status()
        .unwrap();
    assert!(status.success());
    let machine = machine(&guest_files, dir.path());
    let driver = QemuDriver::new("qemu-system-x86_64");

    let mut guest = driver.start(dir.path(), &machine).await.unwrap();
    assert!(
        dir.path().join("domain.sh").is_file(),
        "the command line is written for operators"
    );
    assert!(console_has(dir.path(), "NIMBUS-GUEST ready").await);
    assert_eq!(guest.power_state().await, PowerState::Running);

    guest.pause().await.unwrap();
    assert_eq!(guest.power_state().await, PowerState::Paused);
    guest.unpause().await.unwrap();
    assert_eq!(guest.power_state().await, PowerState::Running);

    // Suspend: memory to disk, QEMU gone; resume brings the same guest back.
    guest.suspend().await.unwrap();
    assert!(QemuDriver::is_suspended(dir.path()));
    assert!(!guest.alive());
    assert_eq!(guest.power_state().await, PowerState::Shutdown);
    let boots_before = count(dir.path(), "NIMBUS-GUEST booted").await;
    let mut guest = driver.resume(dir.path(), &machine).await.unwrap();
    assert!(!QemuDriver::is_suspended(dir.path()));
    assert_eq!(guest.power_state().await, PowerState::Running);
    // The resumed guest is alive and did not boot again: it notices a
    // hot-plugged disk.
    let volume = dir.path().join("vol.raw");
    std::fs::write(&volume, vec![0u8; 4 << 20]).unwrap();
    let vol = Disk {
        id: "vol1".into(),
        image: ImageNode::file(&volume, ImageFormat::Raw),
        bus: DiskBus::Virtio,
        read_only: false,
        serial: None,
    };
    for node in vol.image.blockdev_args(&vol.id, false) {
        guest.qmp().execute("blockdev-add", node).await.unwrap();
    }
    guest
        .qmp()
        .execute("device_add", vol.device_args())
        .await
        .unwrap();
    assert!(console_has(dir.path(), "NIMBUS-GUEST disk-added vdb").await);
    assert_eq!(count(dir.path(), "NIMBUS-GUEST booted").await, boots_before);

    // A restarted Nimbus finds the guest by its pidfile and uuid...
    let pid = guest.pid();
    drop(guest);
    let mut found = driver
        .find(dir.path(), &machine.uuid)
        .await
        .expect("running guest found again");
    assert_eq!(found.pid(), pid);
    assert!(
        driver
            .find(dir.path(), "00000000-0000-0000-0000-000000000000")
            .await
            .is_none()
    );
    // ...and stops it gracefully: the guest sees the ACPI power button.
    found.power_off(Duration::from_secs(60)).await.unwrap();
    assert!(console_has(dir.path(), "NIMBUS-GUEST acpi-powerdown").await);
    assert!(!found.alive());
    assert!(driver.find(dir.path(), &machine.uuid).await.is_none());
}

#[tokio::test]
async fn a_qemu_that_cannot_start_reports_why() {
    let dir = tempfile::tempdir().unwrap();
    let guest_files = test_guest();
    let mut machine = machine(&guest_files, dir.path());
    // The overlay does not exist: QEMU exits at once.
    machine.disks[0].image = ImageNode::file(dir.path().join("missing.qcow2"), ImageFormat::Qcow2);
    let err = QemuDriver::new("qemu-system-x86_64")
        .start(dir.path(), &machine)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing.qcow2"), "{err}");
}

async fn count(dir: &Path, needle: &str) -> usize {
    let text = nimbus_compute::driver::Guest::console_output(dir, 1 << 20)
        .await
        .unwrap();
    String::from_utf8_lossy(&text).matches(needle).count()
}
