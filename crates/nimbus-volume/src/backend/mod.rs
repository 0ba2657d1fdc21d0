//! The backend driver boundary, shaped like Cinder's `VolumeDriver`: the
//! service decides *when* (status machine, quotas, attachments), a driver
//! decides *how* data is stored and how a host reaches it.
//!
//! Drivers are synchronous (file and process work); the service calls them
//! through `spawn_blocking`. A driver sees only [`DriverVolume`] /
//! [`DriverSnapshot`] (ids, sizes, what it saved earlier), never the
//! database, so another backend (Ceph RBD: `rbd create`/`rbd snap`, and a
//! `connection_info` of type `rbd` that QEMU opens directly) fits unchanged.

pub mod iscsi;
pub mod local;

use std::path::Path;

use serde_json::Value;

use crate::error::VolumeError;

/// What a driver needs to know about a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverVolume {
    /// The volume's UUID.
    pub id: String,
    /// Size in GiB.
    pub size_gib: u64,
    /// What the driver returned from `create_export` earlier.
    pub provider_location: Option<String>,
    /// Credentials the driver generated earlier (`CHAP user password`).
    pub provider_auth: Option<String>,
}

/// What a driver needs to know about a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverSnapshot {
    /// The snapshot's UUID.
    pub id: String,
    /// The volume it copies.
    pub volume_id: String,
    /// Size in GiB.
    pub size_gib: u64,
}

/// Fields a driver asks the service to save on the volume (Cinder's
/// "model update").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelUpdate {
    /// Where the volume is exported.
    pub provider_location: Option<String>,
    /// Credentials hosts must present.
    pub provider_auth: Option<String>,
}

/// Image formats the service hands to and takes from drivers.
pub use nimbus_disk::Format as DataFormat;

/// A block-storage backend.
pub trait Driver: Send + Sync + std::fmt::Debug {
    /// The backend's name (`local`, `iscsi`).
    fn name(&self) -> &'static str;
    /// Allocates a blank volume of `volume.size_gib`.
    fn create_volume(&self, volume: &DriverVolume) -> Result<(), VolumeError>;
    /// Creates `volume` holding the data of `snapshot` (grown to its size).
    fn create_volume_from_snapshot(
        &self,
        volume: &DriverVolume,
        snapshot: &DriverSnapshot,
    ) -> Result<(), VolumeError>;
    /// Creates `volume` as a copy of `source` (grown to its size).
    fn create_cloned_volume(
        &self,
        volume: &DriverVolume,
        source: &DriverVolume,
    ) -> Result<(), VolumeError>;
    /// Frees a volume's storage; a volume already gone is not an error.
    fn delete_volume(&self, volume: &DriverVolume) -> Result<(), VolumeError>;
    /// Makes the volume reachable for `connector` (writes a target, ...).
    fn create_export(
        &self,
        volume: &DriverVolume,
        connector: &Value,
    ) -> Result<ModelUpdate, VolumeError>;
    /// Withdraws the export; an export already gone is not an error.
    fn remove_export(&self, volume: &DriverVolume) -> Result<(), VolumeError>;
    /// What `connector`'s host needs to open the volume:
    /// `{"driver_volume_type": ..., "data": {...}}`.
    fn initialize_connection(
        &self,
        volume: &DriverVolume,
        connector: &Value,
    ) -> Result<Value, VolumeError>;
    /// The host is done with the volume.
    fn terminate_connection(
        &self,
        volume: &DriverVolume,
        connector: Option<&Value>,
    ) -> Result<(), VolumeError>;
    /// Grows the volume to `new_size_gib`.
    fn extend_volume(&self, volume: &DriverVolume, new_size_gib: u64) -> Result<(), VolumeError>;
    /// Copies the volume's current data into a snapshot.
    fn create_snapshot(
        &self,
        snapshot: &DriverSnapshot,
        volume: &DriverVolume,
    ) -> Result<(), VolumeError>;
    /// Frees a snapshot's storage; one already gone is not an error.
    fn delete_snapshot(&self, snapshot: &DriverSnapshot) -> Result<(), VolumeError>;
    /// Writes an image (a local file the service fetched, of `format`) into
    /// the volume, which keeps its size.
    fn copy_image_to_volume(
        &self,
        volume: &DriverVolume,
        image: &Path,
        format: DataFormat,
    ) -> Result<(), VolumeError>;
    /// Writes the volume's data to the local file `dest` in `format` (the
    /// service then uploads it to the image service).
    fn copy_volume_to_image(
        &self,
        volume: &DriverVolume,
        dest: &Path,
        format: DataFormat,
    ) -> Result<(), VolumeError>;
}

/// Builds the configured driver.
pub fn driver_for(
    config: &crate::config::VolumeConfig,
) -> Result<std::sync::Arc<dyn Driver>, VolumeError> {
    let files = local::LocalDriver::new(&config.volume_data_dir)?;
    Ok(match config.volume_driver {
        crate::config::VolumeDriverKind::Local => std::sync::Arc::new(files),
        crate::config::VolumeDriverKind::Iscsi => {
            std::sync::Arc::new(iscsi::IscsiDriver::new(files, iscsi::TgtAdm::new(config)?)?)
        }
    })
}
