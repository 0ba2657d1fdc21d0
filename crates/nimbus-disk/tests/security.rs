//! The disk-image cases of shared/design/security-cases.md (1-19, 30),
//! each built from scratch, fed to the streaming inspector.

use std::path::{Path, PathBuf};

use nimbus_disk::inspect::Inspector;
use nimbus_disk::{Limits, Report};

use crate::support::*;

const KIB: usize = 1024;

/// Feeds `data` in `chunk`-sized pieces; returns the report and the most
/// memory the inspector held at any point.
fn inspect(data: &[u8], chunk: usize) -> (Report, usize) {
    let mut i = Inspector::new();
    let mut held = 0;
    // Byte-sized chunks over the first MiB (where every header window
    // lies), larger ones after, to keep the debug-build test quick.
    let split = if chunk < 512 {
        data.len().min(1 << 20)
    } else {
        0
    };
    let (head, tail) = data.split_at(split);
    for c in head.chunks(chunk).chain(tail.chunks(chunk.max(64 * KIB))) {
        i.feed(c);
        held = held.max(i.held_bytes());
    }
    (i.finish(), held)
}

fn report(path: &Path) -> Report {
    inspect(&std::fs::read(path).unwrap(), 64 * KIB).0
}

fn assert_unsafe(r: &Report, needle: &str) {
    let reason = r
        .unsafe_reason
        .as_deref()
        .unwrap_or_else(|| panic!("expected unsafe ({needle}), got {r:?}"));
    assert!(
        reason.contains(needle),
        "reason '{reason}' lacks '{needle}'"
    );
}

fn qcow2(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let p = dir.join(name);
    let mut a = vec!["create", "-q", "-f", "qcow2"];
    a.extend_from_slice(extra);
    a.push(s(&p));
    a.push("1M");
    qemu_img(&a);
    p
}

fn patched(path: &Path, edits: &[(usize, &[u8])]) -> Vec<u8> {
    let mut b = std::fs::read(path).unwrap();
    for (off, bytes) in edits {
        b[*off..*off + bytes.len()].copy_from_slice(bytes);
    }
    b
}

#[test]
fn case01_02_qcow2_backing_and_data_file_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("base.raw"), vec![0u8; 1 << 20]).unwrap();
    let r = report(&qcow2(d, "b.qcow2", &["-b", "base.raw", "-F", "raw"]));
    assert_eq!(r.format, "qcow2");
    assert_unsafe(&r, "backing file");
    assert!(r.refusal("qcow2").is_some());

    // An absolute name: qemu-img creates the data file relative to its cwd.
    let data_opt = format!("data_file={}", s(&d.join("data.raw")));
    let df = qcow2(d, "df.qcow2", &["-o", &data_opt]);
    assert_unsafe(&report(&df), "data file");
    // The data-file extension alone, with the incompatible bit cleared.
    let mut b = std::fs::read(&df).unwrap();
    b[0x4F] &= !0x04;
    assert_unsafe(&inspect(&b, 4096).0, "data file");
}

#[test]
fn case03_04_qcow2_feature_bits_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plain = qcow2(d, "p.qcow2", &[]);
    assert!(report(&plain).is_safe());
    let feature = |bit: u32| {
        let v: u64 = 1 << bit;
        inspect(&patched(&plain, &[(0x48, &v.to_be_bytes())]), 512).0
    };
    assert!(feature(0).is_safe(), "dirty is accepted");
    assert_unsafe(&feature(1), "corrupt");
    assert_unsafe(&feature(4), "unknown incompatible");
    assert_unsafe(&feature(5), "unknown incompatible");
    assert_unsafe(&feature(63), "unknown incompatible");
    assert_unsafe(
        &report(&qcow2(d, "x.qcow2", &["-o", "extended_l2=on"])),
        "unknown incompatible",
    );
    let zstd = report(&qcow2(d, "z.qcow2", &["-o", "compression_type=zstd"]));
    assert!(zstd.is_safe(), "{zstd:?}");

    for v in [1u32, 4] {
        let r = inspect(&patched(&plain, &[(4, &v.to_be_bytes())]), 512).0;
        assert_eq!(r.format, "qcow2");
        assert_unsafe(&r, "version");
    }
    let v2 = qcow2(d, "v2.qcow2", &["-o", "compat=0.10"]);
    let r = inspect(&patched(&v2, &[(0x48, &[0x01]), (0x4F, &[0x80])]), 512).0;
    assert!(r.is_safe(), "v2 has no feature fields: {r:?}");
    assert!(r.refusal("qcow2").is_none());
}

#[test]
fn case05_truncated_header_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = qcow2(dir.path(), "p.qcow2", &[]);
    let b = std::fs::read(&p).unwrap();
    let r = inspect(&b[..100], 7).0;
    assert_eq!(r.format, "qcow2");
    assert!(r.refusal("qcow2").is_some());
}

