//! Compute settings, named as in nova.conf (`[DEFAULT]`, `[libvirt]`,
//! `[image_cache]`, `[quota]`), gathered in one `[compute]` section of
//! Nimbus's config file so the compute service owns all of them.

use std::path::{Path, PathBuf};

/// Settings of the compute service.
#[derive(Debug, Clone)]
pub struct ComputeConfig {
    /// `instances_path`: instance directories and `_base` live here.
    pub instances_path: PathBuf,
    /// `force_raw_images`: convert cached base images to raw (nova's default: true).
    pub force_raw_images: bool,
    /// `force_config_drive`: every instance gets a config drive.
    pub force_config_drive: bool,
    /// `[libvirt] images_type`: `qcow2` (overlay on the base) or `raw` (a copy).
    pub images_type: String,
    /// `[libvirt] inject_partition`: -2 off, -1 inspect, 0 whole disk, N partition.
    pub inject_partition: i32,
    /// `[libvirt] inject_key`: write the key pair into root's authorized_keys.
    pub inject_key: bool,
    /// `[libvirt] inject_password`: write `adminPass` into /etc/shadow.
    pub inject_password: bool,
    /// `[libvirt] virt_type`: `kvm`, `qemu`, or `auto` (KVM only if it really runs a guest).
    pub virt_type: String,
    /// `[image_cache] remove_unused_original_minimum_age_seconds`.
    pub remove_unused_original_minimum_age_seconds: u64,
    /// `[image_cache] manager_interval` (seconds between cache manager
    /// passes; 0 means nova's periodic default of 60, negative disables).
    pub image_cache_manager_interval: i64,
    /// `flat_injected`: the ports' static addresses are written into the
    /// guest's `/etc/network/interfaces` when injecting (nova's default:
    /// false; Nimbus's: true, as for the other injected items).
    pub flat_injected: bool,
}

impl ComputeConfig {
    /// Defaults under `data_dir` (`<data_dir>/instances`). Injection is on,
    /// unlike nova, because ours never mounts the guest's filesystem.
    pub fn under(data_dir: &Path) -> ComputeConfig {
        ComputeConfig {
            instances_path: data_dir.join("instances"),
            force_raw_images: true,
            force_config_drive: false,
            images_type: "qcow2".into(),
            inject_partition: -1,
            inject_key: true,
            inject_password: true,
            virt_type: "auto".into(),
            remove_unused_original_minimum_age_seconds: 86400,
            image_cache_manager_interval: 2400,
            flat_injected: true,
        }
    }
}

/// The `[compute]` section of the config file: nova.conf's option names.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComputeSection {
    /// See [`ComputeConfig::instances_path`].
    pub instances_path: Option<PathBuf>,
    /// See [`ComputeConfig::force_raw_images`].
    pub force_raw_images: Option<bool>,
    /// See [`ComputeConfig::force_config_drive`].
    pub force_config_drive: Option<bool>,
    /// See [`ComputeConfig::images_type`].
    pub images_type: Option<String>,
    /// See [`ComputeConfig::inject_partition`].
    pub inject_partition: Option<i32>,
    /// See [`ComputeConfig::inject_key`].
    pub inject_key: Option<bool>,
    /// See [`ComputeConfig::inject_password`].
    pub inject_password: Option<bool>,
    /// See [`ComputeConfig::virt_type`].
    pub virt_type: Option<String>,
    /// See [`ComputeConfig::remove_unused_original_minimum_age_seconds`].
    pub remove_unused_original_minimum_age_seconds: Option<u64>,
    /// See [`ComputeConfig::image_cache_manager_interval`] (nova's
    /// deprecated `[DEFAULT]` name of `[image_cache] manager_interval`).
    pub image_cache_manager_interval: Option<i64>,
    /// See [`ComputeConfig::flat_injected`].
    pub flat_injected: Option<bool>,
}

impl ComputeSection {
    /// The settings: this section over the defaults under `data_dir`.
    pub fn resolve(&self, data_dir: &Path) -> ComputeConfig {
        let d = ComputeConfig::under(data_dir);
        ComputeConfig {
            instances_path: self.instances_path.clone().unwrap_or(d.instances_path),
            force_raw_images: self.force_raw_images.unwrap_or(d.force_raw_images),
            force_config_drive: self.force_config_drive.unwrap_or(d.force_config_drive),
            images_type: self.images_type.clone().unwrap_or(d.images_type),
            inject_partition: self.inject_partition.unwrap_or(d.inject_partition),
            inject_key: self.inject_key.unwrap_or(d.inject_key),
            inject_password: self.inject_password.unwrap_or(d.inject_password),
            virt_type: self.virt_type.clone().unwrap_or(d.virt_type),
            remove_unused_original_minimum_age_seconds: self
                .remove_unused_original_minimum_age_seconds
                .unwrap_or(d.remove_unused_original_minimum_age_seconds),
            image_cache_manager_interval: self
                .image_cache_manager_interval
                .unwrap_or(d.image_cache_manager_interval),
            flat_injected: self.flat_injected.unwrap_or(d.flat_injected),
        }
    }
}
