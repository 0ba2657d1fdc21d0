//! The QEMU command line of one guest.
//!
//! Every disk is opened through explicit `-blockdev` nodes, a backing chain
//! included: QEMU is told each file's format and each overlay's backing node,
//! so it never probes a format or follows a backing-file name written in an
//! image (a guest controls its disk's bytes). `-nodefaults` and
//! `-no-user-config` keep the machine to what is listed here.

use std::ffi::OsString;
use std::path::PathBuf;

use serde_json::{Value, json};

/// How the guest's CPU runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Hardware virtualisation (`virt_type = kvm`).
    Kvm,
    /// Software emulation (`virt_type = qemu`).
    Tcg,
}

/// An image file's format, as recorded by the cloud (never probed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// Raw bytes.
    Raw,
    /// qcow2.
    Qcow2,
}

impl ImageFormat {
    fn driver(self) -> &'static str {
        match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Qcow2 => "qcow2",
        }
    }
}

/// Where QEMU reads a secret (an iSCSI CHAP password) from: a file
/// (for the command line, where `data=` would show in `ps`), or the value
/// itself (for `object-add` over the private QMP socket).
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A file holding exactly the secret (mode 0600).
    File(PathBuf),
    /// The secret itself.
    Data(String),
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::File(path) => f.debug_tuple("File").field(path).finish(),
            Secret::Data(_) => f.write_str("Data(<redacted>)"),
        }
    }
}

/// One image in a chain: a file, its format, and the image under it; or a
/// LUN QEMU reaches itself over iSCSI (an attached volume).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageNode {
    /// A local file.
    File {
        /// Its path.
        path: PathBuf,
        /// Its recorded format.
        format: ImageFormat,
        /// The backing image of a qcow2 overlay; `None` for a standalone
        /// image (QEMU is then told there is no backing file at all).
        backing: Option<Box<ImageNode>>,
    },
    /// A raw LUN behind an iSCSI target, opened by QEMU's built-in
    /// initiator (libiscsi): no kernel initiator, no host device.
    Iscsi {
        /// `ip:port`.
        portal: String,
        /// Target IQN.
        target: String,
        /// LUN.
        lun: u64,
        /// CHAP user, if the target asks for one.
        user: Option<String>,
        /// CHAP password.
        password: Option<Secret>,
        /// The initiator's IQN (QEMU's default when `None`).
        initiator_name: Option<String>,
    },
}

impl ImageNode {
    /// A standalone file of `format`.
    pub fn file(path: impl Into<PathBuf>, format: ImageFormat) -> Self {
        ImageNode::File {
            path: path.into(),
            format,
            backing: None,
        }
    }

    /// A qcow2 overlay of `path` over `backing`.
    pub fn overlay(path: impl Into<PathBuf>, backing: ImageNode) -> Self {
        ImageNode::File {
            path: path.into(),
            format: ImageFormat::Qcow2,
            backing: Some(Box::new(backing)),
        }
    }

    /// The `blockdev-add` arguments for this chain, bottom image first, the
    /// top format node named `node`. Used both on the command line and for
    /// hot-plug over QMP.
    pub fn blockdev_args(&self, node: &str, read_only: bool) -> Vec<Value> {
        let mut out = Vec::new();
        self.push_blockdevs(node, read_only, &mut out);
        out
    }

    /// The `object-add` arguments (`qom-type: secret`) this chain needs
    /// before its `blockdev-add`; empty for files.
    pub fn secret_objects(&self, node: &str) -> Vec<Value> {
        match self {
            ImageNode::Iscsi {
                password: Some(secret),
                ..
            } => {
                let mut object =
                    json!({"qom-type": "secret", "id": secret_id(node), "format": "raw"});
                match secret {
                    Secret::File(path) => object["file"] = json!(path.to_string_lossy()),
                    Secret::Data(data) => object["data"] = json!(data),
                }
                vec![object]
            }
            _ => Vec::new(),
        }
    }