#[test]
fn case07_format_mismatch_and_hidden_header() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ext4 = d.join("fs.raw");
    std::fs::write(&ext4, vec![0u8; 4 << 20]).unwrap();
    run("mkfs.ext4", &["-q", "-F", s(&ext4)]);
    let clean = report(&ext4);
    assert_eq!((clean.format, clean.is_safe()), ("raw", true));
    // A qcow2 header with a backing file in the ext4 boot block.
    std::fs::write(d.join("base.raw"), b"x").unwrap();
    let hdr = std::fs::read(qcow2(
        d,
        "h.qcow2",
        &["-u", "-b", "/etc/passwd", "-F", "raw"],
    ))
    .unwrap();
    let mut b = std::fs::read(&ext4).unwrap();
    b[..1024].copy_from_slice(&hdr[..1024]);
    let r = inspect(&b, 4096).0;
    assert_eq!(r.format, "qcow2");
    assert!(r.refusal("raw").is_some());
    // A safe qcow2 declared raw.
    let safe = report(&qcow2(d, "s.qcow2", &[]));
    assert!(safe.is_safe());
    assert!(safe.refusal("raw").unwrap().contains("declared"));
}

fn vmdk(dir: &Path, name: &str, sub: &str) -> PathBuf {
    let p = dir.join(name);
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "vmdk",
        "-o",
        &format!("subformat={sub}"),
        s(&p),
        "4M",
    ]);
    p
}

/// Rewrites the embedded descriptor of a sparse VMDK (kept within its area).
fn edit_descriptor(path: &Path, f: impl Fn(&str) -> String) -> Vec<u8> {
    let mut b = std::fs::read(path).unwrap();
    let sectors = u64::from_le_bytes(b[36..44].try_into().unwrap()) as usize;
    let area = &mut b[0x200..0x200 + sectors * 512];
    let end = area.iter().position(|&c| c == 0).unwrap();
    let text = f(std::str::from_utf8(&area[..end]).unwrap());
    assert!(text.len() < area.len());
    area.fill(0);
    area[..text.len()].copy_from_slice(text.as_bytes());
    b
}

