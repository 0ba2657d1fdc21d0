//! Backing chains and the backing-file policy.

use nimbus_disk::{BackingPolicy, BlockDevice, ConvertOptions, ErrorKind, Format, open};

use crate::support::*;

const MIB: u64 = 1 << 20;

/// raw base <- qcow2 (64k) <- qcow2 (4k) <- qcow2 (2M), each layer with its own writes.
fn three_deep(dir: &std::path::Path) -> std::path::PathBuf {
    let base = dir.join("base.raw");
    std::fs::write(&base, pattern(6 * MIB as usize, 11)).unwrap();
    let layers = [
        ("l1.qcow2", "base.raw", "raw", "64k"),
        ("l2.qcow2", "l1.qcow2", "qcow2", "4k"),
        ("l3.qcow2", "l2.qcow2", "qcow2", "2M"),
    ];
    for (i, (name, backing, fmt, cluster)) in layers.iter().enumerate() {
        let p = dir.join(name);
        qemu_img(&[
            "create",
            "-f",
            "qcow2",
            "-o",
            &format!("cluster_size={cluster}"),
            "-b",
            backing,
            "-F",
            fmt,
            s(&p),
        ]);
        let off = (i as u64 + 1) * MIB - 1000;
        qemu_io_write(&p, "qcow2", off, 70_000 + i as u64 * 3, 0x10 + i as u8);
    }
    // A zero write in the top layer hides base data.
    run(
        "qemu-io",
        &[
            "-f",
            "qcow2",
            "-c",
            "write -z 4194304 2097152",
            s(&dir.join("l3.qcow2")),
        ],
    );
    dir.join("l3.qcow2")
}

#[test]
fn three_deep_chain_reads_like_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let top = three_deep(dir.path());
    let expect = qemu_flatten(&top, "qcow2", dir.path());
    let d = open(
        &top,
        Format::Qcow2,
        &BackingPolicy::allow_dirs([dir.path().to_path_buf()]),
        false,
    )
    .unwrap();
    let mut got = vec![0u8; d.size() as usize];
    for (i, c) in got.chunks_mut(12_345).enumerate() {
        d.read_at(c, (i * 12_345) as u64).unwrap();
    }
    assert!(got == expect);
}

#[test]
fn convert_flattens_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let top = three_deep(dir.path());
    let out = dir.path().join("flat.qcow2");
    let policy = BackingPolicy::allow_dirs([dir.path().to_path_buf()]);
    nimbus_disk::convert(
        &top,
        Format::Qcow2,
        &policy,
        &out,
        Format::Qcow2,
        &ConvertOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let info = nimbus_disk::info(&out, None).unwrap();
    assert_eq!(info.backing_filename, None);
    qemu_img(&["check", s(&out)]);
    qemu_img(&["compare", "-f", "qcow2", "-F", "qcow2", s(&top), s(&out)]);
}

#[test]
fn policy_refuses_backing_files_outside_allowed_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let top = three_deep(dir.path());
    let err = open(&top, Format::Qcow2, &BackingPolicy::deny_all(), false).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotAllowed);
    let other = tempfile::tempdir().unwrap();
    let err = open(
        &top,
        Format::Qcow2,
        &BackingPolicy::allow_dirs([other.path().to_path_buf()]),
        false,
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotAllowed);

    // An overlay in the allowed dir whose backing file is a symlink out of it.
    let allowed = tempfile::tempdir().unwrap();
    let secret = other.path().join("secret.raw");
    std::fs::write(&secret, b"host secret").unwrap();
    std::os::unix::fs::symlink(&secret, allowed.path().join("link.raw")).unwrap();
    let ov = allowed.path().join("ov.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        "link.raw",
        "-F",
        "raw",
        s(&ov),
        "1M",
    ]);
    let err = open(
        &ov,
        Format::Qcow2,
        &BackingPolicy::allow_dirs([allowed.path().to_path_buf()]),
        false,
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotAllowed, "{err}");

    // `..` out of the allowed dir.
    let ov2 = allowed.path().join("ov2.qcow2");
    let rel = format!(
        "../{}/secret.raw",
        other.path().file_name().unwrap().to_str().unwrap()
    );
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-u",
        "-b",
        &rel,
        "-F",
        "raw",
        s(&ov2),
        "1M",
    ]);
    let err = open(
        &ov2,
        Format::Qcow2,
        &BackingPolicy::allow_dirs([allowed.path().to_path_buf()]),
        false,
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotAllowed, "{err}");
}

#[test]
fn backing_without_recorded_format_is_never_probed() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.qcow2");
    qemu_img(&["create", "-f", "qcow2", s(&base), "1M"]);
    let ov = dir.path().join("ov.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-u",
        "-b",
        "base.qcow2",
        "-F",
        "qcow2",
        s(&ov),
        "1M",
    ]);
    strip_backing_format(&ov);
    let err = open(
        &ov,
        Format::Qcow2,
        &BackingPolicy::allow_dirs([dir.path().to_path_buf()]),
        false,
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotAllowed);
    assert!(err.to_string().contains("no recorded format"), "{err}");
}

#[test]
fn backing_loop_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.qcow2");
    let b = dir.path().join("b.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-u",
        "-b",
        "b.qcow2",
        "-F",
        "qcow2",
        s(&a),
        "1M",
    ]);
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-u",
        "-b",
        "a.qcow2",
        "-F",
        "qcow2",
        s(&b),
        "1M",
    ]);
    let err = open(
        &a,
        Format::Qcow2,
        &BackingPolicy::allow_dirs([dir.path().to_path_buf()]),
        false,
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Corrupt);
    assert!(nimbus_disk::info_chain(&a, None).is_err());
}

/// Renames the backing-format header extension to an unknown type, as if
/// the image had been written without one (qemu-img 7.2 refuses to).
fn strip_backing_format(path: &std::path::Path) {
    let mut b = std::fs::read(path).unwrap();
    let hl = u32::from_be_bytes(b[100..104].try_into().unwrap()) as usize;
    let mut off = hl;
    loop {
        let ty = u32::from_be_bytes(b[off..off + 4].try_into().unwrap());
        let len = u32::from_be_bytes(b[off + 4..off + 8].try_into().unwrap()) as usize;
        if ty == 0 {
            panic!("no backing format extension");
        }
        if ty == 0xe279_2aca {
            b[off..off + 4].copy_from_slice(&0x1234_5678u32.to_be_bytes());
            break;
        }
        off += 8 + len.next_multiple_of(8);
    }
    std::fs::write(path, b).unwrap();
    assert!(!qemu_img(&["info", crate::support::s(path)]).contains("backing file format"));
}
