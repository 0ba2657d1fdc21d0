//! Interop with the real tools: `isoinfo` (genisoimage) for ISO 9660/Joliet/Rock Ridge,
//! `fsck.vfat` and mtools for vfat. Missing tools fail the tests.

use std::path::Path;
use std::process::Command;

use nimbus_configdrive::iso::{IsoOptions, write_iso};
use nimbus_configdrive::vfat::{VfatOptions, write_vfat};
use nimbus_configdrive::{Content, Tree};

/// Files with the names config drives and users produce: long, lowercase, multiple dots,
/// leading dots, deep directories, the content/NNNN files, empty and multi-sector files.
fn sample_files() -> Vec<(String, Vec<u8>)> {
    let deep = (0..12)
        .map(|i| format!("level{i}"))
        .collect::<Vec<_>>()
        .join("/");
    vec![
        (
            "openstack/latest/meta_data.json".into(),
            br#"{"uuid": "x"}"#.to_vec(),
        ),
        (
            "openstack/2012-08-10/user_data".into(),
            b"#cloud-config\n".to_vec(),
        ),
        ("openstack/content/0000".into(), b"injected file".to_vec()),
        ("openstack/content/0001".into(), Vec::new()),
        ("ec2/latest/meta-data.json".into(), b"{}".to_vec()),
        ("lower.case.multiple.dots.tar.gz".into(), vec![1; 3000]),
        ("UPPER.TXT".into(), b"upper".to_vec()),
        (".hidden".into(), b"dot".to_vec()),
        ("a name with spaces and (parens)".into(), b"spaces".to_vec()),
        (
            "this-is-a-rather-long-file-name-well-past-thirty-one-characters.json".into(),
            b"long".to_vec(),
        ),
        (format!("{deep}/deep.file.txt"), b"deep".to_vec()),
        (
            "big.bin".into(),
            (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect(),
        ),
        (
            "same-prefix-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-1.txt".into(),
            b"1".to_vec(),
        ),
        (
            "same-prefix-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-2.txt".into(),
            b"2".to_vec(),
        ),
    ]
}

fn sample_tree(files: &[(String, Vec<u8>)]) -> Tree {
    let mut t = Tree::new();
    for (p, d) in files {
        t.add_file(p, Content::Bytes(d.clone()), false).unwrap();
    }
    t
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is the tool installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn write_iso_file(tree: &Tree, path: &Path) {
    let f = std::fs::File::create(path).unwrap();
    let opts = IsoOptions {
        publisher: "Nimbus test".into(),
        ..IsoOptions::default()
    };
    write_iso(tree, &opts, std::io::BufWriter::new(f)).unwrap();
}

#[test]
fn isoinfo_reports_config2_joliet_and_rock_ridge() {
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("cd.iso");
    write_iso_file(&sample_tree(&sample_files()), &iso);
    let out = run(Command::new("isoinfo").arg("-d").arg("-i").arg(&iso));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Volume id: config-2"), "{text}");
    assert!(text.contains("Joliet with UCS level 3 found"), "{text}");
    assert!(
        text.contains("Rock Ridge signatures version 1 found"),
        "{text}"
    );
    assert!(text.contains("Publisher id: Nimbus test"), "{text}");
}

#[test]
fn isoinfo_extracts_every_file_through_rock_ridge_and_joliet() {
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("cd.iso");
    let files = sample_files();
    write_iso_file(&sample_tree(&files), &iso);
    for (path, data) in &files {
        for mode in ["-R", "-J"] {
            let out = run(Command::new("isoinfo")
                .arg(mode)
                .arg("-i")
                .arg(&iso)
                .arg("-x")
                .arg(format!("/{path}")));
            assert_eq!(&out.stdout, data, "{mode} /{path}");
        }
    }
    // Rock Ridge keeps names and modes as genisoimage -r does.
    let out = run(Command::new("isoinfo").args(["-R", "-l", "-i"]).arg(&iso));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("-r--r--r--"), "{listing}");
    assert!(listing.contains("dr-xr-xr-x"), "{listing}");
    assert!(
        listing.contains("this-is-a-rather-long-file-name-well-past-thirty-one-characters.json")
    );
}

#[test]
fn rock_ridge_keeps_255_byte_names() {
    let dir = tempfile::tempdir().unwrap();
    let iso = dir.path().join("cd.iso");
    let name = format!("{}.txt", "n".repeat(251));
    let files = vec![
        (name.clone(), b"longest".to_vec()),
        (format!("sub/{name}"), b"again".to_vec()),
    ];
    write_iso_file(&sample_tree(&files), &iso);
    for (path, data) in &files {
        let out = run(Command::new("isoinfo")
            .args(["-R", "-i"])
            .arg(&iso)
            .arg("-x")
            .arg(format!("/{path}")));
        assert_eq!(&out.stdout, data, "{path}");
    }
}

#[test]
fn iso_output_is_deterministic() {
    let files = sample_files();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    write_iso(&sample_tree(&files), &IsoOptions::default(), &mut a).unwrap();
    // Same files inserted in another order: the image must not change.
    let mut reversed = files.clone();
    reversed.reverse();
    write_iso(&sample_tree(&reversed), &IsoOptions::default(), &mut b).unwrap();
    assert!(a == b, "images differ");
}

#[test]
fn vfat_is_fsck_clean_and_mtools_extracts_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("cd.vfat");
    let files = sample_files();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&img)
        .unwrap();
    write_vfat(&sample_tree(&files), &VfatOptions::default(), f).unwrap();
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 64 * 1024 * 1024);
    let out = Command::new("fsck.vfat")
        .arg("-n")
        .arg(&img)
        .output()
        .expect("fsck.vfat (dosfstools) missing");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "fsck.vfat -n: {report}");
    assert!(
        !report.contains("FSCK") && !report.contains("Expected"),
        "{report}"
    );
    let label = run(Command::new("mlabel")
        .arg("-s")
        .arg("-i")
        .arg(&img)
        .arg("::"));
    assert!(String::from_utf8_lossy(&label.stdout).contains("config-2"));
    for (path, data) in &files {
        let out = run(Command::new("mtype")
            .arg("-i")
            .arg(&img)
            .arg(format!("::/{path}")));
        assert_eq!(&out.stdout, data, "mtype ::/{path}");
    }
    let copy = dir.path().join("copy");
    run(Command::new("mcopy")
        .arg("-s")
        .arg("-i")
        .arg(&img)
        .arg("::/openstack")
        .arg(&copy));
    assert_eq!(
        std::fs::read(copy.join("content/0000")).unwrap(),
        b"injected file"
    );
}

