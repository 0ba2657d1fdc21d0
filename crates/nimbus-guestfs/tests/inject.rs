//! nova's injection into real images, judged by e2fsck, debugfs and crypt.

use std::path::Path;

use nimbus_guestfs::{
    InjectPartition, InjectRequest, Interface, Item, NetworkInfo, Vfs, inject_data,
};

use crate::support::*;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO3yYg6Mvyq6aR4u0ODcCZWQfA2uRQjS1pX/MOMfTB2H test@nimbus";
const PASSWORD: &str = "s3cret-Passw0rd";

pub fn full_request() -> InjectRequest {
    InjectRequest {
        key: Some(KEY.to_string()),
        net: Some(NetworkInfo {
            interfaces: vec![Interface {
                hwaddress: Some("fa:16:3e:00:00:01".into()),
                address: Some("10.0.0.5".into()),
                netmask: Some("255.255.255.0".into()),
                broadcast: Some("10.0.0.255".into()),
                gateway: Some("10.0.0.1".into()),
                dns: vec!["10.0.0.2".into()],
                ..Default::default()
            }],
        }),
        metadata: vec![("role".into(), "web".into()), ("tier".into(), "2".into())],
        admin_password: Some(PASSWORD.to_string()),
        files: vec![("/opt/app/conf.txt".into(), b"hello from nimbus\n".to_vec())],
        mandatory: vec![
            Item::Key,
            Item::Net,
            Item::Metadata,
            Item::AdminPassword,
            Item::Files,
        ],
        libvirt_virt_type: None,
    }
}

/// Every check a user would make on a guest filesystem after `full_request`.
pub fn assert_injected(fs: &Path) {
    assert_fsck_clean(fs);
    assert_eq!(debugfs_stat(fs, "/root/.ssh"), (0o700, 0, 0));
    assert_eq!(
        debugfs_stat(fs, "/root/.ssh/authorized_keys"),
        (0o600, 0, 0)
    );
    let keys = String::from_utf8(debugfs_cat(fs, "/root/.ssh/authorized_keys")).unwrap();
    assert_eq!(
        keys,
        format!("\n# The following ssh key was injected by Nova\n{KEY}\n")
    );
    let interfaces = String::from_utf8(debugfs_cat(fs, "/etc/network/interfaces")).unwrap();
    assert!(
        interfaces.contains(
            "iface eth0 inet static\n    hwaddress ether fa:16:3e:00:00:01\n    address 10.0.0.5\n"
        ),
        "{interfaces}"
    );
    assert!(
        interfaces.contains("    gateway 10.0.0.1\n    dns-nameservers 10.0.0.2\n"),
        "{interfaces}"
    );
    assert_eq!(debugfs_stat(fs, "/etc/network"), (0o744, 0, 0));
    assert_eq!(
        debugfs_cat(fs, "/meta.js"),
        br#"{"role": "web", "tier": "2"}"#
    );
    let shadow = debugfs_cat(fs, "/etc/shadow");
    let hash = root_hash(&shadow);
    assert!(hash.starts_with("$6$"), "{hash}");
    assert!(
        crypt_verifies(PASSWORD, &hash),
        "glibc crypt rejects {hash}"
    );
    assert!(!crypt_verifies("wrong", &hash));
    let rest: Vec<&str> = std::str::from_utf8(&shadow)
        .unwrap()
        .lines()
        .skip(1)
        .collect();
    assert_eq!(
        rest,
        ["daemon:*:19000:0:99999:7:::", "alice:!:19000:0:99999:7:::"]
    );
    assert!(
        std::str::from_utf8(&shadow)
            .unwrap()
            .starts_with(&format!("root:{hash}:19000:0:99999:7:::\n"))
    );
    assert_eq!(debugfs_cat(fs, "/opt/app/conf.txt"), b"hello from nimbus\n");
    assert_eq!(debugfs_stat(fs, "/opt/app"), (0o744, 0, 0));
    assert_eq!(debugfs_stat(fs, "/opt/app/conf.txt"), (0o644, 0, 0));
}

fn whole_disk(features: (&str, &str)) {
    let s = Scratch::new();
    let fs = s.path("fs.img");
    make_fs(&fs, 32, features, &s.tree());
    let report = inject_data(open(&fs, true), InjectPartition::WholeDisk, &full_request()).unwrap();
    assert!(report.complete(), "{report:?}");
    assert_eq!(report.injected.len(), 5);
    assert_injected(&fs);
}

#[test]
fn ext2_whole_disk() {
    whole_disk(EXT2);
}

#[test]
fn ext3_whole_disk() {
    whole_disk(EXT3);
}

