//! Attach + detach latency of a volume on a running guest, local file vs
//! iSCSI LUN (tgtd with CHAP), through the same calls the compute service
//! makes (`disk_attach`, `disk_detach`). Usage:
//! `volume_bench GUEST_DIR [ROUNDS]` (GUEST_DIR from scripts/guest/build.sh).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nimbus_qmp::{Disk, DiskBus, ImageFormat, ImageNode, Machine, Qmp};
use serde_json::json;

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stats(name: &str, samples: &mut [f64]) {
    samples.sort_by(|a, b| a.total_cmp(b));
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let sd = (samples.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n).sqrt();
    println!(
        "{name:<16} mean {mean:7.1} ms  sd {sd:6.1}  min {:7.1}  median {:7.1}  max {:7.1}  (n={})",
        samples[0],
        samples[samples.len() / 2],
        samples[samples.len() - 1],
        samples.len()
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let guest = PathBuf::from(args.next().expect("usage: volume_bench GUEST_DIR [ROUNDS]"));
    let rounds: usize = args
        .next()
        .map(|r| r.parse().expect("ROUNDS"))
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    run(Command::new("qemu-img")
        .args(["convert", "-f", "qcow2", "-O", "raw"])
        .arg(guest.join("root.qcow2"))
        .arg(&base));
    let accel = nimbus_qmp::virt_type_auto(Path::new("/usr/bin/qemu-system-x86_64"));
    let machine = Machine {
        name: "volume-bench".into(),
        uuid: "0b0e4a57-5a33-4d57-9a55-6a5d7e1f0003".into(),
        accel,
        vcpus: 1,
        memory_mib: 256,
        kernel: Some(guest.join("vmlinuz")),
        initrd: Some(guest.join("initrd.img")),
        cmdline: Some("console=ttyS0 quiet nimbus.mode=run".into()),
        disks: vec![Disk {
            id: "disk0".into(),
            image: ImageNode::file(&base, ImageFormat::Raw),
            bus: DiskBus::Virtio,
            read_only: true,
            serial: None,
        }],
        nics: vec![],
        serial_log: dir.path().join("console.log"),
        qmp_socket: dir.path().join("qmp.sock"),
        pidfile: dir.path().join("qemu.pid"),
    };
    let mut child = machine
        .command("qemu-system-x86_64")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let qmp = Qmp::connect(&machine.qmp_socket, Duration::from_secs(10))
        .await
        .unwrap();
    for _ in 0..1200 {
        if std::fs::read_to_string(&machine.serial_log)
            .unwrap_or_default()
            .contains("NIMBUS-GUEST ready")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let local_file = dir.path().join("local.raw");
    std::fs::File::create(&local_file)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let iscsi_file = dir.path().join("iscsi.raw");
    std::fs::File::create(&iscsi_file)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    let iqn = format!("iqn.2010-10.org.nimbus.bench-{}:volume", std::process::id());
    let conf = dir.path().join("target.conf");
    std::fs::write(&conf, format!("<target {iqn}>\n    backing-store {}\n    driver iscsi\n    incominguser benchuser benchpassword123\n    write-cache on\n</target>\n", iscsi_file.display())).unwrap();
    run(Command::new("tgt-admin")
        .arg("--conf")
        .arg(&conf)
        .args(["--update", &iqn]));

    let local = nimbus_qmp::volume_disk("vol-local", "local", &json!({"driver_volume_type": "local", "data": {"device_path": local_file, "format": "raw"}})).unwrap();
    let iscsi = nimbus_qmp::volume_disk(
        "vol-iscsi",
        "iscsi",
        &json!({"driver_volume_type": "iscsi", "data": {
        "target_portal": "127.0.0.1:3260", "target_iqn": iqn, "target_lun": 1,
        "auth_method": "CHAP", "auth_username": "benchuser", "auth_password": "benchpassword123"}}),
    )
    .unwrap();
    println!("accel {accel:?}, {rounds} rounds each");
    for (name, disk) in [("local", &local), ("iscsi", &iscsi)] {
        let (mut attach, mut detach) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            nimbus_qmp::disk_attach(&qmp, disk, Duration::from_secs(60))
                .await
                .unwrap();
            attach.push(t.elapsed().as_secs_f64() * 1000.0);
            // Let the guest notice the disk before it is pulled.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let t = Instant::now();
            nimbus_qmp::disk_detach(&qmp, disk, Duration::from_secs(60))
                .await
                .unwrap();
            detach.push(t.elapsed().as_secs_f64() * 1000.0);
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        stats(&format!("{name} attach"), &mut attach);
        stats(&format!("{name} detach"), &mut detach);
    }
    let _ = Command::new("tgt-admin")
        .args(["--force", "--delete", &iqn])
        .status();
    let _ = qmp.execute("quit", serde_json::Value::Null).await;
    let _ = child.wait();
}
