//! Building guest images with real tools, and checking them with real tools.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use nimbus_disk::{BlockDevice, RawFile};

/// Runs a command, panicking with its output when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The feature sets the matrix covers, as `mkfs.ext4 -t T -O F` arguments.
pub const EXT2: (&str, &str) = ("ext2", "^has_journal");
pub const EXT3: (&str, &str) = (
    "ext3",
    "has_journal,^extent,^flex_bg,^64bit,^metadata_csum,^huge_file,^dir_nlink,^extra_isize",
);
pub const EXT4: (&str, &str) = (
    "ext4",
    "64bit,flex_bg,metadata_csum,huge_file,dir_index,extent",
);
pub const EXT4_NO_CSUM: (&str, &str) =
    ("ext4", "^64bit,^metadata_csum,flex_bg,huge_file,dir_index");

/// A small Linux root tree: passwd, shadow, group, os-release, /root.
pub fn guest_tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::create_dir_all(dir.join("root")).unwrap();
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1001::/home/alice:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/shadow"),
        "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/group"),
        "root:x:0:\ndaemon:x:1:\nstaff:x:1001:alice\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/os-release"), "ID=nimbus-test\n").unwrap();
}

/// `mkfs.ext4 -d tree` into a new file of `mib` MiB.
pub fn make_fs(path: &Path, mib: u64, (fstype, features): (&str, &str), tree: &Path) {
    let file = std::fs::File::create(path).unwrap();
    file.set_len(mib << 20).unwrap();
    run(Command::new("mkfs.ext4")
        .args([
            "-q",
            "-F",
            "-t",
            fstype,
            "-O",
            features,
            "-E",
            "root_owner=0:0",
            "-b",
            "4096",
            "-d",
        ])
        .arg(tree)
        .arg(path));
}

/// A disk of `mib` MiB with the partition table `script` (sfdisk input).
pub fn make_disk(path: &Path, mib: u64, script: &str) {
    let file = std::fs::File::create(path).unwrap();
    file.set_len(mib << 20).unwrap();
    let mut child = Command::new("sfdisk")
        .arg("-q")
        .arg(path)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "sfdisk: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Copies `fs` into `disk` at sector `start`.
pub fn place(fs: &Path, disk: &Path, start_sector: u64) {
    run(Command::new("dd")
        .arg(format!("if={}", fs.display()))
        .arg(format!("of={}", disk.display()))
        .args(["bs=512", "conv=notrunc,sparse", "status=none"])
        .arg(format!("seek={start_sector}")));
}

/// Copies `sectors` sectors at `start` out of `disk` into a new file.
pub fn extract(disk: &Path, start_sector: u64, sectors: u64, out: &Path) {
    run(Command::new("dd")
        .arg(format!("if={}", disk.display()))
        .arg(format!("of={}", out.display()))
        .args(["bs=512", "status=none"])
        .arg(format!("skip={start_sector}"))
        .arg(format!("count={sectors}")));
}

/// Opens a raw file as a shared block device.
pub fn open(path: &Path, writable: bool) -> Arc<dyn BlockDevice> {
    Arc::new(RawFile::open(path, writable).unwrap())
}

/// `e2fsck -fn`; panics with its report unless the filesystem is clean.
pub fn assert_fsck_clean(fs: &Path) {
    let out = Command::new("e2fsck").arg("-fn").arg(fs).output().unwrap();
    assert!(
        out.status.success(),
        "e2fsck -fn {} is not clean:\n{}{}",
        fs.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `debugfs -R 'cat path'`.
pub fn debugfs_cat(fs: &Path, path: &str) -> Vec<u8> {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(format!("cat {path}"))
        .arg(fs)
        .output()
        .unwrap();
    out.stdout
}

/// Mode (permission bits), uid and gid of `path` from `debugfs -R stat`.
pub fn debugfs_stat(fs: &Path, path: &str) -> (u32, u32, u32) {
    let out = run(Command::new("debugfs")
        .arg("-R")
        .arg(format!("stat {path}"))
        .arg(fs));
    let field = |name: &str| -> String {
        let at = out
            .find(name)
            .unwrap_or_else(|| panic!("no {name} in debugfs stat {path}:\n{out}"));
        out[at + name.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let mode = u32::from_str_radix(&field("Mode:"), 8).unwrap();
    (
        mode & 0o7777,
        field("User:").parse().unwrap(),
        field("Group:").parse().unwrap(),
    )
}

/// Whether glibc's crypt, through Python, accepts `password` for `hash`.
pub fn crypt_verifies(password: &str, hash: &str) -> bool {
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

/// root's hash field in a shadow file.
pub fn root_hash(shadow: &[u8]) -> String {
    let text = String::from_utf8_lossy(shadow);
    let line = text
        .lines()
        .find(|l| l.starts_with("root:"))
        .expect("root in shadow");
    line.split(':').nth(1).unwrap().to_string()
}

/// A scratch directory with a guest tree in `tree/`.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        guest_tree(&dir.path().join("tree"));
        Scratch { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn tree(&self) -> PathBuf {
        self.path("tree")
    }
}