#[test]
fn ext4_whole_disk_64bit_csum_flex_bg_huge_file() {
    whole_disk(EXT4);
}

#[test]
fn ext4_without_metadata_csum() {
    whole_disk(EXT4_NO_CSUM);
}

/// An MBR disk: p1 a data filesystem, p2 extended, p5 (logical) the root.
fn mbr_with_logical(s: &Scratch) -> std::path::PathBuf {
    let disk = s.path("disk.img");
    make_disk(
        &disk,
        80,
        "label: dos\nstart=2048, size=32768, type=83\nstart=36864, size=126976, type=5\nstart=38912, size=65536, type=83\n",
    );
    let data = s.path("data.img");
    let empty = s.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    make_fs(&data, 16, EXT4, &empty);
    place(&data, &disk, 2048);
    let root = s.path("root.img");
    make_fs(&root, 32, EXT4, &s.tree());
    place(&root, &disk, 38912);
    disk
}

#[test]
fn mbr_logical_partition_by_number_and_by_inspection() {
    let s = Scratch::new();
    let disk = mbr_with_logical(&s);
    let parts = nimbus_guestfs::partition::partitions(open(&disk, false).as_ref())
        .unwrap()
        .unwrap()
        .1;
    let numbers: Vec<u32> = parts.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 5]);
    assert_eq!(parts[1].start, 38912 * 512);

    let report = inject_data(open(&disk, true), InjectPartition::Inspect, &full_request()).unwrap();
    assert_eq!(report.location.as_deref(), Some("partition 5"));
    let out = s.path("p5.img");
    extract(&disk, 38912, 65536, &out);
    assert_injected(&out);

    // Partition 1 is no OS root, and partition 3 does not exist.
    let mut req = full_request();
    req.files = vec![("/marker".into(), b"x".to_vec())];
    req.mandatory = vec![Item::Files];
    let err = inject_data(open(&disk, true), InjectPartition::Number(3), &req).unwrap_err();
    assert_eq!(err.kind, nimbus_guestfs::ErrorKind::NotFound);
}

#[test]
fn gpt_partition_2_by_number_and_by_inspection() {
    let s = Scratch::new();
    let disk = s.path("disk.img");
    make_disk(
        &disk,
        64,
        "label: gpt\nstart=2048, size=8192, type=L\nstart=10240, size=65536, type=L\n",
    );
    let root = s.path("root.img");
    make_fs(&root, 32, EXT4, &s.tree());
    place(&root, &disk, 10240);
    let before = std::fs::read(&disk).unwrap();

    let report = inject_data(
        open(&disk, true),
        InjectPartition::Number(2),
        &full_request(),
    )
    .unwrap();
    assert_eq!(report.location.as_deref(), Some("partition 2"));
    let out = s.path("p2.img");
    extract(&disk, 10240, 65536, &out);
    assert_injected(&out);
    // Nothing outside partition 2 changed.
    let after = std::fs::read(&disk).unwrap();
    assert_eq!(before[..10240 * 512], after[..10240 * 512]);
    assert_eq!(
        before[(10240 + 65536) * 512..],
        after[(10240 + 65536) * 512..]
    );

    // Inspection finds partition 2 too (partition 1 holds no filesystem).
    let vfs = Vfs::setup(open(&disk, false), InjectPartition::Inspect, false).unwrap();
    assert_eq!(vfs.location(), "partition 2");
    assert!(vfs.has_file("/root/.ssh/authorized_keys").unwrap());
}

#[test]
fn inspection_refuses_two_roots_and_no_root() {
    let s = Scratch::new();
    let disk = s.path("disk.img");
    make_disk(
        &disk,
        48,
        "label: gpt\nstart=2048, size=32768, type=L\nstart=34816, size=32768, type=L\n",
    );
    let root = s.path("root.img");
    make_fs(&root, 16, EXT4, &s.tree());
    place(&root, &disk, 2048);
    place(&root, &disk, 34816);
    let err = Vfs::setup(open(&disk, false), InjectPartition::Inspect, false).unwrap_err();
    assert!(err.message.contains("2 operating system roots"), "{err}");

    let blank = s.path("blank.img");
    make_disk(&blank, 48, "label: gpt\nstart=2048, size=32768, type=L\n");
    let err = Vfs::setup(open(&blank, false), InjectPartition::Inspect, false).unwrap_err();
    assert_eq!(err.kind, nimbus_guestfs::ErrorKind::NotFound);
}

