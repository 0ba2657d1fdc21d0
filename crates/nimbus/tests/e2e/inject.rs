//! `nimbus inject`: the real binary editing images the test builds with
//! mkfs.ext4 and sfdisk, judged by e2fsck, debugfs and glibc's crypt.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::nimbus_bin;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO3yYg6Mvyq6aR4u0ODcCZWQfA2uRQjS1pX/MOMfTB2H e2e@nimbus";

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A 64 MiB GPT disk whose partition 2 (sectors 10240..75776) is an ext4
/// root filesystem with passwd, shadow and group.
struct Guest {
    dir: tempfile::TempDir,
}

const P2_START: u64 = 10240;
const P2_SECTORS: u64 = 65536;

impl Guest {
    fn new() -> Guest {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("tree");
        std::fs::create_dir_all(tree.join("etc")).unwrap();
        std::fs::create_dir_all(tree.join("root")).unwrap();
        std::fs::write(
            tree.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nbin:x:1:1::/:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            tree.join("etc/shadow"),
            "root:*:19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n",
        )
        .unwrap();
        std::fs::write(tree.join("etc/group"), "root:x:0:\nbin:x:1:\n").unwrap();
        let fs = dir.path().join("root.img");
        std::fs::File::create(&fs)
            .unwrap()
            .set_len(P2_SECTORS * 512)
            .unwrap();
        run(Command::new("mkfs.ext4")
            .args([
                "-q",
                "-F",
                "-O",
                "64bit,metadata_csum,flex_bg,huge_file,dir_index",
                "-E",
                "root_owner=0:0",
                "-d",
            ])
            .arg(&tree)
            .arg(&fs));
        let disk = dir.path().join("disk.img");
        std::fs::File::create(&disk)
            .unwrap()
            .set_len(80 << 20)
            .unwrap();
        let mut sfdisk = Command::new("sfdisk")
            .arg("-q")
            .arg(&disk)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        sfdisk
            .stdin
            .take()
            .unwrap()
            .write_all(
                format!("label: gpt\nstart=2048, size=8192\nstart={P2_START}, size={P2_SECTORS}\n")
                    .as_bytes(),
            )
            .unwrap();
        assert!(sfdisk.wait().unwrap().success());
        run(Command::new("dd")
            .arg(format!("if={}", fs.display()))
            .arg(format!("of={}", disk.display()))
            .args(["bs=512", "conv=notrunc", "status=none"])
            .arg(format!("seek={P2_START}")));
        std::fs::write(dir.path().join("key.pub"), format!("{KEY}\n")).unwrap();
        std::fs::write(dir.path().join("motd"), "welcome to nimbus\n").unwrap();
        std::fs::write(
            dir.path().join("net.json"),
            r#"{"interfaces": [{"address": "10.0.0.5", "netmask": "255.255.255.0", "broadcast": "10.0.0.255",
                "gateway": "10.0.0.1", "dns": ["10.0.0.2"], "hwaddress": "fa:16:3e:00:00:01"}]}"#,
        )
        .unwrap();
        Guest { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn disk(&self) -> PathBuf {
        self.path("disk.img")
    }

    /// `nimbus inject` with every item, on `image`.
    fn inject_all(&self, image: &Path, extra: &[&str]) -> Command {
        let mut cmd = Command::new(nimbus_bin());
        cmd.arg("inject")
            .arg(image)
            .arg("--key")
            .arg(self.path("key.pub"))
            .args([
                "--admin-password",
                "correct horse",
                "--meta",
                "role=web",
                "--meta",
                "tier=2",
            ])
            .arg("--file")
            .arg(format!("/etc/motd={}", self.path("motd").display()))
            .arg("--net")
            .arg(self.path("net.json"))
            .args(["--mandatory", "key,net,metadata,admin_password,files"])
            .args(extra);
        cmd
    }

    /// Partition 2 of `disk`, copied out for e2fsck and debugfs.
    fn partition2(&self, disk: &Path) -> PathBuf {
        let out = self.path("p2.img");
        run(Command::new("dd")
            .arg(format!("if={}", disk.display()))
            .arg(format!("of={}", out.display()))
            .args(["bs=512", "status=none"])
            .arg(format!("skip={P2_START}"))
            .arg(format!("count={P2_SECTORS}")));
        out
    }
}

fn debugfs(fs: &Path, request: &str) -> String {
    run(Command::new("debugfs").arg("-R").arg(request).arg(fs))
}

fn crypt_verifies(password: &str, hash: &str) -> bool {
    let out = run(Command::new("python3")
        .args([
            "-W",
            "ignore",
            "-c",
            "import crypt,sys; print(crypt.crypt(sys.argv[1], sys.argv[2]) == sys.argv[2])",
        ])
        .arg(password)
        .arg(hash));
    out.trim() == "True"
}