    fn push_blockdevs(&self, node: &str, read_only: bool, out: &mut Vec<Value>) {
        match self {
            ImageNode::Iscsi {
                portal,
                target,
                lun,
                user,
                password,
                initiator_name,
            } => {
                let mut lun_node = json!({
                    "driver": "iscsi",
                    "node-name": format!("{node}-f"),
                    "transport": "tcp",
                    "portal": portal,
                    "target": target,
                    "lun": lun,
                    "read-only": read_only,
                });
                if let Some(user) = user {
                    lun_node["user"] = json!(user);
                }
                if password.is_some() {
                    lun_node["password-secret"] = json!(secret_id(node));
                }
                if let Some(name) = initiator_name {
                    lun_node["initiator-name"] = json!(name);
                }
                out.push(json!({
                    "node-name": node,
                    "driver": "raw",
                    "read-only": read_only,
                    "file": lun_node,
                }));
            }
            ImageNode::File {
                path,
                format,
                backing,
            } => {
                let backing_node = format!("{node}-b");
                if let Some(backing) = backing {
                    // Backing images are never written by this guest.
                    backing.push_blockdevs(&backing_node, true, out);
                }
                let mut fmt = json!({
                    "node-name": node,
                    "driver": format.driver(),
                    "read-only": read_only,
                    "file": {
                        "driver": "file",
                        "filename": path.to_string_lossy(),
                        "node-name": format!("{node}-f"),
                        "read-only": read_only,
                    },
                });
                if *format == ImageFormat::Qcow2 {
                    fmt["backing"] = match backing {
                        Some(_) => Value::String(backing_node),
                        None => Value::Null,
                    };
                }
                out.push(fmt);
            }
        }
    }
}

/// The id of the secret object of node `node`.
pub(crate) fn secret_id(node: &str) -> String {
    format!("{node}-secret")
}

/// Where a disk appears in the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskBus {
    /// A virtio-blk PCI disk (`/dev/vdX`).
    Virtio,
    /// An IDE CD-ROM (the config drive as nova attaches it, `/dev/sr0`).
    Cdrom,
}

/// A disk of the guest.
#[derive(Debug, Clone)]
pub struct Disk {
    /// Device id, unique in the guest, also the top node's name.
    pub id: String,
    /// The image chain.
    pub image: ImageNode,
    /// The bus it sits on.
    pub bus: DiskBus,
    /// Whether the guest may write it.
    pub read_only: bool,
    /// Serial number shown to the guest (nova uses the volume id).
    pub serial: Option<String>,
}

impl Disk {
    /// The `device_add` arguments for this disk (for hot-plug over QMP).
    pub fn device_args(&self) -> Value {
        let mut device = match self.bus {
            DiskBus::Virtio => {
                json!({ "driver": "virtio-blk-pci", "drive": self.id, "id": self.id })
            }
            DiskBus::Cdrom => json!({ "driver": "ide-cd", "drive": self.id, "id": self.id }),
        };
        if let Some(serial) = &self.serial {
            device["serial"] = Value::String(serial.clone());
        }
        device
    }
}

/// A network card.
#[derive(Debug, Clone)]
pub struct Nic {
    /// Device id, unique in the guest.
    pub id: String,
    /// The port's MAC address.
    pub mac: String,
}

/// Everything needed to start one guest.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Instance name (shown by `ps` and in QEMU's messages).
    pub name: String,
    /// Instance uuid (SMBIOS system uuid, as nova sets it).
    pub uuid: String,
    /// Acceleration.
    pub accel: Accel,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Direct kernel boot: kernel, initrd, command line.
    pub kernel: Option<PathBuf>,
    /// Initial ramdisk for direct kernel boot.
    pub initrd: Option<PathBuf>,
    /// Kernel command line for direct kernel boot.
    pub cmdline: Option<String>,
    /// Disks in boot order.
    pub disks: Vec<Disk>,
    /// Network cards (user-mode networking for now).
    pub nics: Vec<Nic>,
    /// Where the serial console is appended (`console.log`).
    pub serial_log: PathBuf,
    /// The QMP socket QEMU listens on.
    pub qmp_socket: PathBuf,
    /// Where QEMU writes its pid (how a restarted Nimbus finds its guests).
    pub pidfile: PathBuf,
}

