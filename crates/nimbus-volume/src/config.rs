//! Settings, named as in cinder.conf where Cinder has the option.

use std::path::PathBuf;

/// Which backend stores and exports volumes (cinder.conf `volume_driver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeDriverKind {
    /// One file per volume; guests open the file directly.
    Local,
    /// The same files, exported by `tgtd` as iSCSI targets with CHAP.
    Iscsi,
}

impl VolumeDriverKind {
    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeDriverKind::Local => "local",
            VolumeDriverKind::Iscsi => "iscsi",
        }
    }
}

/// The volume service's settings.
#[derive(Debug, Clone)]
pub struct VolumeConfig {
    /// Backend.
    pub volume_driver: VolumeDriverKind,
    /// Where volume and snapshot files live (one file each).
    pub volume_data_dir: PathBuf,
    /// Where target configuration files are written (cinder's `volumes_dir`).
    pub volumes_dir: PathBuf,
    /// The portal address targets are reached at (cinder's `target_ip_address`,
    /// formerly `iscsi_ip_address`). tgtd listens only there.
    pub target_ip_address: String,
    /// The portal port (cinder's `target_port`).
    pub target_port: u16,
    /// IQN prefix of every target (cinder's `target_prefix`).
    pub target_prefix: String,
    /// Images are fetched here before conversion into a volume.
    pub image_conversion_dir: PathBuf,
    /// Availability zone reported (cinder's `storage_availability_zone`).
    pub storage_availability_zone: String,
    /// Host name reported in attachments (cinder's `host`).
    pub host: String,
}

impl VolumeConfig {
    /// Defaults for a data directory: files under `DATA/volumes`, target
    /// configuration under `DATA/volumes-tgt`.
    pub fn under(data_dir: &std::path::Path) -> VolumeConfig {
        VolumeConfig {
            volume_driver: VolumeDriverKind::Local,
            volume_data_dir: data_dir.join("volumes"),
            volumes_dir: data_dir.join("volumes-tgt"),
            target_ip_address: "127.0.0.1".into(),
            target_port: 3260,
            target_prefix: "iqn.2010-10.org.openstack:".into(),
            image_conversion_dir: data_dir.join("volumes-conversion"),
            storage_availability_zone: "nova".into(),
            host: "nimbus@local#local".into(),
        }
    }
}

/// `[backend_defaults]` of the `nimbus serve` config file: cinder.conf's
/// backend options by their Cinder names (`iscsi_ip_address` is accepted
/// for `target_ip_address`, as Cinder still does).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendDefaultsSection {
    /// `local` (default) or `iscsi`.
    pub volume_driver: Option<VolumeDriverKind>,
    /// Volume files [default: `<state_path>/volumes`].
    pub volume_data_dir: Option<PathBuf>,
    /// Target configuration files [default: `<state_path>/volumes-tgt`].
    pub volumes_dir: Option<PathBuf>,
    /// Portal address tgtd listens on [default: 127.0.0.1].
    #[serde(alias = "iscsi_ip_address")]
    pub target_ip_address: Option<String>,
    /// Portal port [default: 3260].
    #[serde(alias = "iscsi_port")]
    pub target_port: Option<u16>,
    /// IQN prefix [default: `iqn.2010-10.org.openstack:`].
    pub target_prefix: Option<String>,
    /// Availability zone [default: `nova`].
    pub storage_availability_zone: Option<String>,
}

impl BackendDefaultsSection {
    /// The volume service's settings for data dir `data_dir`.
    pub fn resolve(&self, data_dir: &std::path::Path) -> VolumeConfig {
        let mut c = VolumeConfig::under(data_dir);
        if let Some(d) = self.volume_driver {
            c.volume_driver = d;
        }
        if let Some(d) = &self.volume_data_dir {
            c.volume_data_dir = d.clone();
        }
        if let Some(d) = &self.volumes_dir {
            c.volumes_dir = d.clone();
        }
        if let Some(ip) = &self.target_ip_address {
            c.target_ip_address = ip.clone();
        }
        if let Some(p) = self.target_port {
            c.target_port = p;
        }
        if let Some(p) = &self.target_prefix {
            c.target_prefix = p.clone();
        }
        if let Some(z) = &self.storage_availability_zone {
            c.storage_availability_zone = z.clone();
        }
        c
    }
}
