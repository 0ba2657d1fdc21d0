//! `machine.json` in the instance dir: the machine definition a stopped or
//! suspended guest starts again from, also after a Nimbus restart.

use std::path::{Path, PathBuf};

use nimbus_qmp::{Accel, Disk, DiskBus, ImageFormat, ImageNode, Machine, Nic};
use serde_json::{Value, json};

use super::{DriverError, Result};

const MACHINE_FILE: &str = "machine.json";

/// Writes `machine` to `dir/machine.json` (beside, then renamed).
pub async fn save(dir: &Path, machine: &Machine) -> Result<()> {
    let text = to_json(machine).to_string();
    let tmp = dir.join(".machine.json.tmp");
    tokio::fs::write(&tmp, text)
        .await
        .map_err(|e| DriverError::io(format!("write {}", tmp.display()), e))?;
    tokio::fs::rename(&tmp, dir.join(MACHINE_FILE))
        .await
        .map_err(|e| DriverError::io("rename machine.json into place", e))
}

/// Reads `dir/machine.json`.
pub async fn load(dir: &Path) -> Result<Machine> {
    let path = dir.join(MACHINE_FILE);
    let text = tokio::fs::read(&path)
        .await
        .map_err(|e| DriverError::io(format!("read {}", path.display()), e))?;
    let value: Value = serde_json::from_slice(&text)
        .map_err(|_| DriverError::InvalidState(format!("{} is not JSON", path.display())))?;
    from_json(&value)
        .ok_or_else(|| DriverError::InvalidState(format!("{} is not a machine", path.display())))
}

fn to_json(m: &Machine) -> Value {
    json!({
        "name": m.name,
        "uuid": m.uuid,
        "accel": match m.accel { Accel::Kvm => "kvm", Accel::Tcg => "tcg" },
        "vcpus": m.vcpus,
        "memory_mib": m.memory_mib,
        "kernel": m.kernel,
        "initrd": m.initrd,
        "cmdline": m.cmdline,
        "disks": m.disks.iter().map(|d| json!({
            "id": d.id,
            "image": node_json(&d.image),
            "bus": match d.bus { DiskBus::Virtio => "virtio", DiskBus::Cdrom => "cdrom" },
            "read_only": d.read_only,
            "serial": d.serial,
        })).collect::<Vec<_>>(),
        "nics": m.nics.iter().map(|n| json!({"id": n.id, "mac": n.mac})).collect::<Vec<_>>(),
        "serial_log": m.serial_log,
        "qmp_socket": m.qmp_socket,
        "pidfile": m.pidfile,
    })
}

fn node_json(node: &ImageNode) -> Value {
    match node {
        ImageNode::File {
            path,
            format,
            backing,
        } => json!({
            "path": path,
            "format": match format { ImageFormat::Raw => "raw", ImageFormat::Qcow2 => "qcow2" },
            "backing": backing.as_deref().map(node_json),
        }),
        #[allow(unreachable_patterns)]
        _ => Value::Null,
    }
}

fn node_from(v: &Value) -> Option<ImageNode> {
    let path = PathBuf::from(v.get("path")?.as_str()?);
    let format = match v.get("format")?.as_str()? {
        "raw" => ImageFormat::Raw,
        "qcow2" => ImageFormat::Qcow2,
        _ => return None,
    };
    match v.get("backing") {
        Some(b) if !b.is_null() => {
            let backing = node_from(b)?;
            let mut node = ImageNode::overlay(path, backing);
            if let ImageNode::File { format: f, .. } = &mut node {
                *f = format;
            }
            Some(node)
        }
        _ => Some(ImageNode::file(path, format)),
    }
}

fn path_opt(v: &Value, key: &str) -> Option<Option<PathBuf>> {
    match v.get(key)? {
        Value::Null => Some(None),
        Value::String(s) => Some(Some(PathBuf::from(s))),
        _ => None,
    }
}

fn from_json(v: &Value) -> Option<Machine> {
    let mut disks = Vec::new();
    for d in v.get("disks")?.as_array()? {
        disks.push(Disk {
            id: d.get("id")?.as_str()?.to_string(),
            image: node_from(d.get("image")?)?,
            bus: match d.get("bus")?.as_str()? {
                "virtio" => DiskBus::Virtio,
                "cdrom" => DiskBus::Cdrom,
                _ => return None,
            },
            read_only: d.get("read_only")?.as_bool()?,
            serial: d.get("serial").and_then(Value::as_str).map(str::to_string),
        });
    }
    let mut nics = Vec::new();
    for n in v.get("nics")?.as_array()? {
        nics.push(Nic {
            id: n.get("id")?.as_str()?.to_string(),
            mac: n.get("mac")?.as_str()?.to_string(),
        });
    }
    Some(Machine {
        name: v.get("name")?.as_str()?.to_string(),
        uuid: v.get("uuid")?.as_str()?.to_string(),
        accel: match v.get("accel")?.as_str()? {
            "kvm" => Accel::Kvm,
            "tcg" => Accel::Tcg,
            _ => return None,
        },
        vcpus: u32::try_from(v.get("vcpus")?.as_u64()?).ok()?,
        memory_mib: v.get("memory_mib")?.as_u64()?,
        kernel: path_opt(v, "kernel")?,
        initrd: path_opt(v, "initrd")?,
        cmdline: v.get("cmdline").and_then(Value::as_str).map(str::to_string),
        disks,
        nics,
        serial_log: PathBuf::from(v.get("serial_log")?.as_str()?),
        qmp_socket: PathBuf::from(v.get("qmp_socket")?.as_str()?),
        pidfile: PathBuf::from(v.get("pidfile")?.as_str()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_machine_survives_the_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let m = Machine {
            name: "n".into(),
            uuid: "u".into(),
            accel: Accel::Tcg,
            vcpus: 2,
            memory_mib: 256,
            kernel: Some("/k".into()),
            initrd: None,
            cmdline: Some("console=ttyS0".into()),
            disks: vec![Disk {
                id: "disk0".into(),
                image: ImageNode::overlay("/i/disk", ImageNode::file("/b/base", ImageFormat::Raw)),
                bus: DiskBus::Virtio,
                read_only: false,
                serial: Some("s".into()),
            }],
            nics: vec![Nic {
                id: "net0".into(),
                mac: "fa:16:3e:00:00:01".into(),
            }],
            serial_log: "/i/console.log".into(),
            qmp_socket: "/i/qmp.sock".into(),
            pidfile: "/i/qemu.pid".into(),
        };
        save(dir.path(), &m).await.unwrap();
        let back = load(dir.path()).await.unwrap();
        assert_eq!(back.args(), m.args());
        assert_eq!(back.disks[0].image, m.disks[0].image);
    }
}