impl Machine {
    /// The arguments after the program name.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
        let accel = match self.accel {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        };
        push(&[
            "-name",
            &format!("guest={},debug-threads=on", escape(&self.name)),
        ]);
        push(&["-uuid", &self.uuid]);
        push(&["-machine", &format!("pc,accel={accel}")]);
        if self.accel == Accel::Kvm {
            push(&["-cpu", "host"]);
        }
        push(&[
            "-smp",
            &self.vcpus.to_string(),
            "-m",
            &self.memory_mib.to_string(),
        ]);
        push(&["-nodefaults", "-no-user-config", "-display", "none"]);
        // Seccomp: QEMU may not spawn processes or gain privileges.
        push(&[
            "-sandbox",
            "on,obsolete=deny,elevateprivileges=deny,spawn=deny",
        ]);
        push(&[
            "-chardev",
            &format!(
                "file,id=serial0,path={},append=on",
                escape_path(&self.serial_log)
            ),
            "-serial",
            "chardev:serial0",
        ]);
        push(&[
            "-chardev",
            &format!(
                "socket,id=qmp,path={},server=on,wait=off",
                escape_path(&self.qmp_socket)
            ),
            "-mon",
            "chardev=qmp,mode=control",
        ]);
        push(&["-pidfile", &self.pidfile.to_string_lossy()]);
        if let Some(kernel) = &self.kernel {
            push(&["-kernel", &kernel.to_string_lossy()]);
        }
        if let Some(initrd) = &self.initrd {
            push(&["-initrd", &initrd.to_string_lossy()]);
        }
        if let Some(cmdline) = &self.cmdline {
            push(&["-append", cmdline]);
        }
        for (index, disk) in self.disks.iter().enumerate() {
            for object in disk.image.secret_objects(&disk.id) {
                push(&["-object", &object_option(&object)]);
            }
            for node in disk.image.blockdev_args(&disk.id, disk.read_only) {
                push(&["-blockdev", &node.to_string()]);
            }
            let mut device = device_option(&disk.device_args());
            if index == 0 && self.kernel.is_none() {
                device.push_str(",bootindex=0");
            }
            push(&["-device", &device]);
        }
        for nic in &self.nics {
            push(&["-netdev", &format!("user,id={}", nic.id)]);
            push(&[
                "-device",
                &format!(
                    "virtio-net-pci,netdev={},mac={},id={}-dev",
                    nic.id, nic.mac, nic.id
                ),
            ]);
        }
        args
    }

    /// The command that starts this guest: its own process group, so a
    /// signal to Nimbus's group (Ctrl-C, a restart) does not reach it, and
    /// no stdin. QEMU's `-daemonize` is not used because it forks, which the
    /// seccomp sandbox (`spawn=deny`) forbids; the caller sets stdout and
    /// stderr (a log file) and keeps the child to reap it.
    pub fn command(&self, program: &str) -> std::process::Command {
        use std::os::unix::process::CommandExt;
        let mut command = std::process::Command::new(program);
        command
            .args(self.args())
            .stdin(std::process::Stdio::null())
            .process_group(0);
        command
    }

    /// The command as a shell script an operator can read (and run):
    /// one option per line.
    pub fn script(&self, program: &str) -> String {
        let mut out = format!(
            "#!/bin/sh\n# QEMU command line of instance {}\nexec {}",
            self.uuid,
            quote(program)
        );
        let args = self.args();
        let mut iter = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .peekable();
        while let Some(arg) = iter.next() {
            out.push_str(" \\\n  ");
            out.push_str(&quote(&arg));
            if arg.starts_with('-')
                && iter.peek().is_some_and(|next| !next.starts_with('-'))
                && let Some(value) = iter.next()
            {
                out.push(' ');
                out.push_str(&quote(&value));
            }
        }
        out.push('\n');
        out
    }
}

/// `-device` takes `key=value,...`; values here are our own ids and fixed
/// names, never guest or user data, but commas are still escaped.
fn device_option(args: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(driver) = args.get("driver").and_then(Value::as_str) {
        parts.push(driver.to_string());
    }
    if let Some(map) = args.as_object() {
        for (key, value) in map {
            if key == "driver" {
                continue;
            }
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            parts.push(format!("{key}={}", escape(&value)));
        }
    }
    parts.join(",")
}

/// `-object` takes `qom-type,key=value,...` like `-device`.
fn object_option(args: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(ty) = args.get("qom-type").and_then(Value::as_str) {
        parts.push(ty.to_string());
    }
    if let Some(map) = args.as_object() {
        for (key, value) in map {
            if key == "qom-type" {
                continue;
            }
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            parts.push(format!("{key}={}", escape(&value)));
        }
    }
    parts.join(",")
}

/// QEMU's option syntax doubles a comma to mean a literal one.
fn escape(value: &str) -> String {
    value.replace(',', ",,")
}

fn escape_path(path: &std::path::Path) -> String {
    escape(&path.to_string_lossy())
}