#[test]
fn case09_10_vmdk_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"monolithicFlat\"\n\nRW 2048 FLAT \"/etc/shadow\" 0\n";
    std::fs::write(d.join("flat.vmdk"), text).unwrap();
    let r = report(&d.join("flat.vmdk"));
    assert_eq!(r.format, "vmdk");
    assert!(!r.is_safe());
    let two = vmdk(d, "two.vmdk", "twoGbMaxExtentSparse");
    let r = report(&two);
    assert_eq!(r.format, "vmdk");
    assert!(!r.is_safe());
    assert!(!report(&vmdk(d, "mf.vmdk", "monolithicFlat")).is_safe());

    let sparse = vmdk(d, "s.vmdk", "monolithicSparse");
    assert!(report(&sparse).is_safe());
    let slash = edit_descriptor(&sparse, |t| t.replace("\"s.vmdk\"", "\"/etc/shadow\""));
    assert_unsafe(&inspect(&slash, 512).0, "path");
    let wronly = edit_descriptor(&sparse, |t| t.replace("RW 8192", "WRONLY 8192"));
    assert_unsafe(&inspect(&wronly, 512).0, "invalid line");
    let none = edit_descriptor(&sparse, |t| {
        t.lines()
            .filter(|l| !l.starts_with("RW"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    assert_unsafe(&inspect(&none, 512).0, "no extents");
    let junk = edit_descriptor(&sparse, |t| format!("{t}\nthis is not a descriptor line\n"));
    assert_unsafe(&inspect(&junk, 512).0, "invalid line");
    let bad_type = edit_descriptor(&sparse, |t| t.replace("monolithicSparse", "vmfsSparse"));
    assert_unsafe(&inspect(&bad_type, 512).0, "subformat");
}

#[test]
fn case12_vmdk_header_errors_and_descriptor_bound() {
    let dir = tempfile::tempdir().unwrap();
    let sparse = vmdk(dir.path(), "s.vmdk", "monolithicSparse");
    let at_400 = patched(&sparse, &[(28, &2u64.to_le_bytes())]);
    assert_unsafe(&inspect(&at_400, 512).0, "location");
    let v0 = patched(&sparse, &[(4, &0u32.to_le_bytes())]);
    assert_unsafe(&inspect(&v0, 512).0, "version");
    let bad_magic = patched(&sparse, &[(0, b"KDMX")]);
    let r = inspect(&bad_magic, 512).0;
    assert_eq!(r.format, "raw");
    assert!(r.refusal("vmdk").is_some());
    // A descriptor-size field of 2 MiB: the inspector still holds little.
    let mut big = patched(&sparse, &[(36, &4096u64.to_le_bytes())]);
    big.resize(3 << 20, 0);
    let (r, held) = inspect(&big, 64 * KIB);
    assert_eq!(r.format, "vmdk");
    assert!(held < 512 * KIB, "held {held}");
    // Text that never ends within the kept window is refused.
    let mut endless = big.clone();
    endless[0x200..0x200 + (1 << 20)].fill(b'#');
    assert!(!inspect(&endless, 64 * KIB).0.is_safe());
}

#[test]
fn case15_qed_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.qed");
    qemu_img(&["create", "-q", "-f", "qed", s(&p), "4M"]);
    let r = report(&p);
    assert_eq!(r.format, "qed");
    assert!(!r.is_safe());
}

fn mbr(entries: &[(usize, u8, u8, u8, u32)]) -> Vec<u8> {
    // (slot, boot flag, start head byte, os type, start LBA)
    let mut d = vec![0u8; 1 << 20];
    d[510] = 0x55;
    d[511] = 0xAA;
    for &(n, boot, head, ostype, lba) in entries {
        let p = &mut d[446 + n * 16..446 + n * 16 + 16];
        p[0] = boot;
        p[2] = head;
        p[4] = ostype;
        p[8..12].copy_from_slice(&lba.to_le_bytes());
    }
    d
}

#[test]
fn case16_gpt_mbr_checks_and_plain_filesystems() {
    let ok = inspect(&mbr(&[(0, 0, 2, 0xEE, 1)]), 512).0;
    assert_eq!((ok.format, ok.is_safe()), ("gpt", true));
    assert!(ok.matches_declared("raw"));
    assert_unsafe(
        &inspect(&mbr(&[(0, 0, 2, 0xEE, 1), (1, 0, 2, 0x83, 2048)]), 512).0,
        "extra partitions",
    );
    assert_unsafe(&inspect(&mbr(&[(0, 0x0A, 2, 0xEE, 1)]), 512).0, "boot flag");
    assert_unsafe(&inspect(&mbr(&[(0, 0, 1, 0xEE, 1)]), 512).0, "CHS");
    assert_unsafe(&inspect(&mbr(&[(0, 0, 2, 0xEE, 2)]), 512).0, "LBA");
    assert_unsafe(&inspect(&mbr(&[]), 512).0, "no partitions");
    // Non-EFI partitions may start anywhere.
    assert!(
        inspect(&mbr(&[(0, 0x80, 1, 0x83, 2), (1, 0, 7, 0x82, 4096)]), 512)
            .0
            .is_safe()
    );

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let gpt = d.join("gpt.raw");
    std::fs::write(&gpt, vec![0u8; 4 << 20]).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'label: gpt\\n,,L\\n' | sfdisk -q {}",
            s(&gpt)
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&gpt);
    assert_eq!((r.format, r.is_safe()), ("gpt", true));

    let fat = d.join("fat.raw");
    std::fs::write(&fat, vec![0u8; 4 << 20]).unwrap();
    run("mkfs.vfat", &[s(&fat)]);
    assert_eq!(report(&fat).format, "raw");
    let ext4 = d.join("ext4.raw");
    std::fs::write(&ext4, vec![0u8; 4 << 20]).unwrap();
    run("mkfs.ext4", &["-q", "-F", s(&ext4)]);
    assert_eq!(report(&ext4).format, "raw");
}

#[test]
fn case17_zeros_declared_qcow2_refused_early() {
    let zeros = vec![0u8; 1 << 20];
    let mut i = Inspector::new();
    let mut refused_at = None;
    for c in zeros.chunks(4096) {
        i.feed(c);
        if i.early_refusal("qcow2").is_some() {
            refused_at = Some(i.position());
            break;
        }
    }
    let at = refused_at.expect("never refused");
    assert!(at <= 64 * 1024, "refused only after {at} bytes");
}

/// Builds one sample image of every format the inspector knows.
fn samples(d: &Path) -> Vec<(PathBuf, &'static str, &'static str)> {
    let mut v = Vec::new();
    let raw = d.join("r.raw");
    std::fs::write(&raw, pattern(3 << 20, 5)).unwrap();
    v.push((raw, "raw", "raw"));
    for (fmt, name, sub) in [
        ("qcow2", "q.qcow2", None),
        ("vpc", "v.vhd", None),
        ("vhdx", "v.vhdx", None),
        ("vdi", "v.vdi", None),
        ("qed", "q.qed", None),
        ("vmdk", "s.vmdk", Some("monolithicSparse")),
        ("vmdk", "so.vmdk", Some("streamOptimized")),
    ] {
        let p = d.join(name);
        let mut a = vec!["create", "-q", "-f", fmt];
        let o = sub.map(|s| format!("subformat={s}"));
        if let Some(o) = &o {
            a.extend(["-o", o]);
        }
        a.extend([s(&p), "5M"]);
        qemu_img(&a);
        let inspected = match fmt {
            "vpc" => "vhd",
            f => f,
        };
        // Give the image some content so sizes are not all headers.
        let io_fmt = if fmt == "vmdk" && sub == Some("streamOptimized") {
            None
        } else {
            Some(fmt)
        };
        if let Some(f) = io_fmt.filter(|f| *f != "qed") {
            qemu_io_write(&p, f, 4096, 300_000, 0x33);
        }
        v.push((p, inspected, if fmt == "vpc" { "vpc" } else { fmt }));
    }
    let luks = d.join("x.luks");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "luks",
        "--object",
        "secret,id=s0,data=pw",
        "-o",
        "key-secret=s0,iter-time=10",
        s(&luks),
        "2M",
    ]);
    v.push((luks, "luks", "luks"));
    let iso_dir = d.join("iso");
    std::fs::create_dir(&iso_dir).unwrap();
    std::fs::write(iso_dir.join("f.txt"), pattern(100_000, 2)).unwrap();
    let iso = d.join("x.iso");
    run(
        "genisoimage",
        &[
            "-quiet",
            "-o",
            s(&iso),
            "-V",
            "cfg",
            "-r",
            "-J",
            s(&iso_dir),
        ],
    );
    v.push((iso, "iso", "raw"));
    v
}

