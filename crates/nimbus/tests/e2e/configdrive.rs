//! `nimbus configdrive render` and `make`, checked with isoinfo, fsck.vfat and mtools.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::nimbus_bin;

/// What `openstack server create --key-name k1 --file /root/x=./x --property k=v --config-drive
/// true --user-data ./ud --network net1` gives the compute service to render.
const INSTANCE: &str = r##"{
  "uuid": "8f1c1e0e-6c43-4d5e-9a57-3b7a8e5b9b10",
  "name": "vmA", "hostname": "vma", "launch_index": 0, "availability_zone": "nova",
  "project_id": "5b1c4c3e1f2a4c8e9d0b7a6f5e4d3c2b",
  "keypairs": [{"name": "k1", "type": "ssh", "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE k1"}],
  "metadata": {"k": "v"},
  "user_data": "I2Nsb3VkLWNvbmZpZwpydW5jbWQ6IFtlY2hvIGhpXQo=",
  "files": [{"path": "/root/x", "contents": "aGVsbG8gZnJvbSB4Cg=="}],
  "admin_pass": "Adm1nPass",
  "network_info": [{"id": "3c8a5b1e-0000-4000-8000-000000000001", "address": "fa:16:3e:12:34:56",
    "type": "tap", "devname": "tap3c8a5b1e-00",
    "network": {"id": "9e0f0000-0000-4000-8000-0000000000aa", "label": "net1", "meta": {"mtu": 1450},
      "subnets": [{"cidr": "10.0.0.0/24", "gateway": {"address": "10.0.0.1"},
        "dns": [{"address": "10.0.0.2"}], "ips": [{"address": "10.0.0.5"}], "routes": []}]}}],
  "ec2": {"instance_id": "i-00000001", "ami_id": "ami-00000001", "reservation_id": "r-abcdefgh",
          "instance_type": "m1.tiny", "security_groups": ["default"], "root_device_name": "/dev/vda"}
}"##;

