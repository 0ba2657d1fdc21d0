//! security-cases.md 34, 35, 38, 39: hostile paths, symlinks and
//! filesystems give a clear error, and neither guest nor host changes.

use std::os::unix::fs::symlink;
use std::process::Command;

use nimbus_guestfs::{ErrorKind, InjectPartition, InjectRequest, Item, Vfs, inject_data};

use crate::support::*;

fn files_request(path: &str, content: &[u8]) -> InjectRequest {
    InjectRequest {
        files: vec![(path.to_string(), content.to_vec())],
        mandatory: vec![Item::Files],
        ..Default::default()
    }
}

#[test]
fn dotdot_paths_are_rejected_and_nothing_changes() {
    let s = Scratch::new();
    let fs = s.path("fs.img");
    make_fs(&fs, 16, EXT4, &s.tree());
    let before = std::fs::read(&fs).unwrap();
    for path in [
        "/etc/../../../../etc/passwd",
        "etc/passwd",
        "/etc/pa\0sswd",
        "/",
    ] {
        let err = inject_data(
            open(&fs, true),
            InjectPartition::WholeDisk,
            &files_request(path, b"pwned"),
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{path:?}: {err}");
    }
    assert_eq!(std::fs::read(&fs).unwrap(), before, "the image changed");
}

#[test]
fn escaping_symlinks_resolve_inside_the_guest() {
    let s = Scratch::new();
    let host = tempfile::tempdir().unwrap();
    let host_dir = host.path().to_str().unwrap().to_string();
    // /root/.ssh -> ../../../../<host dir>, and /opt -> /<host dir> (absolute).
    symlink(
        format!("../../../../..{host_dir}"),
        s.tree().join("root/.ssh"),
    )
    .unwrap();
    symlink(&host_dir, s.tree().join("opt")).unwrap();
    let fs = s.path("fs.img");
    make_fs(&fs, 16, EXT4, &s.tree());

    let mut req = files_request("/opt/app.conf", b"inside");
    req.key = Some("ssh-ed25519 AAAA k".into());
    req.mandatory.push(Item::Key);
    inject_data(open(&fs, true), InjectPartition::WholeDisk, &req).unwrap();

    assert_eq!(
        std::fs::read_dir(host.path()).unwrap().count(),
        0,
        "a host file was written"
    );
    assert_fsck_clean(&fs);
    // Both links resolved to the same directory inside the guest.
    let guest = format!("{host_dir}/authorized_keys");
    assert!(
        String::from_utf8(debugfs_cat(&fs, &guest))
            .unwrap()
            .contains("ssh-ed25519 AAAA k")
    );
    assert_eq!(debugfs_cat(&fs, &format!("{host_dir}/app.conf")), b"inside");
}

#[test]
fn symlink_at_the_final_component_is_refused() {
    let s = Scratch::new();
    symlink("/etc/passwd", s.tree().join("meta.js")).unwrap();
    symlink("/etc/shadow", s.tree().join("etc/motd")).unwrap();
    let fs = s.path("fs.img");
    make_fs(&fs, 16, EXT4, &s.tree());
    let passwd = debugfs_cat(&fs, "/etc/passwd");

    let req = InjectRequest {
        metadata: vec![("k".into(), "v".into())],
        mandatory: vec![Item::Metadata],
        ..Default::default()
    };
    let err = inject_data(open(&fs, true), InjectPartition::WholeDisk, &req).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotAllowed);
    assert!(err.to_string().contains("symlink"), "{err}");
    let err = inject_data(
        open(&fs, true),
        InjectPartition::WholeDisk,
        &files_request("/etc/motd", b"x"),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotAllowed);
    assert_eq!(debugfs_cat(&fs, "/etc/passwd"), passwd);
    assert!(debugfs_cat(&fs, "/etc/shadow").starts_with(b"root:*:"));
    assert_fsck_clean(&fs);
}