#[test]
fn case18_every_format_at_every_chunk_size_matches_qemu() {
    let dir = tempfile::tempdir().unwrap();
    for (path, format, qemu_fmt) in samples(dir.path()) {
        let data = std::fs::read(&path).unwrap();
        let info = qemu_img(&["info", "-f", qemu_fmt, "--output=json", s(&path)]);
        let vsize: u64 = info
            .lines()
            .find(|l| l.trim_start().starts_with("\"virtual-size\""))
            .and_then(|l| l.split(':').nth(1))
            .map(|v| v.trim().trim_end_matches(',').parse().unwrap())
            .unwrap();
        for chunk in [1, 17, 512, 64 * KIB, 1 << 20] {
            let (r, held) = inspect(&data, chunk);
            assert_eq!(r.format, format, "{} at chunk {chunk}", path.display());
            assert_eq!(r.virtual_size, vsize, "{} at chunk {chunk}", path.display());
            assert!(
                held < 512 * KIB,
                "{} held {held} at chunk {chunk}",
                path.display()
            );
            if format != "qed" {
                assert!(r.is_safe(), "{} at chunk {chunk}: {r:?}", path.display());
            }
        }
    }
}

#[test]
fn case18_iso_with_qcow2_in_system_area_matches_two_formats() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let samples = samples(d);
    let iso = &samples.iter().find(|s| s.1 == "iso").unwrap().0;
    let hdr = std::fs::read(qcow2(d, "h.qcow2", &[])).unwrap();
    let mut b = std::fs::read(iso).unwrap();
    b[..512].copy_from_slice(&hdr[..512]);
    let r = inspect(&b, 4096).0;
    assert_unsafe(&r, "several formats");
    assert!(r.refusal("iso").is_some() && r.refusal("qcow2").is_some());
}

#[test]
fn case19_mutated_headers_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (path, _, _) in samples(dir.path()) {
        let orig = std::fs::read(&path).unwrap();
        let head = orig.len().min(1 << 20);
        for _ in 0..60 {
            let mut b = orig[..head].to_vec();
            for _ in 0..(next() % 16 + 1) {
                let at =
                    (next() as usize) % b.len().min(if next() % 2 == 0 { 512 } else { 300_000 });
                b[at] = next() as u8;
            }
            let chunk = [1usize, 13, 4096, 65536][(next() % 4) as usize];
            let chunk = if chunk == 1 { 4099 } else { chunk };
            let (_r, held) = inspect(&b, chunk);
            assert!(held < 512 * KIB);
        }
    }
}

#[test]
fn case30_huge_virtual_size_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", s(&p), "1T"]);
    let tmp = dir.path().join("c.qcow2");
    qemu_img(&["convert", "-c", "-O", "qcow2", s(&p), s(&tmp)]);
    let r = report(&tmp);
    assert_eq!(r.virtual_size, 1 << 40);
    assert_unsafe(&r, "exceeds the limit");
    // A caller with a higher limit accepts it.
    let mut i = Inspector::with_limits(Limits {
        max_virtual_size: 2 << 40,
    });
    i.feed(&std::fs::read(&tmp).unwrap());
    assert!(i.finish().is_safe());
}
