//! Images written by qemu-img read back through Nimbus, and images Nimbus
//! writes pass `qemu-img check` / `compare`.

use std::path::{Path, PathBuf};

use nimbus_disk::{
    BackingPolicy, BlockDevice, ConvertOptions, ErrorKind, Format, Qcow2Options, SizeChange, open,
};

use crate::support::*;

const MIB: u64 = 1 << 20;

/// A raw image with data islands, holes and an unaligned tail of data.
pub fn source_raw(dir: &Path, size: u64) -> PathBuf {
    let p = dir.join("src.raw");
    let mut data = vec![0u8; size as usize];
    let pat = pattern(size as usize, 7);
    for (start, len) in [
        (0u64, 70_000u64),
        (MIB + 4096, 3000),
        (2 * MIB - 100, 200),
        (size - 5000, 5000),
    ] {
        let (s, l) = (start as usize, len as usize);
        data[s..s + l].copy_from_slice(&pat[s..s + l]);
    }
    // Repeats 5000 bytes apart: a deflate window wider than QEMU's 4 KiB
    // would produce back-references QEMU cannot inflate.
    let block = pattern(5000, 99);
    for (i, b) in data[3 * MIB as usize / 2..3 * MIB as usize / 2 + 300_000]
        .iter_mut()
        .enumerate()
    {
        *b = block[i % 5000];
    }
    std::fs::write(&p, &data).unwrap();
    p
}

pub fn read_all(path: &Path, fmt: Format, policy: &BackingPolicy) -> Vec<u8> {
    let d = open(path, fmt, policy, false).unwrap();
    let mut buf = vec![0u8; d.size() as usize];
    // Odd-sized, unaligned reads, as a filesystem layer would issue.
    let mut off = 0usize;
    let mut step = 1usize;
    while off < buf.len() {
        let n = step.min(buf.len() - off);
        d.read_at(&mut buf[off..off + n], off as u64).unwrap();
        off += n;
        step = (step * 3 + 511) % 300_000 + 1;
    }
    buf
}

#[test]
fn qemu_written_qcow2_reads_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_raw(dir.path(), 3 * MIB + 12345);
    let mut expect = std::fs::read(&src).unwrap();
    // qemu-img counts whole sectors: the image is the source padded to 512.
    expect.resize(expect.len().next_multiple_of(512), 0);
    for cluster in ["4k", "64k", "2M"] {
        for compat in ["0.10", "1.1"] {
            for compress in [false, true] {
                let out = dir
                    .path()
                    .join(format!("q-{cluster}-{compat}-{compress}.qcow2"));
                let opts = format!("cluster_size={cluster},compat={compat}");
                let mut args = vec!["convert", "-f", "raw", "-O", "qcow2", "-o", &opts];
                if compress {
                    args.push("-c");
                }
                args.extend([s(&src), s(&out)]);
                qemu_img(&args);
                let got = read_all(&out, Format::Qcow2, &BackingPolicy::deny_all());
                assert!(
                    got == expect,
                    "{cluster} {compat} compressed={compress} differs"
                );
            }
        }
    }
}

#[test]
fn zero_clusters_read_as_zero() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("z.qcow2");
    qemu_img(&["create", "-f", "qcow2", s(&img), "4M"]);
    qemu_io_write(&img, "qcow2", 0, 4 * MIB, 0xAB);
    // An explicit zero cluster over allocated data, and one left unallocated.
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "write -z 65536 131072", s(&img)],
    );
    run(
        "qemu-io",
        &["-f", "qcow2", "-c", "write -z -u 1048576 65536", s(&img)],
    );
    let expect = qemu_flatten(&img, "qcow2", dir.path());
    assert_eq!(
        read_all(&img, Format::Qcow2, &BackingPolicy::deny_all()),
        expect
    );
    assert!(expect[65536..65536 + 131072].iter().all(|&b| b == 0));
}