#[test]
fn symlink_loops_are_eloop() {
    let s = Scratch::new();
    symlink("/b", s.tree().join("a")).unwrap();
    symlink("/a", s.tree().join("b")).unwrap();
    symlink("self", s.tree().join("self")).unwrap();
    let fs = s.path("fs.img");
    make_fs(&fs, 16, EXT4, &s.tree());
    let vfs = Vfs::setup(open(&fs, false), InjectPartition::WholeDisk, false).unwrap();
    for path in ["/a", "/a/x", "/self/x"] {
        let err = vfs.read_file(path).unwrap_err();
        assert!(err.message.contains("ELOOP"), "{path}: {err}");
    }
    let err = inject_data(
        open(&fs, true),
        InjectPartition::WholeDisk,
        &files_request("/a/new", b"x"),
    )
    .unwrap_err();
    assert!(err.message.contains("ELOOP"), "{err}");
}

#[test]
fn directory_cycles_do_not_hang() {
    let s = Scratch::new();
    let fs = s.path("fs.img");
    make_fs(&fs, 16, EXT2, &s.tree());
    // A hard link from /etc/loop back to / makes the tree a cycle.
    run(Command::new("debugfs")
        .args(["-w", "-R", "ln / /etc/loop"])
        .arg(&fs));
    let vfs = Vfs::setup(open(&fs, false), InjectPartition::WholeDisk, false).unwrap();
    let deep = "/etc/loop".repeat(400) + "/etc/passwd";
    assert!(vfs.read_file(&deep).unwrap().starts_with(b"root:"));
    let too_deep = "/etc/loop".repeat(500) + "/etc/passwd";
    assert_eq!(
        vfs.read_file(&too_deep).unwrap_err().kind,
        ErrorKind::InvalidInput
    );
    drop(vfs);
    let report = inject_data(
        open(&fs, true),
        InjectPartition::Inspect,
        &files_request("/etc/loop/x", b"y"),
    )
    .unwrap();
    assert!(report.complete());
}

#[test]
fn absurd_file_size_is_refused_without_allocating_it() {
    let s = Scratch::new();
    let fs = s.path("fs.img");
    make_fs(&fs, 16, EXT4_NO_CSUM, &s.tree());
    run(Command::new("debugfs")
        .args(["-w", "-R", "sif /etc/shadow size 0x7fffffffffff"])
        .arg(&fs));
    let req = InjectRequest {
        admin_password: Some("pw".into()),
        mandatory: vec![Item::AdminPassword],
        ..Default::default()
    };
    let err = inject_data(open(&fs, true), InjectPartition::WholeDisk, &req).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotAllowed, "{err}");
    assert!(err.message.contains("cap"), "{err}");
}

#[test]
fn oversized_injected_content_is_refused() {
    let s = Scratch::new();
    let fs = s.path("fs.img");
    make_fs(&fs, 64, EXT4, &s.tree());
    let big = vec![b'x'; nimbus_guestfs::MAX_FILE_BYTES as usize + 1];
    let err = inject_data(
        open(&fs, true),
        InjectPartition::WholeDisk,
        &files_request("/big", &big),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotAllowed);
    assert_fsck_clean(&fs);
}

fn setup_err(fs: &std::path::Path) -> nimbus_guestfs::Error {
    Vfs::setup(open(fs, true), InjectPartition::WholeDisk, true).unwrap_err()
}

#[test]
fn bad_superblock_is_a_clean_error() {
    let s = Scratch::new();
    let fs = s.path("fs.img");
    make_fs(&fs, 16, EXT4, &s.tree());
    let mut bytes = std::fs::read(&fs).unwrap();
    bytes[1024 + 0x38] = 0; // magic
    std::fs::write(&fs, &bytes).unwrap();
    assert!(setup_err(&fs).message.contains("bad superblock magic"));

    // Absurd geometry: blocks count far beyond the device, log block size 40.
    make_fs(&fs, 16, EXT4_NO_CSUM, &s.tree());
    let mut bytes = std::fs::read(&fs).unwrap();
    bytes[1024 + 0x18..1024 + 0x1c].copy_from_slice(&40u32.to_le_bytes());
    std::fs::write(&fs, &bytes).unwrap();
    let err = setup_err(&fs);
    assert!(
        matches!(err.kind, ErrorKind::Corrupt | ErrorKind::Unsupported),
        "{err}"
    );
    make_fs(&fs, 16, EXT4_NO_CSUM, &s.tree());
    let mut bytes = std::fs::read(&fs).unwrap();
    bytes[1024 + 0x04..1024 + 0x08].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&fs, &bytes).unwrap();
    let err = setup_err(&fs);
    assert!(
        matches!(err.kind, ErrorKind::Corrupt | ErrorKind::Unsupported),
        "{err}"
    );
}

