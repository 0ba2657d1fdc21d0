//! The build pipeline (nova's `_create_image`): the `_base` image cache,
//! the instance's disks, injection or config drive, and the machine
//! definition the driver starts.
//!
//! `instances/<uuid>/` ends up with `console.log`, `disk`, `disk.info`,
//! `disk.eph0`, `disk.swap`, `disk.config`, `kernel` and `ramdisk` as the
//! flavor and image ask; the driver adds `domain.sh` when it starts the
//! machine.

mod cache;
mod disks;
mod guestdata;
mod machine;
mod net;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nimbus_common::RequestContext;
use nimbus_configdrive::instance::Vif;
use nimbus_disk::Format;
use nimbus_image::app::model::Image;

pub use cache::{CachedImage, ImageCache};
pub use disks::ImagesType;
pub use guestdata::{config_drive_required, injection_request, instance_metadata};
pub use machine::{accel_for, mac_for};
pub use net::injected_network;
pub use validate::{BuildRefusal, FlavorSpec, validate};

use crate::app::ComputeService;
use crate::config::ComputeConfig;
use crate::error::{ComputeError, ComputeErrorKind};
use cache::io_error;

const GIB: u64 = 1 << 30;

/// The key pair an instance is built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    /// Key pair name.
    pub name: String,
    /// `ssh` or `x509`.
    pub key_type: String,
    /// The public key text.
    pub public_key: String,
}

/// Everything the pipeline needs about one instance, filled from the
/// create request by the servers API.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    /// Instance uuid (also the directory name; must be a uuid).
    pub uuid: String,
    /// Guest hostname.
    pub hostname: String,
    /// Display name.
    pub display_name: String,
    /// Owning project.
    pub project_id: String,
    /// Creating user.
    pub user_id: String,
    /// The root image's metadata (`kernel_id`, `ramdisk_id`,
    /// `os_command_line`, `os_type`, `img_config_drive` are read from its
    /// properties).
    pub image: Image,
    /// Flavor numbers.
    pub flavor: FlavorSpec,
    /// The key pair, if any.
    pub key: Option<KeySpec>,
    /// `adminPass`, if any.
    pub admin_pass: Option<String>,
    /// Server metadata (`/meta.js`, `meta` in meta_data.json).
    pub metadata: BTreeMap<String, String>,
    /// Personality files: (absolute guest path, contents).
    pub files: Vec<(String, Vec<u8>)>,
    /// Decoded `user_data`.
    pub user_data: Option<Vec<u8>>,
    /// `config_drive` from the request.
    pub config_drive: bool,
    /// The ports, as nova's `network_info` (one guest NIC each).
    pub network_info: Vec<Vif>,
    /// `networks: none`: no NIC at all (without ports and without this,
    /// the guest gets one user-mode NIC).
    pub no_nic: bool,
    /// Availability zone.
    pub availability_zone: Option<String>,
    /// Index within a multi-create request.
    pub launch_index: i64,
    /// `r-...` of the create request.
    pub reservation_id: String,
    /// Creation time (time stamps on the config drive).
    pub created_at: DateTime<Utc>,
}

/// A prepared instance directory and the machine to start from it.
#[derive(Debug, Clone)]
pub struct PreparedInstance {
    /// `instances/<uuid>`.
    pub dir: PathBuf,
    /// The machine definition for `QemuDriver::start`.
    pub machine: nimbus_qmp::Machine,
    /// Wall time per pipeline step: fetch, disk, ephemeral, swap, inject,
    /// configdrive (steps not done are absent).
    pub timings: Vec<(&'static str, Duration)>,
}

/// The directory of instance `uuid` (refused unless `uuid` is a uuid, so
/// it can never name another path).
pub fn instance_dir(config: &ComputeConfig, uuid: &str) -> Result<PathBuf, ComputeError> {
    let parsed = uuid::Uuid::parse_str(uuid).map_err(|_| {
        ComputeError::new(
            ComputeErrorKind::Build,
            format!("{uuid:?} is not an instance uuid"),
        )
    })?;
    if parsed.hyphenated().to_string() != uuid {
        return Err(ComputeError::new(
            ComputeErrorKind::Build,
            format!("{uuid:?} is not an instance uuid in canonical form"),
        ));
    }
    Ok(config.instances_path.join(uuid))
}

/// Prepares `instances/<uuid>/` for `spec` (nova's `_create_image` and
/// `_get_guest_config`). On failure the directory is left for the caller
/// to remove with [`cleanup_instance`] (nova keeps it for the fault).
pub async fn prepare_instance(
    service: &ComputeService,
    ctx: &RequestContext,
    cache: &ImageCache,
    spec: &InstanceSpec,
) -> Result<PreparedInstance, ComputeError> {
    let config = service.config();
    let kind = ImagesType::parse(&config.images_type)?;
    let dir = instance_dir(config, &spec.uuid)?;
    let mut timings = Vec::new();
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| io_error("creating", &dir, e))?;
    // nova writes an empty console log first, owned by the service.
    let console = dir.join("console.log");
    tokio::fs::write(&console, b"")
        .await
        .map_err(|e| io_error("creating", &console, e))?;
    // A volume-backed instance has no local root disk and is never
    // injected into (its root is a volume, `app::volumes`).
    let volume_backed = crate::app::volumes::root_bdm(service, &spec.uuid)
        .await?
        .is_some();

