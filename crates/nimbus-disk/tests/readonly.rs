//! Images only the read-only reader opens: zstd-compressed clusters,
//! extended L2 entries (subclusters) and the dirty bit. Each reads back
//! exactly as `qemu-img convert -O raw` sees it, and writing is refused
//! with a message that names the feature.

use std::path::{Path, PathBuf};
use std::process::Command;

use nimbus_disk::{BackingPolicy, BlockDevice, ConvertOptions, ErrorKind, Format, open};

use crate::interop::{poke_refcount, read_all, source_raw};
use crate::support::*;

const MIB: u64 = 1 << 20;

fn allow(dir: &Path) -> BackingPolicy {
    BackingPolicy::allow_dirs([dir.to_path_buf()])
}

fn write_refused(path: &Path, policy: &BackingPolicy, needle: &str) {
    let err = open(path, Format::Qcow2, policy, true).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains(needle), "{err}");
}

/// Our convert to raw equals qemu-img's, and to qcow2 compares equal.
fn convert_agrees(img: &Path, policy: &BackingPolicy, dir: &Path) {
    let name = img.file_name().unwrap().to_string_lossy();
    for (fmt, ext) in [(Format::Raw, "raw"), (Format::Qcow2, "qcow2")] {
        let out = dir.join(format!("ours-{name}.{ext}"));
        let opts = ConvertOptions::default();
        nimbus_disk::convert(img, Format::Qcow2, policy, &out, fmt, &opts, &mut |_, _| {}).unwrap();
        if fmt == Format::Raw {
            assert!(std::fs::read(&out).unwrap() == qemu_flatten(img, "qcow2", dir));
        } else {
            qemu_img(&["check", s(&out)]);
            qemu_img(&["compare", "-f", "qcow2", "-F", "qcow2", s(img), s(&out)]);
        }
    }
}

fn zstd_image(dir: &Path, src: &Path, cluster: &str) -> PathBuf {
    let out = dir.join(format!("zstd-{cluster}.qcow2"));
    qemu_img(&[
        "convert",
        "-c",
        "-f",
        "raw",
        "-O",
        "qcow2",
        "-o",
        &format!("compression_type=zstd,cluster_size={cluster}"),
        s(src),
        s(&out),
    ]);
    out
}

#[test]
fn zstd_compressed_images_read_like_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_raw(dir.path(), 3 * MIB + 12345);
    let policy = BackingPolicy::deny_all();
    for cluster in ["4k", "64k", "2M"] {
        let img = zstd_image(dir.path(), &src, cluster);
        let expect = qemu_flatten(&img, "qcow2", dir.path());
        assert!(
            read_all(&img, Format::Qcow2, &policy) == expect,
            "zstd {cluster} differs"
        );
        let info = nimbus_disk::info(&img, Some(Format::Qcow2)).unwrap();
        assert!(info.to_json(0).contains("\"compression-type\": \"zstd\""));
        write_refused(&img, &policy, "zstd");
        let ours = nimbus_disk::check(&img, Format::Qcow2).unwrap();
        assert_eq!(ours.exit_code(), 0, "{:?}", ours.messages);
        assert!(ours.compressed_clusters > 0);
    }
    convert_agrees(&zstd_image(dir.path(), &src, "64k"), &policy, dir.path());
}

#[test]
fn overlay_over_a_zstd_base_reads_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = source_raw(dir.path(), 4 * MIB);
    let base = zstd_image(dir.path(), &src, "64k");
    let top = dir.path().join("top.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-b",
        s(&base),
        "-F",
        "qcow2",
        s(&top),
    ]);
    qemu_io_write(&top, "qcow2", MIB + 100, 5000, 0x5a);
    let policy = allow(dir.path());
    assert!(read_all(&top, Format::Qcow2, &policy) == qemu_flatten(&top, "qcow2", dir.path()));
    convert_agrees(&top, &policy, dir.path());
    // Writing into the overlay would need imago to read the base: refused,
    // naming the base.
    write_refused(&top, &policy, "zstd-64k.qcow2");
}

