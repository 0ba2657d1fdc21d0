//! `nimbus img` against the real qemu-img: same JSON, same exit codes, and
//! images each side can read.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::nimbus_bin;

fn nimbus(args: &[&str]) -> Output {
    Command::new(nimbus_bin())
        .arg("img")
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn qemu_img(args: &[&str]) -> Output {
    Command::new("qemu-img")
        .args(args)
        .output()
        .expect("qemu-img is required")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn info_json_is_qemu_img_json() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    std::fs::write(&base, vec![7u8; 3 << 20]).unwrap();
    let ov = dir.path().join("ov.qcow2");
    ok(nimbus(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        "base.raw",
        "-F",
        "raw",
        s(&ov),
    ]));
    for p in [&base, &ov] {
        let ours = ok(nimbus(&["info", "--output", "json", s(p)]));
        let theirs = ok(qemu_img(&["info", "--output=json", s(p)]));
        assert_eq!(ours.trim(), theirs.trim());
    }
    let ours = ok(nimbus(&[
        "info",
        "--output=json",
        "--backing-chain",
        s(&ov),
    ]));
    let theirs = ok(qemu_img(&[
        "info",
        "--output=json",
        "--backing-chain",
        s(&ov),
    ]));
    assert_eq!(ours.trim(), theirs.trim());
    assert!(ok(nimbus(&["info", s(&ov)])).contains("backing file format: raw"));
}

#[test]
fn create_convert_resize_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = d.join("base.qcow2");
    ok(nimbus(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=4096",
        s(&base),
        "8M",
    ]));
    ok(Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0x41 0 3M", s(&base)])
        .output()
        .unwrap());
    let ov = d.join("ov.qcow2");
    ok(nimbus(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        s(&base),
        "-F",
        "qcow2",
        s(&ov),
    ]));
    ok(qemu_img(&["check", s(&ov)]));
    assert!(
        ok(qemu_img(&["info", s(&ov)])).contains("cluster_size: 4096"),
        "overlay inherits the base's cluster size"
    );
    ok(Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0x42 1M 5000", s(&ov)])
        .output()
        .unwrap());
    let flat = d.join("flat.qcow2");
    ok(nimbus(&[
        "convert",
        "-f",
        "qcow2",
        "-O",
        "qcow2",
        "-c",
        "-p",
        s(&ov),
        s(&flat),
    ]));
    ok(qemu_img(&["check", s(&flat)]));
    ok(qemu_img(&["compare", s(&ov), s(&flat)]));
    assert!(!ok(qemu_img(&["info", s(&flat)])).contains("backing file"));
    let raw = d.join("flat.raw");
    ok(nimbus(&["convert", "-O", "raw", s(&flat), s(&raw)]));
    ok(qemu_img(&[
        "compare",
        "-f",
        "raw",
        "-F",
        "qcow2",
        s(&raw),
        s(&ov),
    ]));

    assert_eq!(
        ok(nimbus(&["resize", s(&flat), "+1G"])).trim(),
        "Image resized."
    );
    assert!(ok(qemu_img(&["info", s(&flat)])).contains("(1082130432 bytes)"));
    let shrink = nimbus(&["resize", s(&flat), "-1G"]);
    assert_eq!(shrink.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&shrink.stderr).contains("--shrink"));
    ok(qemu_img(&["check", s(&flat)]));
}

#[test]
fn check_exit_codes_mirror_qemu_img() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("c.qcow2");
    ok(qemu_img(&["create", "-f", "qcow2", s(&q), "4M"]));
    let out = nimbus(&["check", s(&q)]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("No errors were found on the image."));
    // Leak a cluster: extend the file and give the new cluster refcount 1.
    let len = std::fs::metadata(&q).unwrap().len();
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&q)
            .unwrap();
        // The file may end inside its last cluster (a short L1 table).
        let leaked = len.div_ceil(65536);
        f.set_len((leaked + 1) * 65536).unwrap();
        let mut b = [0u8; 8];
        f.read_exact_at(&mut b, 48).unwrap();
        let table = u64::from_be_bytes(b);
        f.read_exact_at(&mut b, table).unwrap();
        f.write_all_at(&1u16.to_be_bytes(), u64::from_be_bytes(b) + leaked * 2)
            .unwrap();
    }
    assert_eq!(qemu_img(&["check", s(&q)]).status.code(), Some(3));
    let out = nimbus(&["check", s(&q)]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 leaked clusters were found"));
    let raw = dir.path().join("r.raw");
    std::fs::write(&raw, [0u8; 512]).unwrap();
    assert_eq!(
        nimbus(&["check", "-f", "raw", s(&raw)]).status.code(),
        qemu_img(&["check", "-f", "raw", s(&raw)]).status.code()
    );
}

#[test]
fn inspect_reports_format_and_refuses_unsafe() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let safe = d.join("s.qcow2");
    ok(qemu_img(&["create", "-f", "qcow2", s(&safe), "1G"]));
    let out = ok(nimbus(&["inspect", "--declared", "qcow2", s(&safe)]));
    assert!(out.contains("format: qcow2") && out.contains("virtual size: 1073741824"));
    let wrong = nimbus(&["inspect", "--declared", "raw", s(&safe)]);
    assert_eq!(wrong.status.code(), Some(2));
    let hostile = d.join("h.qcow2");
    ok(qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-u",
        "-b",
        "/etc/shadow",
        "-F",
        "raw",
        s(&hostile),
        "1G",
    ]));
    let out = nimbus(&["inspect", s(&hostile)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("backing file"));
}