#[test]
fn vfat_volume_ids_are_random_unless_given() {
    let files = sample_files();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..3 {
        let mut img = std::io::Cursor::new(Vec::new());
        write_vfat(&sample_tree(&files), &VfatOptions::default(), &mut img).unwrap();
        ids.insert(img.get_ref()[39..43].to_vec());
    }
    assert!(ids.len() > 1, "volume id did not change");
    let opts = VfatOptions {
        volume_id: Some(7),
        ..VfatOptions::default()
    };
    let (mut a, mut b) = (
        std::io::Cursor::new(Vec::new()),
        std::io::Cursor::new(Vec::new()),
    );
    write_vfat(&sample_tree(&files), &opts, &mut a).unwrap();
    write_vfat(&sample_tree(&files), &opts, &mut b).unwrap();
    assert!(a.get_ref() == b.get_ref());
}

#[test]
fn vfat_grows_past_64_mib_when_needed() {
    let mut t = Tree::new();
    for i in 0..3 {
        t.add_file(
            &format!("f{i}"),
            Content::Bytes(vec![i as u8; 30 * 1024 * 1024]),
            false,
        )
        .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("big.vfat");
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&img)
        .unwrap();
    let size = write_vfat(&t, &VfatOptions::default(), f).unwrap();
    assert!(size > 90 * 1024 * 1024);
    let out = Command::new("fsck.vfat")
        .arg("-n")
        .arg(&img)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = run(Command::new("mtype").arg("-i").arg(&img).arg("::/f2"));
    assert!(out.stdout.len() == 30 * 1024 * 1024 && out.stdout.iter().all(|b| *b == 2));
}