#[test]
fn unknown_incompat_feature_is_refused() {
    let s = Scratch::new();
    let fs = s.path("fs.img");
    make_fs(&fs, 16, EXT4_NO_CSUM, &s.tree());
    let mut bytes = std::fs::read(&fs).unwrap();
    let at = 1024 + 0x60;
    let incompat = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) | 0x4000_0000;
    bytes[at..at + 4].copy_from_slice(&incompat.to_le_bytes());
    std::fs::write(&fs, &bytes).unwrap();
    let before = bytes;
    let err = setup_err(&fs);
    assert_eq!(err.kind, ErrorKind::Unsupported, "{err}");
    assert_eq!(std::fs::read(&fs).unwrap(), before);
}

#[test]
fn journal_needing_recovery_is_refused() {
    let s = Scratch::new();
    let fs = s.path("fs.img");
    make_fs(&fs, 32, EXT4, &s.tree());
    run(Command::new("debugfs")
        .args(["-w", "-R", "feature needs_recovery"])
        .arg(&fs));
    let before = std::fs::read(&fs).unwrap();
    let err = setup_err(&fs);
    assert!(err.message.contains("journal needs recovery"), "{err}");
    assert_eq!(std::fs::read(&fs).unwrap(), before);
}

#[test]
fn bad_metadata_checksums_are_refused() {
    let s = Scratch::new();
    let fs = s.path("fs.img");
    make_fs(&fs, 16, EXT4, &s.tree());
    let mut bytes = std::fs::read(&fs).unwrap();
    bytes[1024 + 0x3fc] ^= 0xff; // superblock checksum
    std::fs::write(&fs, &bytes).unwrap();
    let err = setup_err(&fs);
    assert_eq!(err.kind, ErrorKind::Corrupt, "{err}");

    // A corrupted inode (of /etc/passwd): its checksum no longer verifies.
    make_fs(&fs, 16, EXT4, &s.tree());
    run(Command::new("debugfs")
        .args(["-w", "-R", "sif /etc/passwd checksum 0x1234"])
        .arg(&fs));
    let vfs = Vfs::setup(open(&fs, true), InjectPartition::WholeDisk, true).unwrap();
    let err = vfs.read_file("/etc/passwd").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Corrupt, "{err}");
}

#[test]
fn random_and_truncated_images_give_errors_not_panics() {
    let s = Scratch::new();
    let fs = s.path("fs.img");
    make_fs(&fs, 16, EXT4, &s.tree());
    let good = std::fs::read(&fs).unwrap();
    // Truncated to 64 KiB: the superblock is there, the rest is not.
    std::fs::write(&fs, &good[..65536]).unwrap();
    assert!(Vfs::setup(open(&fs, false), InjectPartition::WholeDisk, false).is_err());
    // Bit flips across the metadata area: any outcome but a panic.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..64 {
        let mut bytes = good.clone();
        for _ in 0..32 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = 1024 + (seed % (512 * 1024)) as usize;
            bytes[at] ^= 1 << (seed % 8);
        }
        std::fs::write(&fs, &bytes).unwrap();
        if let Ok(vfs) = Vfs::setup(open(&fs, false), InjectPartition::WholeDisk, false) {
            let _ = vfs.read_file("/etc/passwd");
            let _ = vfs.has_file("/root/.ssh");
        }
    }
}