fn nimbus(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut cmd = Command::new(nimbus_bin());
    cmd.arg("configdrive");
    for a in args {
        cmd.arg(a);
    }
    cmd.output().expect("run nimbus")
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn tool(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (is it installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every regular file under `root`, as paths relative to it.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

fn render(dir: &Path) -> PathBuf {
    let json = dir.join("instance.json");
    std::fs::write(&json, INSTANCE).unwrap();
    let seed = dir.join("seed");
    std::fs::write(&seed, [7u8; 512]).unwrap();
    let tree = dir.join("tree");
    ok(nimbus(&[&"render", &"--random-seed", &seed, &json, &tree]));
    tree
}

#[test]
fn render_writes_novas_tree() {
    let dir = tempfile::tempdir().unwrap();
    let tree = render(dir.path());
    let files = files_under(&tree);
    // nova's metadata_for_config_drive with one injected file: 4 ec2 + 45 openstack + 1 content.
    assert_eq!(files.len(), 50, "{files:?}");
    let md: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tree.join("openstack/latest/meta_data.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(md["uuid"], "8f1c1e0e-6c43-4d5e-9a57-3b7a8e5b9b10");
    assert_eq!(md["admin_pass"], "Adm1nPass");
    assert_eq!(md["meta"]["k"], "v");
    assert_eq!(md["files"][0]["path"], "/root/x");
    assert_eq!(md["files"][0]["content_path"], "/content/0000");
    assert_eq!(
        md["random_seed"].as_str().unwrap().len(),
        684,
        "512 bytes in base64"
    );
    assert_eq!(
        std::fs::read(tree.join("openstack/content/0000")).unwrap(),
        b"hello from x\n"
    );
    assert_eq!(
        std::fs::read(tree.join("openstack/latest/user_data")).unwrap(),
        b"#cloud-config\nruncmd: [echo hi]\n"
    );
    let net: serde_json::Value = serde_json::from_slice(
        &std::fs::read(tree.join("openstack/latest/network_data.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(net["links"][0]["id"], "tap3c8a5b1e-00");
    assert_eq!(net["links"][0]["type"], "tap");
    assert_eq!(net["networks"][0]["routes"][0]["gateway"], "10.0.0.1");
    assert_eq!(net["services"][0]["address"], "10.0.0.2");
    let ec2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tree.join("ec2/latest/meta-data.json")).unwrap())
            .unwrap();
    assert_eq!(ec2["local-ipv4"], "10.0.0.5");
    assert_eq!(
        ec2["public-keys"]["0"]["openssh-key"],
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE k1"
    );

    // With the same seed the render is reproducible.
    let again = tempfile::tempdir().unwrap();
    let tree2 = render(again.path());
    for f in &files {
        assert_eq!(
            std::fs::read(tree.join(f)).unwrap(),
            std::fs::read(tree2.join(f)).unwrap(),
            "{f:?}"
        );
    }
}

#[test]
fn make_iso_is_read_back_by_isoinfo() {
    let dir = tempfile::tempdir().unwrap();
    let tree = render(dir.path());
    let iso = dir.path().join("disk.config");
    ok(nimbus(&[&"make", &tree, &iso]));
    let info = tool(Command::new("isoinfo").arg("-d").arg("-i").arg(&iso));
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("Volume id: config-2"), "{info}");
    assert!(info.contains("Joliet with UCS level 3 found"), "{info}");
    assert!(
        info.contains("Rock Ridge signatures version 1 found"),
        "{info}"
    );
    for f in files_under(&tree) {
        let want = std::fs::read(tree.join(&f)).unwrap();
        for mode in ["-R", "-J"] {
            let out = tool(
                Command::new("isoinfo")
                    .arg(mode)
                    .arg("-i")
                    .arg(&iso)
                    .arg("-x")
                    .arg(format!("/{}", f.display())),
            );
            assert_eq!(out.stdout, want, "{mode} {f:?}");
        }
    }
    // Same directory, same image.
    let iso2 = dir.path().join("disk2.config");
    ok(nimbus(&[&"make", &"--format", &"iso9660", &tree, &iso2]));
    assert!(
        std::fs::read(&iso).unwrap() == std::fs::read(&iso2).unwrap(),
        "ISO output is not deterministic"
    );
}

#[test]
fn make_vfat_is_clean_and_readable_with_mtools() {
    let dir = tempfile::tempdir().unwrap();
    let tree = render(dir.path());
    let img = dir.path().join("disk.config");
    ok(nimbus(&[&"make", &"--format", &"vfat", &tree, &img]));
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 64 * 1024 * 1024);
    let fsck = Command::new("fsck.vfat")
        .arg("-n")
        .arg(&img)
        .output()
        .expect("fsck.vfat missing");
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    let label = tool(
        Command::new("mlabel")
            .arg("-s")
            .arg("-i")
            .arg(&img)
            .arg("::"),
    );
    assert!(String::from_utf8_lossy(&label.stdout).contains("config-2"));
    for f in files_under(&tree) {
        let out = tool(
            Command::new("mtype")
                .arg("-i")
                .arg(&img)
                .arg(format!("::/{}", f.display())),
        );
        assert_eq!(out.stdout, std::fs::read(tree.join(&f)).unwrap(), "{f:?}");
    }
}

#[cfg(unix)]
#[test]
fn make_refuses_symlinks_and_existing_output() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("ok"), b"x").unwrap();
    std::os::unix::fs::symlink("/etc/shadow", src.join("escape")).unwrap();
    let out_path = dir.path().join("out.iso");
    let out = nimbus(&[&"make", &src, &out_path]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("symlinks are refused") && err.contains("escape"),
        "{err}"
    );
    assert!(!out_path.exists(), "no image is left behind");

    std::fs::remove_file(src.join("escape")).unwrap();
    std::fs::write(&out_path, b"precious").unwrap();
    let out = nimbus(&[&"make", &src, &out_path]);
    assert!(!out.status.success());
    assert_eq!(
        std::fs::read(&out_path).unwrap(),
        b"precious",
        "existing file untouched"
    );

    let out = nimbus(&[&"make", &"--format", &"udf", &src, &dir.path().join("x")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected iso9660 or vfat"));
}

#[test]
fn render_rejects_bad_descriptions() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bad.json");
    std::fs::write(&json, r#"{"uuid": "x", "user_data": "not base64!"}"#).unwrap();
    let out = nimbus(&[&"render", &json, &dir.path().join("t")]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("base64"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An injected file path cannot escape the content directory: paths only appear in JSON.
    std::fs::write(
        &json,
        r#"{"uuid": "x", "files": [{"path": "../../etc/passwd", "contents": "eA=="}]}"#,
    )
    .unwrap();
    let out_dir = dir.path().join("t2");
    ok(nimbus(&[&"render", &json, &out_dir]));
    assert_eq!(
        std::fs::read(out_dir.join("openstack/content/0000")).unwrap(),
        b"x"
    );
    assert!(!dir.path().join("etc").exists());
}
