//! Does hardware acceleration really work here? A `/dev/kvm` that exists is
//! not enough (on some hosts QEMU aborts on the first vCPU run), so the probe
//! starts a real, empty KVM guest and checks that it keeps running.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Accel;

/// How long an empty KVM guest must survive to count as working; the
/// failures seen in practice abort within milliseconds of the first run.
const SURVIVE: Duration = Duration::from_millis(1500);

/// Whether `qemu` (a qemu-system binary) can run a guest under KVM here.
pub fn kvm_works(qemu: &Path) -> bool {
    let kvm = Path::new("/dev/kvm");
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(kvm)
        .is_err()
    {
        return false;
    }
    let child = Command::new(qemu)
        .args([
            "-machine",
            "pc,accel=kvm",
            "-cpu",
            "host",
            "-m",
            "32",
            "-nodefaults",
        ])
        .args([
            "-no-user-config",
            "-display",
            "none",
            "-serial",
            "none",
            "-monitor",
            "none",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    let started = Instant::now();
    let works = loop {
        match child.try_wait() {
            Ok(Some(_)) => break false,
            Ok(None) if started.elapsed() >= SURVIVE => break true,
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => break false,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    works
}

/// nova's `virt_type` resolved: KVM when it really works, else TCG.
pub fn virt_type_auto(qemu: &Path) -> Accel {
    if kvm_works(qemu) {
        Accel::Kvm
    } else {
        Accel::Tcg
    }
}