#[test]
fn convert_output_passes_check_and_compare() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_raw(dir.path(), 5 * MIB + 777);
    for (cluster, compress) in [
        (4096u64, false),
        (65536, false),
        (65536, true),
        (2 * MIB, false),
        (4096, true),
    ] {
        let dst = dir.path().join(format!("out-{cluster}-{compress}.qcow2"));
        let opts = ConvertOptions {
            compress,
            cluster_size: Some(cluster),
            ..Default::default()
        };
        nimbus_disk::convert(
            &src,
            Format::Raw,
            &BackingPolicy::deny_all(),
            &dst,
            Format::Qcow2,
            &opts,
            &mut |_, _| {},
        )
        .unwrap();
        qemu_img(&["check", s(&dst)]);
        qemu_img(&["compare", "-f", "raw", "-F", "qcow2", s(&src), s(&dst)]);
        let ours = nimbus_disk::check(&dst, Format::Qcow2).unwrap();
        assert_eq!(ours.exit_code(), 0, "{:?}", ours.messages);
        if compress {
            assert!(ours.compressed_clusters > 0);
        }
    }
    // qcow2 -> raw, sparse.
    let q = dir.path().join("out-65536-false.qcow2");
    let raw = dir.path().join("back.raw");
    nimbus_disk::convert(
        &q,
        Format::Qcow2,
        &BackingPolicy::deny_all(),
        &raw,
        Format::Raw,
        &ConvertOptions::default(),
        &mut |_, _| {},
    )
    .unwrap();
    let mut src_bytes = std::fs::read(&src).unwrap();
    src_bytes.resize(src_bytes.len().next_multiple_of(512), 0);
    assert_eq!(std::fs::read(&raw).unwrap(), src_bytes);
    let info = nimbus_disk::info(&raw, Some(Format::Raw)).unwrap();
    assert!(
        info.actual_size < 1024 * 1024,
        "raw output is not sparse: {}",
        info.actual_size
    );
}

#[test]
fn overlay_write_matches_qemu_io_and_leaves_base_alone() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    std::fs::write(&base, pattern(4 * MIB as usize, 3)).unwrap();
    let base_hash = sha(&std::fs::read(&base).unwrap());
    let a = dir.path().join("a.qcow2");
    let b = dir.path().join("b.qcow2");
    nimbus_disk::create_qcow2(
        &a,
        None,
        &Qcow2Options {
            backing: Some(("base.raw".into(), Format::Raw)),
            cluster_size: None,
        },
    )
    .unwrap();
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        "base.raw",
        "-F",
        "raw",
        s(&b),
    ]);
    let policy = BackingPolicy::allow_dirs([dir.path().to_path_buf()]);
    {
        let d = open(&a, Format::Qcow2, &policy, true).unwrap();
        // Partial clusters (copy-on-write of the rest from the base).
        d.write_at(&[0x5A; 1000], 70_001).unwrap();
        d.write_at(&[0x5A; 200_000], 3 * MIB - 1).unwrap();
        d.flush().unwrap();
    }
    run(
        "qemu-io",
        &[
            "-f",
            "qcow2",
            "-c",
            "write -P 0x5a 70001 1000",
            "-c",
            "write -P 0x5a 3145727 200000",
            s(&b),
        ],
    );
    qemu_img(&["compare", "-f", "qcow2", "-F", "qcow2", s(&a), s(&b)]);
    qemu_img(&["check", s(&a)]);
    assert_eq!(sha(&std::fs::read(&base).unwrap()), base_hash);
}

fn info_json_matches(path: &Path) {
    let ours = nimbus_disk::info(path, None).unwrap().to_json(0);
    let theirs = qemu_img(&["info", "--output=json", s(path)]);
    assert_eq!(
        ours.trim(),
        theirs.trim(),
        "info differs for {}",
        path.display()
    );
    let info = nimbus_disk::info(path, None).unwrap();
    if info.snapshots.is_empty() {
        let theirs = qemu_img(&["info", s(path)]);
        assert_eq!(
            info.to_human().trim(),
            theirs.trim(),
            "human info differs for {}",
            path.display()
        );
    }
}