#[test]
fn extended_l2_images_read_like_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.raw");
    std::fs::write(&base, pattern(4 * MIB as usize, 5)).unwrap();
    let policy = allow(dir.path());
    for cluster in ["64k", "2M"] {
        let img = dir.path().join(format!("ext-{cluster}.qcow2"));
        qemu_img(&[
            "create",
            "-f",
            "qcow2",
            "-o",
            &format!("extended_l2=on,cluster_size={cluster}"),
            "-b",
            s(&base),
            "-F",
            "raw",
            s(&img),
        ]);
        // Partial subclusters, a zeroed range and an allocated-then-zeroed
        // range, over a backing file that shows through the rest.
        for (off, len, byte) in [
            (1000u64, 3000u64, 1u8),
            (200_000, 70_000, 2),
            (3 * MIB, 9000, 3),
        ] {
            qemu_io_write(&img, "qcow2", off, len, byte);
        }
        for cmd in [
            "write -z 40960 8192",
            "write -z 3145728 4096",
            "write -z -u 2097152 131072",
        ] {
            run("qemu-io", &["-f", "qcow2", "-c", cmd, s(&img)]);
        }
        let expect = qemu_flatten(&img, "qcow2", dir.path());
        assert!(
            read_all(&img, Format::Qcow2, &policy) == expect,
            "extended L2 {cluster} differs"
        );
        write_refused(&img, &policy, "extended L2");
        convert_agrees(&img, &policy, dir.path());
        let ours = nimbus_disk::check(&img, Format::Qcow2).unwrap();
        assert_eq!(ours.exit_code(), 0, "{:?}", ours.messages);
        assert!(ours.allocated_clusters > 0);
        // A leaked cluster is found in an extended-L2 image too.
        poke_last_refcount(&img);
        let ours = nimbus_disk::check(&img, Format::Qcow2).unwrap();
        assert_eq!(
            i32::from(ours.exit_code()),
            status("qemu-img", &["check", s(&img)])
        );
        assert_eq!(ours.exit_code(), 3, "{:?}", ours.messages);
    }
    // Compressed clusters in an extended-L2 image.
    let src = source_raw(dir.path(), 3 * MIB);
    let c = dir.path().join("ext-c.qcow2");
    qemu_img(&[
        "convert",
        "-c",
        "-f",
        "raw",
        "-O",
        "qcow2",
        "-o",
        "extended_l2=on",
        s(&src),
        s(&c),
    ]);
    assert!(read_all(&c, Format::Qcow2, &policy) == qemu_flatten(&c, "qcow2", dir.path()));
}

/// Appends a cluster and gives it a refcount of 1 without a reference.
fn poke_last_refcount(path: &Path) {
    let info = nimbus_disk::info(path, Some(Format::Qcow2)).unwrap();
    let cs = info.cluster_size.unwrap();
    let len = std::fs::metadata(path).unwrap().len().next_multiple_of(cs);
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len + cs).unwrap();
    poke_refcount(path, len / cs, 1);
}

/// Sets incompatible feature bit 0 (dirty) in a v3 header.
fn set_dirty(path: &Path) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 8];
    f.read_exact_at(&mut b, 72).unwrap();
    let v = u64::from_be_bytes(b) | 1;
    f.write_all_at(&v.to_be_bytes(), 72).unwrap();
}

#[test]
fn dirty_images_open_read_only_and_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let policy = BackingPolicy::deny_all();
    // A byte-patched dirty bit over consistent refcounts.
    let img = dir.path().join("dirty.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        "lazy_refcounts=on",
        s(&img),
        "4M",
    ]);
    qemu_io_write(&img, "qcow2", 70_000, 200_000, 0x33);
    set_dirty(&img);
    // And one QEMU left dirty itself: it died with lazy refcounts pending.
    let died = dir.path().join("died.qcow2");
    qemu_img(&[
        "create",
        "-f",
        "qcow2",
        "-o",
        "lazy_refcounts=on",
        s(&died),
        "4M",
    ]);
    let st = Command::new("qemu-io")
        .args([
            "-f",
            "qcow2",
            "-c",
            "write -P 7 0 1M",
            "-c",
            "flush",
            "-c",
            "abort",
            s(&died),
        ])
        .output()
        .unwrap();
    assert!(!st.status.success(), "qemu-io abort should kill it");
    for p in [&img, &died] {
        let before = std::fs::read(p).unwrap();
        let info = nimbus_disk::info(p, Some(Format::Qcow2)).unwrap();
        assert!(
            info.to_json(0).contains("\"dirty-flag\": true"),
            "{}",
            info.to_json(0)
        );
        assert!(read_all(p, Format::Qcow2, &policy) == qemu_flatten(p, "qcow2", dir.path()));
        convert_agrees(p, &policy, dir.path());
        write_refused(p, &policy, "dirty");
        write_refused(p, &policy, "qemu-img check -r all");
        // Reading left it as it was, and our check says what qemu-img's does.
        assert!(std::fs::read(p).unwrap() == before);
        let ours = nimbus_disk::check(p, Format::Qcow2).unwrap();
        assert_eq!(
            i32::from(ours.exit_code()),
            status("qemu-img", &["check", s(p)]),
            "{:?}",
            ours.messages
        );
    }
    // The disk is usable again once repaired.
    qemu_img(&["check", "-r", "all", s(&died)]);
    let d = open(&died, Format::Qcow2, &policy, true).unwrap();
    d.write_at(&[1, 2, 3], 5).unwrap();
}
