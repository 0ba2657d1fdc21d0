//! Ephemeral and swap disks, checked with e2fsck, blkid and swaplabel.

use std::process::Command;

use crate::support::*;

#[test]
fn ephemeral_disk_is_a_clean_empty_ext4_labelled_ephemeral0() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.eph0");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    nimbus_guestfs::create_ephemeral_ext4(open(&path, true), "ephemeral0").unwrap();
    assert_fsck_clean(&path);
    let blkid = run(Command::new("blkid").args(["-o", "export"]).arg(&path));
    assert!(blkid.contains("LABEL=ephemeral0\n"), "{blkid}");
    assert!(blkid.contains("TYPE=ext4\n"), "{blkid}");
    let ls = run(Command::new("debugfs").args(["-R", "ls -l /"]).arg(&path));
    assert!(ls.contains("lost+found"), "{ls}");
    assert!(!ls.contains("nimbus-journal"), "{ls}");
    // A journal, as mkfs -t ext4 makes: 4096 blocks for a 256 MiB disk,
    // clean, owned by inode 8.
    let head = run(Command::new("dumpe2fs").arg("-h").arg(&path));
    assert!(head.contains("has_journal"), "{head}");
    assert!(head.contains("Journal inode:            8"), "{head}");
    assert!(
        head.contains("Journal backup:           inode blocks"),
        "{head}"
    );
    let log = run(Command::new("debugfs")
        .args(["-R", "logdump -S"])
        .arg(&path));
    assert!(log.contains("Total journal blocks:     4096"), "{log}");
    assert!(log.contains("Journal starts at block 0"), "{log}");
    let j = run(Command::new("debugfs").args(["-R", "stat <8>"]).arg(&path));
    assert!(j.contains("Type: regular    Mode:  0600"), "{j}");
    assert!(j.contains("Size: 16777216"), "{j}");
    assert!(
        nimbus_guestfs::create_ephemeral_ext4(open(&path, true), "a-label-longer-than-16").is_err()
    );
}

#[test]
fn swap_disk_has_the_signature_mkswap_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.swap");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    nimbus_guestfs::create_swap(open(&path, true).as_ref(), Some("swap0")).unwrap();
    let blkid = run(Command::new("blkid").args(["-o", "export"]).arg(&path));
    assert!(blkid.contains("TYPE=swap\n"), "{blkid}");
    assert!(blkid.contains("LABEL=swap0\n"), "{blkid}");
    let label = run(Command::new("swaplabel").arg(&path));
    assert!(
        label.contains("UUID:") && label.contains("LABEL: swap0"),
        "{label}"
    );
    // The header's last page matches the size (what swapon checks).
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(
        u32::from_le_bytes(bytes[1028..1032].try_into().unwrap()),
        (64 << 20) / 4096 - 1
    );

    let tiny = dir.path().join("tiny");
    std::fs::File::create(&tiny).unwrap().set_len(8192).unwrap();
    assert!(nimbus_guestfs::create_swap(open(&tiny, true).as_ref(), None).is_err());
}