#[test]
fn info_json_equals_qemu_img() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = d.join("base.raw");
    std::fs::write(&base, pattern(2 * MIB as usize, 1)).unwrap();
    info_json_matches(&base);
    let cases: &[(&str, &[&str])] = &[
        ("v3.qcow2", &["-o", "cluster_size=4k"]),
        ("v2.qcow2", &["-o", "compat=0.10"]),
        ("lazy.qcow2", &["-o", "lazy_refcounts=on"]),
        ("rc1.qcow2", &["-o", "refcount_bits=1"]),
        ("rc64.qcow2", &["-o", "refcount_bits=64,cluster_size=2M"]),
        ("extl2.qcow2", &["-o", "extended_l2=on"]),
        ("zstd.qcow2", &["-o", "compression_type=zstd"]),
        ("ov.qcow2", &["-b", "base.raw", "-F", "raw"]),
        (
            "ov2.qcow2",
            &["-b", "ov.qcow2", "-F", "qcow2", "-o", "compat=0.10"],
        ),
    ];
    for (name, args) in cases {
        let p = d.join(name);
        let mut a = vec!["create", "-f", "qcow2"];
        a.extend_from_slice(args);
        a.push(s(&p));
        if !args.contains(&"-b") {
            a.push("8M");
        }
        qemu_img(&a);
        qemu_io_write(&p, "qcow2", 65536, 100_000, 9);
        info_json_matches(&p);
    }
    // Internal snapshots are listed.
    let snap = d.join("v3.qcow2");
    qemu_img(&["snapshot", "-c", "first", s(&snap)]);
    info_json_matches(&snap);
    // The chain form.
    let ours: Vec<String> = nimbus_disk::info_chain(&d.join("ov2.qcow2"), None)
        .unwrap()
        .iter()
        .map(|i| i.to_json(1))
        .collect();
    let theirs = qemu_img(&[
        "info",
        "--output=json",
        "--backing-chain",
        s(&d.join("ov2.qcow2")),
    ]);
    assert_eq!(format!("[\n{}\n]", ours.join(",\n")), theirs.trim());
}

#[test]
fn create_overlay_inherits_cluster_size_and_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=4k",
        s(&base),
        "16M",
    ]);
    let ov = dir.path().join("ov.qcow2");
    nimbus_disk::create_qcow2(
        &ov,
        None,
        &Qcow2Options {
            backing: Some(("base.qcow2".into(), Format::Qcow2)),
            cluster_size: None,
        },
    )
    .unwrap();
    qemu_img(&["check", s(&ov)]);
    let ours = nimbus_disk::info(&ov, None).unwrap();
    assert_eq!(ours.cluster_size, Some(4096));
    assert_eq!(ours.virtual_size, 16 * MIB);
    // Same header facts as qemu-img's own overlay.
    let q = dir.path().join("q.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        "cluster_size=4k",
        "-b",
        "base.qcow2",
        "-F",
        "qcow2",
        s(&q),
    ]);
    let theirs = nimbus_disk::info(&q, None).unwrap();
    assert_eq!(
        (
            ours.backing_filename,
            ours.backing_filename_format,
            ours.qcow2
        ),
        (
            theirs.backing_filename,
            theirs.backing_filename_format,
            theirs.qcow2
        )
    );
    // A plain image with an explicit cluster size.
    let p = dir.path().join("p.qcow2");
    nimbus_disk::create_qcow2(
        &p,
        Some(3 * MIB),
        &Qcow2Options {
            backing: None,
            cluster_size: Some(2 * MIB),
        },
    )
    .unwrap();
    qemu_img(&["check", s(&p)]);
    assert_eq!(
        nimbus_disk::info(&p, None).unwrap().cluster_size,
        Some(2 * MIB)
    );
}