fn quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+".contains(c))
    {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            name: "vm,1".into(),
            uuid: "6a2d8c3e-0000-4000-8000-000000000001".into(),
            accel: Accel::Tcg,
            vcpus: 2,
            memory_mib: 256,
            kernel: Some("/i/kernel".into()),
            initrd: None,
            cmdline: Some("console=ttyS0".into()),
            disks: vec![Disk {
                id: "disk0".into(),
                image: ImageNode::overlay(
                    "/i/disk",
                    ImageNode::overlay("/i/mid", ImageNode::file("/base/abc", ImageFormat::Raw)),
                ),
                bus: DiskBus::Virtio,
                read_only: false,
                serial: None,
            }],
            nics: vec![Nic {
                id: "net0".into(),
                mac: "fa:16:3e:00:00:01".into(),
            }],
            serial_log: "/i/console.log".into(),
            qmp_socket: "/i/qmp.sock".into(),
            pidfile: "/i/qemu.pid".into(),
        }
    }

    #[test]
    fn chain_is_explicit_bottom_first_and_backing_read_only() {
        let nodes = machine().disks[0].image.blockdev_args("disk0", false);
        assert_eq!(nodes.len(), 3);
        assert_eq!(nodes[0]["node-name"], "disk0-b-b");
        assert_eq!(nodes[0]["driver"], "raw");
        assert_eq!(nodes[0]["read-only"], true);
        assert!(nodes[0].get("backing").is_none());
        assert_eq!(nodes[1]["backing"], "disk0-b-b");
        assert_eq!(nodes[1]["read-only"], true);
        assert_eq!(nodes[2]["node-name"], "disk0");
        assert_eq!(nodes[2]["backing"], "disk0-b");
        assert_eq!(nodes[2]["read-only"], false);
        assert_eq!(nodes[2]["file"]["filename"], "/i/disk");
    }

    #[test]
    fn iscsi_lun_is_a_raw_node_with_its_chap_secret() {
        let node = ImageNode::Iscsi {
            portal: "127.0.0.1:3260".into(),
            target: "iqn.x:volume-1".into(),
            lun: 1,
            user: Some("u".into()),
            password: Some(Secret::File("/i/chap".into())),
            initiator_name: None,
        };
        let nodes = node.blockdev_args("vol1", false);
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0]["driver"], "raw");
        assert_eq!(nodes[0]["file"]["driver"], "iscsi");
        assert_eq!(nodes[0]["file"]["lun"], 1);
        assert_eq!(nodes[0]["file"]["password-secret"], "vol1-secret");
        let objects = node.secret_objects("vol1");
        assert_eq!(objects[0]["file"], "/i/chap");
        let option = object_option(&objects[0]);
        assert!(option.starts_with("secret,"), "{option}");
        for part in ["file=/i/chap", "format=raw", "id=vol1-secret"] {
            assert!(option.split(',').any(|p| p == part), "{option}");
        }
        let mut m = machine();
        m.disks.push(Disk {
            id: "vol1".into(),
            image: node,
            bus: DiskBus::Virtio,
            read_only: false,
            serial: Some("v-1".into()),
        });
        let args: Vec<String> = m
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let object = args.iter().position(|a| a.starts_with("secret,")).unwrap();
        let blockdev = args.iter().position(|a| a.contains("\"iscsi\"")).unwrap();
        assert!(
            object < blockdev,
            "the secret exists before the node that uses it"
        );
        assert!(format!("{:?}", Secret::Data("pw".into())).contains("redacted"));
    }

    #[test]
    fn standalone_qcow2_has_no_backing_at_all() {
        let nodes = ImageNode::file("/x", ImageFormat::Qcow2).blockdev_args("d", true);
        assert_eq!(nodes[0]["backing"], Value::Null);
    }

    #[test]
    fn command_line_escapes_commas_and_names_everything() {
        let args: Vec<String> = machine()
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"guest=vm,,1,debug-threads=on".to_string()));
        assert!(args.contains(&"pc,accel=tcg".to_string()));
        assert!(args.contains(&"-nodefaults".to_string()));
        assert!(
            !args.contains(&"-daemonize".to_string()),
            "forking is denied by the sandbox"
        );
        assert!(
            args.iter()
                .any(|a| a == "virtio-blk-pci,drive=disk0,id=disk0")
        );
        assert!(args.iter().any(|a| a.contains("mac=fa:16:3e:00:00:01")));
        let script = machine().script("qemu-system-x86_64");
        assert!(script.starts_with("#!/bin/sh\n"));
        assert!(script.contains("-m 256"));
    }
}
