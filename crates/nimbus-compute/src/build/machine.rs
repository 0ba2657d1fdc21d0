//! The machine definition of a prepared instance (nova's
//! `_get_guest_config`, for QEMU's command line instead of libvirt XML).

use std::path::{Path, PathBuf};

use nimbus_disk::Format;
use nimbus_qmp::{Accel, Disk, DiskBus, ImageFormat, ImageNode, Machine};
use sha1::{Digest, Sha1};
use tokio::sync::OnceCell;

use super::cache::{CachedImage, blocking};
use super::{ImagesType, InstanceSpec};
use crate::driver::QemuDriver;
use crate::error::{ComputeError, ComputeErrorKind};

/// nova's libvirt default kernel command line when the image has a kernel
/// but no `os_command_line` (`root=<root device> CONSOLE`).
const DEFAULT_CMDLINE: &str = "root=/dev/vda console=tty0 console=ttyS0 console=hvc0";

/// `virt_type` resolved: `kvm`, `qemu`, or `auto` (KVM only when it really
/// runs a guest here; probed once per process).
pub async fn accel_for(virt_type: &str) -> Result<Accel, ComputeError> {
    static AUTO: OnceCell<Accel> = OnceCell::const_new();
    match virt_type {
        "kvm" => Ok(Accel::Kvm),
        "qemu" => Ok(Accel::Tcg),
        "auto" => AUTO
            .get_or_try_init(|| {
                blocking(|| Ok(nimbus_qmp::virt_type_auto(Path::new("qemu-system-x86_64"))))
            })
            .await
            .copied(),
        other => Err(ComputeError::new(
            ComputeErrorKind::Build,
            format!("virt_type {other:?} is not supported (kvm, qemu, auto)"),
        )),
    }
}

/// The instance's MAC: its first port's, else a stable one in nova's
/// `fa:16:3e` range derived from the uuid (the same after a restart).
pub fn mac_for(spec: &InstanceSpec) -> String {
    if let Some(mac) = spec.network_info.first().and_then(|v| v.address.clone()) {
        return mac;
    }
    let d = Sha1::digest(spec.uuid.as_bytes());
    format!("fa:16:3e:{:02x}:{:02x}:{:02x}", d[0], d[1], d[2])
}

/// What [`machine`] assembles.
pub(super) struct Parts<'a> {
    pub spec: &'a InstanceSpec,
    pub dir: &'a Path,
    pub accel: Accel,
    pub kind: ImagesType,
    /// None for a volume-backed instance (its root is a volume disk).
    pub root: Option<(&'a Path, &'a CachedImage)>,
    pub eph: Option<&'a (PathBuf, CachedImage)>,
    pub swap: Option<&'a (PathBuf, CachedImage)>,
    pub config_drive: Option<&'a Path>,
    pub kernel: Option<&'a Path>,
    pub ramdisk: Option<&'a Path>,
}

fn image_format(f: Format) -> ImageFormat {
    match f {
        Format::Raw => ImageFormat::Raw,
        Format::Qcow2 => ImageFormat::Qcow2,
    }
}

/// A disk's image chain: an overlay with its base as explicit backing
/// node, or a standalone raw copy.
fn chain(kind: ImagesType, path: &Path, base: &CachedImage) -> ImageNode {
    match kind {
        ImagesType::Qcow2 => {
            ImageNode::overlay(path, ImageNode::file(&base.path, image_format(base.format)))
        }
        ImagesType::Raw => ImageNode::file(path, ImageFormat::Raw),
    }
}

fn virtio(id: &str, image: ImageNode) -> Disk {
    Disk {
        id: id.into(),
        image,
        bus: DiskBus::Virtio,
        read_only: false,
        serial: None,
    }
}

pub(super) fn machine(p: Parts<'_>) -> Machine {
    let mut disks = Vec::new();
    if let Some((root_path, root_base)) = p.root {
        disks.push(virtio("disk", chain(p.kind, root_path, root_base)));
    }
    if let Some((path, base)) = p.eph {
        disks.push(virtio("disk-eph0", chain(p.kind, path, base)));
    }
    if let Some((path, base)) = p.swap {
        disks.push(virtio("disk-swap", chain(p.kind, path, base)));
    }
    if let Some(path) = p.config_drive {
        disks.push(Disk {
            id: "disk-config".into(),
            image: ImageNode::file(path, ImageFormat::Raw),
            bus: DiskBus::Cdrom,
            read_only: true,
            serial: None,
        });
    }
    let cmdline = p.kernel.map(|_| {
        p.spec
            .image
            .properties
            .get("os_command_line")
            .filter(|c| !c.is_empty())
            .cloned()
            .unwrap_or_else(|| DEFAULT_CMDLINE.to_string())
    });
    let (pidfile, qmp_socket) = QemuDriver::paths_in(p.dir);
    Machine {
        name: format!("instance-{}", p.spec.uuid),
        uuid: p.spec.uuid.clone(),
        accel: p.accel,
        vcpus: p.spec.flavor.vcpus.max(1),
        memory_mib: p.spec.flavor.memory_mb,
        kernel: p.kernel.map(Path::to_path_buf),
        initrd: p.ramdisk.map(Path::to_path_buf),
        cmdline,
        disks,
        nics: super::net::nics(p.spec),
        serial_log: p.dir.join("console.log"),
        qmp_socket,
        pidfile,
    }
}