#[test]
fn resize_grows_and_refuses_shrink() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("r.qcow2");
    qemu_img(&["create", "-f", "qcow2", s(&q), "1M"]);
    qemu_io_write(&q, "qcow2", 0, MIB, 7);
    let deny = BackingPolicy::deny_all();
    assert_eq!(
        nimbus_disk::resize(&q, Format::Qcow2, &deny, SizeChange::Grow(3 * MIB), false).unwrap(),
        4 * MIB
    );
    qemu_img(&["check", s(&q)]);
    let flat = qemu_flatten(&q, "qcow2", dir.path());
    assert_eq!(flat.len() as u64, 4 * MIB);
    assert!(
        flat[..MIB as usize].iter().all(|&b| b == 7)
            && flat[MIB as usize..].iter().all(|&b| b == 0)
    );
    let err =
        nimbus_disk::resize(&q, Format::Qcow2, &deny, SizeChange::To(MIB), false).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotAllowed);
    let r = dir.path().join("r.raw");
    nimbus_disk::create_raw(&r, MIB).unwrap();
    nimbus_disk::resize(&r, Format::Raw, &deny, SizeChange::To(1 << 30), false).unwrap();
    let info = nimbus_disk::info(&r, Some(Format::Raw)).unwrap();
    assert_eq!(info.virtual_size, 1 << 30);
    assert!(info.actual_size < MIB);
    nimbus_disk::resize(&r, Format::Raw, &deny, SizeChange::Shrink(1 << 29), true).unwrap();
    assert_eq!(std::fs::metadata(&r).unwrap().len(), 1 << 29);
}

/// Sets the 16-bit refcount of host cluster `cluster` in a 64 KiB-cluster
/// image made by qemu-img (first refcount block only).
pub fn poke_refcount(path: &Path, cluster: u64, value: u16) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, 48).unwrap();
    let table = u64::from_be_bytes(b);
    f.read_exact_at(&mut b, table).unwrap();
    let block = u64::from_be_bytes(b);
    f.write_all_at(&value.to_be_bytes(), block + cluster * 2)
        .unwrap();
}

#[test]
fn check_exit_codes_match_qemu_img() {
    let dir = tempfile::tempdir().unwrap();
    let q = dir.path().join("c.qcow2");
    qemu_img(&["create", "-f", "qcow2", s(&q), "4M"]);
    qemu_io_write(&q, "qcow2", 0, 2 * MIB, 1);
    assert_eq!(
        nimbus_disk::check(&q, Format::Qcow2).unwrap().exit_code(),
        0
    );
    // A leak: a refcount on a cluster nothing references.
    let leak = dir.path().join("leak.qcow2");
    std::fs::copy(&q, &leak).unwrap();
    let len = std::fs::metadata(&leak)
        .unwrap()
        .len()
        .next_multiple_of(65536);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&leak)
        .unwrap()
        .set_len(len + 65536)
        .unwrap();
    poke_refcount(&leak, len / 65536, 1);
    assert_eq!(status("qemu-img", &["check", s(&leak)]), 3);
    let r = nimbus_disk::check(&leak, Format::Qcow2).unwrap();
    assert_eq!((r.exit_code(), r.leaks), (3, 1));
    // A corruption: an in-use data cluster with refcount 0.
    let bad = dir.path().join("bad.qcow2");
    std::fs::copy(&q, &bad).unwrap();
    poke_refcount(&bad, 5, 0);
    assert_eq!(status("qemu-img", &["check", s(&bad)]), 2);
    assert_eq!(
        nimbus_disk::check(&bad, Format::Qcow2).unwrap().exit_code(),
        2
    );
    // Images with snapshots count shared clusters.
    qemu_img(&["snapshot", "-c", "s1", s(&q)]);
    qemu_io_write(&q, "qcow2", 0, 65536, 2);
    assert_eq!(
        nimbus_disk::check(&q, Format::Qcow2).unwrap().exit_code(),
        0
    );
}
