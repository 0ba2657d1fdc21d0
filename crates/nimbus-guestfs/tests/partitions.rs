//! Partition tables as sfdisk writes them, and hostile ones.

use nimbus_guestfs::ErrorKind;
use nimbus_guestfs::partition::{Partition, TableKind, partitions};

use crate::support::*;

fn table(path: &std::path::Path) -> nimbus_guestfs::Result<Option<(TableKind, Vec<Partition>)>> {
    partitions(open(path, false).as_ref())
}

#[test]
fn sfdisk_layouts_match_sfdisk_dump() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("d.img");
    make_disk(
        &disk,
        64,
        "label: dos\nstart=2048, size=4096, type=83\nstart=8192, size=4096, type=83\nstart=16384, size=100000, type=f\nstart=18432, size=2048, type=83\nstart=22528, size=2048, type=82\nstart=26624, size=4096, type=83\n",
    );
    let (kind, parts) = table(&disk).unwrap().unwrap();
    assert_eq!(kind, TableKind::Mbr);
    let got: Vec<(u32, u64, u64)> = parts
        .iter()
        .map(|p| (p.number, p.start / 512, p.size / 512))
        .collect();
    assert_eq!(
        got,
        [
            (1, 2048, 4096),
            (2, 8192, 4096),
            (5, 18432, 2048),
            (6, 22528, 2048),
            (7, 26624, 4096)
        ]
    );

    make_disk(
        &disk,
        64,
        "label: gpt\nstart=2048, size=4096\nstart=8192, size=8192\nstart=20480, size=2048\n",
    );
    let (kind, parts) = table(&disk).unwrap().unwrap();
    assert_eq!(kind, TableKind::Gpt);
    let got: Vec<(u32, u64, u64)> = parts
        .iter()
        .map(|p| (p.number, p.start / 512, p.size / 512))
        .collect();
    assert_eq!(got, [(1, 2048, 4096), (2, 8192, 8192), (3, 20480, 2048)]);
}

#[test]
fn bare_filesystem_has_no_table() {
    let s = Scratch::new();
    let fs = s.path("fs.img");
    make_fs(&fs, 16, EXT4, &s.tree());
    assert!(table(&fs).unwrap().is_none());
}

fn write_at(path: &std::path::Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .write_all_at(bytes, offset)
        .unwrap();
}

#[test]
fn ebr_chain_that_loops_or_escapes_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("d.img");
    make_disk(
        &disk,
        64,
        "label: dos\nstart=2048, size=100000, type=5\nstart=4096, size=2048, type=83\nstart=8192, size=2048, type=83\n",
    );
    assert_eq!(table(&disk).unwrap().unwrap().1.len(), 2);
    // Point the second EBR's link back to the first EBR (offset 0 of the
    // extended partition is the start, so use a backward relative link).
    let second_ebr = {
        let bytes = std::fs::read(&disk).unwrap();
        let ebr = 2048 * 512;
        let rel =
            u32::from_le_bytes(bytes[ebr + 462 + 8..ebr + 462 + 12].try_into().unwrap()) as u64;
        (2048 + rel) * 512
    };
    write_at(&disk, second_ebr + 462 + 4, &[0x05]);
    write_at(&disk, second_ebr + 462 + 8, &1u32.to_le_bytes());
    let err = table(&disk).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Corrupt);
    assert!(err.message.contains("does not move forward"), "{err}");

    // A logical partition that runs past the extended partition.
    make_disk(
        &disk,
        64,
        "label: dos\nstart=2048, size=100000, type=5\nstart=4096, size=2048, type=83\n",
    );
    write_at(&disk, 2048 * 512 + 446 + 12, &10_000_000u32.to_le_bytes());
    assert_eq!(table(&disk).unwrap_err().kind, ErrorKind::Corrupt);
}

#[test]
fn primary_partition_beyond_the_disk_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("d.img");
    make_disk(&disk, 16, "label: dos\nstart=2048, size=4096, type=83\n");
    write_at(&disk, 446 + 12, &u32::MAX.to_le_bytes());
    let err = table(&disk).unwrap_err();
    assert!(err.message.contains("outside"), "{err}");
}

#[test]
fn gpt_with_bad_checksums_or_absurd_entry_arrays_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("d.img");
    make_disk(&disk, 16, "label: gpt\nstart=2048, size=4096\n");
    write_at(&disk, 1024 + 2 * 512, b"x"); // first entry's bytes, array CRC now wrong
    assert!(
        table(&disk)
            .unwrap_err()
            .message
            .contains("entry array checksum")
    );

    make_disk(&disk, 16, "label: gpt\nstart=2048, size=4096\n");
    write_at(&disk, 512 + 80, &u32::MAX.to_le_bytes()); // entry count; header CRC wrong
    assert!(
        table(&disk)
            .unwrap_err()
            .message
            .contains("header checksum")
    );
}

#[test]
fn gpt_entry_array_over_the_cap_is_refused_before_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("d.img");
    make_disk(&disk, 16, "label: gpt\nstart=2048, size=4096\n");
    // 2^20 entries of 128 bytes (128 MiB), with a header checksum that verifies.
    let fix = "import sys,struct,zlib\nf=open(sys.argv[1],'r+b');f.seek(512);h=bytearray(f.read(92))\nh[80:84]=struct.pack('<I',1<<20);h[16:20]=b'\\0'*4\nh[16:20]=struct.pack('<I',zlib.crc32(bytes(h)))\nf.seek(512);f.write(h)\n";
    run(std::process::Command::new("python3")
        .args(["-c", fix])
        .arg(&disk));
    let err = table(&disk).unwrap_err();
    assert!(err.message.contains("too large"), "{err}");
}