/// What a user checks after injecting everything into partition 2.
fn assert_injected(fs: &Path) {
    let fsck = Command::new("e2fsck").arg("-fn").arg(fs).output().unwrap();
    assert!(
        fsck.status.success(),
        "e2fsck:\n{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    let keys = debugfs(fs, "cat /root/.ssh/authorized_keys");
    assert!(keys.contains(KEY), "{keys}");
    let stat = debugfs(fs, "stat /root/.ssh/authorized_keys");
    assert!(
        stat.contains("Mode:  0600") && stat.contains("User:     0   Group:     0"),
        "{stat}"
    );
    assert!(debugfs(fs, "stat /root/.ssh").contains("Mode:  0700"));
    assert_eq!(
        debugfs(fs, "cat /meta.js"),
        r#"{"role": "web", "tier": "2"}"#
    );
    assert_eq!(debugfs(fs, "cat /etc/motd"), "welcome to nimbus\n");
    let interfaces = debugfs(fs, "cat /etc/network/interfaces");
    assert!(
        interfaces.contains(
            "iface eth0 inet static\n    hwaddress ether fa:16:3e:00:00:01\n    address 10.0.0.5\n"
        ),
        "{interfaces}"
    );
    let shadow = debugfs(fs, "cat /etc/shadow");
    let hash = shadow.lines().next().unwrap().split(':').nth(1).unwrap();
    assert!(
        hash.starts_with("$6$") && crypt_verifies("correct horse", hash),
        "{shadow}"
    );
    assert!(
        shadow.ends_with(":19000:0:99999:7:::\nbin:*:19000:0:99999:7:::\n"),
        "{shadow}"
    );
}

#[test]
fn injects_everything_into_a_gpt_partition_found_by_inspection() {
    let g = Guest::new();
    let out = run(&mut g.inject_all(&g.disk(), &[]));
    assert!(out.contains("into partition 2"), "{out}");
    assert_injected(&g.partition2(&g.disk()));
}

#[test]
fn runs_unprivileged_on_a_file_the_user_owns() {
    let g = Guest::new();
    // nobody must reach the files: open the scratch dir, hand over the inputs.
    let dir = g.dir.path();
    run(Command::new("chmod").arg("755").arg(dir));
    run(Command::new("chown")
        .arg("65534:65534")
        .arg(g.disk())
        .arg(g.path("key.pub"))
        .arg(g.path("motd"))
        .arg(g.path("net.json")));
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
    let inner = g.inject_all(&g.disk(), &["--partition", "2"]);
    cmd.arg(inner.get_program()).args(inner.get_args());
    let out = run(&mut cmd);
    assert!(out.contains("into partition 2"), "{out}");
    assert_injected(&g.partition2(&g.disk()));
}

fn fails(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} succeeded");
    assert!(out.stdout.is_empty() || !String::from_utf8_lossy(&out.stdout).contains("injected "));
    out
}

#[test]
fn failures_are_clear_and_leave_the_image_alone() {
    let g = Guest::new();
    let before = std::fs::read(g.disk()).unwrap();
    let stderr = |o: Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let err = stderr(fails(&mut g.inject_all(&g.disk(), &["--partition", "7"])));
    assert!(err.contains("no partition 7"), "{err}");
    let err = stderr(fails(
        Command::new(nimbus_bin())
            .arg("inject")
            .arg(g.disk())
            .arg("--file")
            .arg(format!(
                "/etc/../../../etc/passwd={}",
                g.path("motd").display()
            )),
    ));
    assert!(err.contains("'..'"), "{err}");
    let err = stderr(fails(
        Command::new(nimbus_bin())
            .arg("inject")
            .arg(g.path("missing.img"))
            .args(["--meta", "a=b"]),
    ));
    assert!(err.contains("missing.img"), "{err}");
    let err = stderr(fails(
        Command::new(nimbus_bin())
            .arg("inject")
            .arg(g.disk())
            .args(["--mandatory", "keys"]),
    ));
    assert!(err.contains("unknown item"), "{err}");
    assert_eq!(
        std::fs::read(g.disk()).unwrap(),
        before,
        "a failed run changed the image"
    );

    // An optional item that fails is a warning: root has no shadow entry.
    let out = run(Command::new(nimbus_bin())
        .arg("inject")
        .arg(g.disk())
        .args(["--partition", "2", "--meta", "a=b"])
        .arg("--file")
        .arg("/etc/shadow=/dev/null"));
    assert!(out.contains("injected metadata, files"), "{out}");
    let warn = Command::new(nimbus_bin())
        .arg("inject")
        .arg(g.disk())
        .args(["--partition", "2", "--admin-password", "pw"])
        .output()
        .unwrap();
    assert!(warn.status.success());
    assert!(
        String::from_utf8_lossy(&warn.stderr).contains("admin_password not injected"),
        "{warn:?}"
    );
    let err = stderr(fails(
        Command::new(nimbus_bin())
            .arg("inject")
            .arg(g.disk())
            .args([
                "--partition",
                "2",
                "--admin-password",
                "pw",
                "--mandatory",
                "admin_password",
            ]),
    ));
    assert!(err.contains("not found in shadow file"), "{err}");
}

#[test]
fn qcow2_overlay_is_written_and_its_base_is_not() {
    let g = Guest::new();
    let base_before = std::fs::read(g.disk()).unwrap();
    let overlay = g.path("overlay.qcow2");
    run(Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-b"])
        .arg(g.disk())
        .args(["-F", "raw"])
        .arg(&overlay));
    let out = run(g
        .inject_all(&overlay, &["--format", "qcow2", "--backing-dir"])
        .arg(g.dir.path()));
    assert!(out.contains("into partition 2"), "{out}");
    assert!(
        std::fs::read(g.disk()).unwrap() == base_before,
        "the base image changed"
    );
    run(Command::new("qemu-img").args(["check", "-q"]).arg(&overlay));
    let flat = g.path("flat.raw");
    run(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(&overlay)
        .arg(&flat));
    assert_injected(&g.partition2(&flat));

    // A backing file outside the allowed directories is refused.
    let elsewhere = tempfile::tempdir().unwrap();
    let out = Command::new(nimbus_bin())
        .arg("inject")
        .arg(&overlay)
        .args(["--format", "qcow2", "--meta", "a=b", "--backing-dir"])
        .arg(elsewhere.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("outside the allowed directories"),
        "{out:?}"
    );
}