    let started = Instant::now();
    if !volume_backed && !validate::root_format_supported(spec.image.disk_format.as_deref()) {
        return Err(ComputeError::new(
            ComputeErrorKind::Image,
            format!(
                "Image {} is unacceptable: disk format {} cannot be booted",
                spec.image.id,
                spec.image.disk_format.as_deref().unwrap_or("None")
            ),
        ));
    }
    let base = match volume_backed {
        true => None,
        false => Some(cache.fetch(service.images(), ctx, &spec.image.id).await?),
    };
    let props = &spec.image.properties;
    let kernel = match props.get("kernel_id").filter(|k| !k.is_empty()) {
        Some(id) => Some(copy_boot_file(cache, service, ctx, id, &dir.join("kernel")).await?),
        None => None,
    };
    let ramdisk = match props.get("ramdisk_id").filter(|r| !r.is_empty()) {
        Some(id) => Some(copy_boot_file(cache, service, ctx, id, &dir.join("ramdisk")).await?),
        None => None,
    };
    timings.push(("fetch", started.elapsed()));

    let root = dir.join("disk");
    let mut formats = BTreeMap::new();
    if let Some(base) = &base {
        let started = Instant::now();
        let root_bytes = spec.flavor.root_gb.saturating_mul(GIB);
        if root_bytes != 0 && root_bytes < base.virtual_size {
            // nova's verify_base_size.
            return Err(ComputeError::new(
                ComputeErrorKind::Build,
                validate::BuildRefusal::FlavorDiskSmallerThanImage {
                    flavor_size: root_bytes,
                    image_size: base.virtual_size,
                }
                .to_string(),
            ));
        }
        disks::create_disk(kind, base, &root, root_bytes).await?;
        formats.insert("disk".to_string(), kind.format());
        timings.push(("disk", started.elapsed()));
    }

    let mut eph = None;
    if spec.flavor.ephemeral_gb > 0 {
        let started = Instant::now();
        let os_type = props.get("os_type").map(String::as_str).unwrap_or("");
        let eph_base = cache.ephemeral(spec.flavor.ephemeral_gb, os_type).await?;
        let path = dir.join("disk.eph0");
        disks::create_disk(kind, &eph_base, &path, 0).await?;
        formats.insert("disk.eph0".into(), kind.format());
        eph = Some((path, eph_base));
        timings.push(("ephemeral", started.elapsed()));
    }
    let mut swap = None;
    if spec.flavor.swap_mb > 0 {
        let started = Instant::now();
        let swap_base = cache.swap(spec.flavor.swap_mb).await?;
        let path = dir.join("disk.swap");
        disks::create_disk(kind, &swap_base, &path, 0).await?;
        formats.insert("disk.swap".into(), kind.format());
        swap = Some((path, swap_base));
        timings.push(("swap", started.elapsed()));
    }

    let mut config_drive = None;
    if config_drive_required(config, spec) {
        let started = Instant::now();
        config_drive = Some(guestdata::write_config_drive(&dir, spec).await?);
        formats.insert("disk.config".into(), Format::Raw);
        timings.push(("configdrive", started.elapsed()));
    } else if !volume_backed
        && config.inject_partition != -2
        && let Some(request) = injection_request(config, spec)
    {
        let started = Instant::now();
        guestdata::inject(
            &root,
            kind.format(),
            cache.base_dir(),
            config.inject_partition,
            request,
        )
        .await?;
        timings.push(("inject", started.elapsed()));
    }
    disks::write_disk_info(&dir, &formats).await?;

    let accel = accel_for(&config.virt_type).await?;
    let machine = machine::machine(machine::Parts {
        spec,
        dir: &dir,
        accel,
        kind,
        root: base.as_ref().map(|b| (root.as_path(), b)),
        eph: eph.as_ref(),
        swap: swap.as_ref(),
        config_drive: config_drive.as_deref(),
        kernel: kernel.as_deref(),
        ramdisk: ramdisk.as_deref(),
    });
    Ok(PreparedInstance {
        dir,
        machine,
        timings,
    })
}

/// Caches a kernel or ramdisk image and copies it into the instance
/// directory (nova's `Raw` backend for `kernel` and `ramdisk`), so the
/// instance keeps booting after the cache manager drops the base.
async fn copy_boot_file(
    cache: &ImageCache,
    service: &ComputeService,
    ctx: &RequestContext,
    image_id: &str,
    dest: &Path,
) -> Result<PathBuf, ComputeError> {
    let base = cache.fetch(service.images(), ctx, image_id).await?;
    if base.format != Format::Raw {
        return Err(ComputeError::new(
            ComputeErrorKind::Image,
            format!("Image {image_id} is unacceptable: a kernel or ramdisk must be raw data"),
        ));
    }
    tokio::fs::copy(&base.path, dest)
        .await
        .map_err(|e| io_error("copying into", dest, e))?;
    Ok(dest.to_path_buf())
}

/// Removes the directory of instance `uuid` and nothing else (a missing
/// directory is fine).
pub async fn cleanup_instance(config: &ComputeConfig, uuid: &str) -> Result<(), ComputeError> {
    let dir = instance_dir(config, uuid)?;
    match tokio::fs::remove_dir_all(&dir).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("removing", &dir, e)),
    }
}