#[test]
fn htree_directory_with_5000_entries() {
    let s = Scratch::new();
    let many = s.tree().join("etc/many");
    std::fs::create_dir_all(&many).unwrap();
    for i in 0..5000 {
        std::fs::write(many.join(format!("entry-{i:05}")), b"").unwrap();
    }
    let fs = s.path("fs.img");
    make_fs(&fs, 64, EXT4, &s.tree());
    // mkfs -d writes linear directories; e2fsck -D indexes them (exit 1: "fixed").
    let status = std::process::Command::new("e2fsck")
        .arg("-fyD")
        .arg(&fs)
        .output()
        .unwrap()
        .status;
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "e2fsck -fyD: {status}"
    );
    let stat = run(std::process::Command::new("debugfs")
        .arg("-R")
        .arg("stat /etc/many")
        .arg(&fs));
    assert!(
        stat.contains("Flags: 0x81000") || stat.contains("Flags: 0x1000"),
        "no htree index:\n{stat}"
    );

    let mut req = full_request();
    req.files
        .push(("/etc/many/entry-02500.new".into(), b"new".to_vec()));
    req.files
        .push(("/etc/many/entry-04999".into(), b"replaced".to_vec()));
    let report = inject_data(open(&fs, true), InjectPartition::WholeDisk, &req).unwrap();
    assert!(report.complete(), "{report:?}");
    assert_injected(&fs);
    assert_eq!(debugfs_cat(&fs, "/etc/many/entry-02500.new"), b"new");
    assert_eq!(debugfs_cat(&fs, "/etc/many/entry-04999"), b"replaced");
    let vfs = Vfs::setup(open(&fs, false), InjectPartition::WholeDisk, false).unwrap();
    assert!(vfs.has_file("/etc/many/entry-00000").unwrap());
    assert!(vfs.has_file("/etc/many/entry-03333").unwrap());
}

#[test]
fn selinux_guest_gets_restorecon_in_rc_d_rc_local() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.tree().join("etc/selinux")).unwrap();
    std::fs::create_dir_all(s.tree().join("etc/rc.d")).unwrap();
    let fs = s.path("fs.img");
    make_fs(&fs, 32, EXT4, &s.tree());
    let req = InjectRequest {
        key: Some(KEY.into()),
        mandatory: vec![Item::Key],
        ..Default::default()
    };
    inject_data(open(&fs, true), InjectPartition::WholeDisk, &req).unwrap();
    assert_fsck_clean(&fs);
    let rc = String::from_utf8(debugfs_cat(&fs, "/etc/rc.d/rc.local")).unwrap();
    assert_eq!(
        rc,
        "#!/bin/sh\n# Added by Nova to ensure injected ssh keys have the right context\nrestorecon -RF /root/.ssh 2>/dev/null || :\n"
    );
    assert_eq!(debugfs_stat(&fs, "/etc/rc.d/rc.local"), (0o700, 0, 0));
}

#[test]
fn key_appends_to_existing_authorized_keys_and_ownership_uses_guest_names() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.tree().join("root/.ssh")).unwrap();
    std::fs::write(
        s.tree().join("root/.ssh/authorized_keys"),
        "ssh-rsa AAAA old@key\n",
    )
    .unwrap();
    std::fs::create_dir_all(s.tree().join("home/alice")).unwrap();
    let fs = s.path("fs.img");
    make_fs(&fs, 32, EXT4, &s.tree());
    let req = InjectRequest {
        key: Some(format!("  {KEY}\n")),
        mandatory: vec![Item::Key],
        ..Default::default()
    };
    inject_data(open(&fs, true), InjectPartition::WholeDisk, &req).unwrap();
    let keys = String::from_utf8(debugfs_cat(&fs, "/root/.ssh/authorized_keys")).unwrap();
    assert_eq!(
        keys,
        format!("ssh-rsa AAAA old@key\n\n# The following ssh key was injected by Nova\n{KEY}\n")
    );

    let vfs = Vfs::setup(open(&fs, true), InjectPartition::WholeDisk, true).unwrap();
    vfs.set_ownership("/home/alice", Some("alice"), Some("staff"))
        .unwrap();
    let err = vfs
        .set_ownership("/home/alice", Some("mallory"), None)
        .unwrap_err();
    assert_eq!(err.kind, nimbus_guestfs::ErrorKind::NotFound);
    vfs.teardown().unwrap();
    assert_eq!(debugfs_stat(&fs, "/home/alice").1, 1000);
    assert_eq!(debugfs_stat(&fs, "/home/alice").2, 1001);
    assert_fsck_clean(&fs);
}

