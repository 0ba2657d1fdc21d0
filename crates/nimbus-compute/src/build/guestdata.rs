//! What the guest gets told: injected into its root disk (nova's libvirt
//! `_inject_data`) or written to a config drive (`ConfigDriveBuilder`).

use std::path::{Path, PathBuf};

use nimbus_configdrive::instance::{Ec2Info, InjectedFile, KeyPair};
use nimbus_configdrive::{DriveOptions, Instance, InstanceMetadata, MetadataConfig, Purpose};
use nimbus_disk::Format;
use nimbus_guestfs::{InjectPartition, InjectRequest, Item};

use super::InstanceSpec;
use super::cache::{blocking, io_error};
use super::disks::open_for_write;
use crate::config::ComputeConfig;
use crate::error::{ComputeError, ComputeErrorKind};

/// nova's `configdrive.required_by`: asked for, forced by the operator, or
/// made mandatory by the image.
pub fn config_drive_required(config: &ComputeConfig, spec: &InstanceSpec) -> bool {
    spec.config_drive
        || config.force_config_drive
        || spec
            .image
            .properties
            .get("img_config_drive")
            .is_some_and(|v| v == "mandatory")
}

/// The injection nova's `_inject_data` would do, or `None` when there is
/// nothing to write (nova skips the disk entirely then).
pub fn injection_request(config: &ComputeConfig, spec: &InstanceSpec) -> Option<InjectRequest> {
    let key = spec
        .key
        .as_ref()
        .filter(|_| config.inject_key)
        .map(|k| k.public_key.clone())
        .filter(|k| !k.is_empty());
    let admin_password = spec
        .admin_pass
        .clone()
        .filter(|p| config.inject_password && !p.is_empty());
    let request = InjectRequest {
        key,
        net: super::net::injected_network(&spec.network_info),
        metadata: spec
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        admin_password,
        files: spec
            .files
            .iter()
            .map(|(path, contents)| (guest_path(path), contents.clone()))
            .collect(),
        // As nova: a file that cannot be written fails the build; the
        // other items are logged and skipped.
        mandatory: vec![Item::Files],
        libvirt_virt_type: Some(config.virt_type.clone()),
    };
    let any = request.key.is_some()
        || request.net.is_some()
        || !request.metadata.is_empty()
        || request.admin_password.is_some()
        || !request.files.is_empty();
    any.then_some(request)
}

/// A personality path as the guest filesystem sees it: nova's guestfs VFS
/// (`_canonicalize_path`) roots a relative path at `/`, and Tempest's
/// rebuild test sends `rebuild.txt`.
fn guest_path(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// Injects `request` into the root disk at `disk`.
pub async fn inject(
    disk: &Path,
    format: Format,
    base_dir: &Path,
    partition: i32,
    request: InjectRequest,
) -> Result<nimbus_guestfs::InjectReport, ComputeError> {
    let partition = InjectPartition::from_nova(i64::from(partition)).map_err(|e| {
        ComputeError::new(ComputeErrorKind::Build, "inject_partition").with_source(e)
    })?;
    let (disk, base_dir) = (disk.to_path_buf(), base_dir.to_path_buf());
    blocking(move || {
        let dev = std::sync::Arc::new(open_for_write(&disk, format, &base_dir)?);
        let report = nimbus_guestfs::inject_data(dev, partition, &request).map_err(|e| {
            ComputeError::new(
                ComputeErrorKind::Build,
                format!("injecting data into {}", disk.display()),
            )
            .with_source(e)
        })?;
        for (item, err) in &report.skipped {
            tracing::warn!(item = item.name(), error = %err, disk = %disk.display(),
                "not injected");
        }
        Ok(report)
    })
    .await
}

/// The metadata nova renders for the config drive of `spec`.
pub fn instance_metadata(spec: &InstanceSpec) -> InstanceMetadata {
    let ec2_id = |prefix: &str, uuid: &str| {
        let hex: String = uuid
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(8)
            .collect();
        format!("{prefix}-{hex:0>8}")
    };
    let instance = Instance {
        uuid: spec.uuid.clone(),
        name: spec.display_name.clone(),
        hostname: spec.hostname.clone(),
        launch_index: spec.launch_index,
        availability_zone: spec.availability_zone.clone(),
        project_id: spec.project_id.clone(),
        keypairs: spec
            .key
            .iter()
            .map(|k| KeyPair {
                name: k.name.clone(),
                key_type: k.key_type.clone(),
                public_key: k.public_key.clone(),
            })
            .collect(),
        metadata: spec.metadata.clone(),
        user_data: spec.user_data.clone(),
        files: spec
            .files
            .iter()
            .map(|(path, contents)| InjectedFile {
                path: path.clone(),
                contents: contents.clone(),
            })
            .collect(),
        admin_pass: spec.admin_pass.clone(),
        network_info: spec.network_info.clone(),
        ec2: Ec2Info {
            instance_id: ec2_id("i", &spec.uuid),
            ami_id: ec2_id("ami", &spec.image.id),
            kernel_id: spec
                .image
                .properties
                .get("kernel_id")
                .map(|k| ec2_id("aki", k)),
            ramdisk_id: spec
                .image
                .properties
                .get("ramdisk_id")
                .map(|r| ec2_id("ari", r)),
            reservation_id: spec.reservation_id.clone(),
            instance_type: spec.flavor.name.clone(),
            root_device_name: Some("/dev/vda".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    InstanceMetadata::new(instance, MetadataConfig::default(), Purpose::ConfigDrive)
}

/// Writes the ISO 9660 config drive `disk.config` (volume id `config-2`).
pub async fn write_config_drive(dir: &Path, spec: &InstanceSpec) -> Result<PathBuf, ComputeError> {
    let md = instance_metadata(spec);
    let path = dir.join("disk.config");
    let (p, timestamp) = (path.clone(), spec.created_at.timestamp());
    blocking(move || {
        let tree = nimbus_configdrive::tree_for(&md).map_err(|e| {
            ComputeError::new(ComputeErrorKind::Build, "rendering the config drive").with_source(e)
        })?;
        let mut options = DriveOptions::default();
        options.iso.publisher = format!("Nimbus {}", env!("CARGO_PKG_VERSION"));
        options.iso.timestamp = timestamp;
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)
            .map_err(|e| io_error("creating", &p, e))?;
        nimbus_configdrive::make_drive(&tree, nimbus_configdrive::Format::Iso9660, &options, &file)
            .map_err(|e| {
                ComputeError::new(ComputeErrorKind::Build, format!("writing {}", p.display()))
                    .with_source(e)
            })?;
        file.sync_all().map_err(|e| io_error("syncing", &p, e))
    })
    .await?;
    Ok(path)
}