#[test]
fn inline_data_files_are_read() {
    let s = Scratch::new();
    let fs = s.path("fs.img");
    make_fs(
        &fs,
        32,
        ("ext4", "inline_data,metadata_csum,64bit"),
        &s.tree(),
    );
    let vfs = Vfs::setup(open(&fs, false), InjectPartition::WholeDisk, false).unwrap();
    assert_eq!(
        vfs.read_file("/etc/os-release").unwrap(),
        b"ID=nimbus-test\n"
    );
    assert!(
        vfs.read_file("/etc/passwd")
            .unwrap()
            .starts_with(b"root:x:0:0")
    );
}

#[test]
fn optional_items_fail_soft_and_mandatory_ones_abort() {
    let s = Scratch::new();
    // root is missing from shadow: admin_password must fail.
    std::fs::write(s.tree().join("etc/shadow"), "daemon:*:19000:0:99999:7:::\n").unwrap();
    let fs = s.path("fs.img");
    make_fs(&fs, 32, EXT4, &s.tree());

    let mut req = full_request();
    req.mandatory = vec![Item::Files];
    let report = inject_data(open(&fs, true), InjectPartition::WholeDisk, &req).unwrap();
    assert!(!report.complete());
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].0, Item::AdminPassword);
    assert!(
        report.skipped[0]
            .1
            .message
            .contains("not found in shadow file"),
        "{:?}",
        report.skipped
    );
    assert_eq!(
        debugfs_cat(&fs, "/etc/shadow"),
        b"daemon:*:19000:0:99999:7:::\n"
    );
    assert_eq!(
        debugfs_cat(&fs, "/opt/app/conf.txt"),
        b"hello from nimbus\n"
    );
    assert_fsck_clean(&fs);

    req.mandatory = vec![Item::AdminPassword];
    let err = inject_data(open(&fs, true), InjectPartition::WholeDisk, &req).unwrap_err();
    assert!(err.message.contains("not found in shadow file"), "{err}");
    assert_eq!(
        debugfs_cat(&fs, "/etc/shadow"),
        b"daemon:*:19000:0:99999:7:::\n"
    );
    assert_fsck_clean(&fs);
}

#[test]
fn unopenable_image_is_an_error_only_when_something_is_mandatory() {
    let s = Scratch::new();
    let junk = s.path("junk.img");
    std::fs::write(&junk, vec![0u8; 1 << 20]).unwrap();
    let mut req = full_request();
    req.mandatory = vec![];
    let report = inject_data(open(&junk, true), InjectPartition::WholeDisk, &req).unwrap();
    assert!(!report.complete());
    assert_eq!(report.skipped.len(), 5);
    req.mandatory = vec![Item::Metadata];
    let err = inject_data(open(&junk, true), InjectPartition::WholeDisk, &req).unwrap_err();
    assert!(err.message.contains("not an ext2/3/4 filesystem"), "{err}");
    assert_eq!(std::fs::read(&junk).unwrap(), vec![0u8; 1 << 20]);
    // -2 disables injection outright.
    let report = inject_data(open(&junk, true), InjectPartition::Disabled, &req).unwrap();
    assert!(report.injected.is_empty() && report.skipped.is_empty());
}

#[test]
fn qcow2_overlay_leaves_the_base_byte_identical() {
    let s = Scratch::new();
    let base = s.path("base.raw");
    make_disk(
        &base,
        64,
        "label: gpt\nstart=2048, size=8192, type=L\nstart=10240, size=65536, type=L\n",
    );
    let root = s.path("root.img");
    make_fs(&root, 32, EXT4, &s.tree());
    place(&root, &base, 10240);
    let base_before = std::fs::read(&base).unwrap();
    let overlay = s.path("overlay.qcow2");
    run(std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-b"])
        .arg(&base)
        .args(["-F", "raw"])
        .arg(&overlay));

    let policy = nimbus_disk::BackingPolicy::allow_dirs([s.dir.path().to_path_buf()]);
    let disk = nimbus_disk::open(&overlay, nimbus_disk::Format::Qcow2, &policy, true).unwrap();
    let report = inject_data(
        std::sync::Arc::new(disk),
        InjectPartition::Inspect,
        &full_request(),
    )
    .unwrap();
    assert_eq!(report.location.as_deref(), Some("partition 2"));

    assert!(
        std::fs::read(&base).unwrap() == base_before,
        "the backing file changed"
    );
    run(std::process::Command::new("qemu-img")
        .args(["check", "-q"])
        .arg(&overlay));
    let flat = s.path("flat.raw");
    run(std::process::Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(&overlay)
        .arg(&flat));
    let p2 = s.path("p2.img");
    extract(&flat, 10240, 65536, &p2);
    assert_injected(&p2);
}
