//! Logic: authorization, validation into domain types, the server state
//! machine and the long operations behind the 202s. One file per resource.

pub mod actions;
pub mod flavors;
pub mod hosts;
pub mod image_cache;
pub mod keypairs;
pub mod lock;
pub mod ports;
pub mod quotas;
pub mod rebuild;
pub mod recovery;
pub mod scheduler;
pub mod server_groups;
pub mod servers;
pub mod snapshot;
pub mod snapshot_volume;
pub mod sshkey;
pub mod tags;
pub mod tasks;
pub mod volumes;
pub mod x509;

use std::sync::{Arc, Weak};

use nimbus_db::Db;
use nimbus_image::client::ImageClient;
use nimbus_network::NetworkService;
use nimbus_volume::VolumeService;

use crate::config::ComputeConfig;
use crate::error::{ComputeError, ComputeErrorKind};

/// The QEMU binary the driver runs.
pub const QEMU_BINARY: &str = "qemu-system-x86_64";

/// The compute service: cheap to clone, shared by every handler and task.
#[derive(Clone)]
pub struct ComputeService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ComputeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComputeService").finish_non_exhaustive()
    }
}

/// The services compute calls in process (no HTTP loopback).
#[derive(Clone, Debug)]
pub struct Peers {
    /// Image metadata and data (Glance's side of a build or a snapshot).
    pub images: ImageClient,
    /// Ports and addresses of servers (Neutron's side).
    pub network: NetworkService,
    /// Volumes and their attachments (Cinder's side).
    pub volume: VolumeService,
}

#[doc(hidden)]
pub struct Inner {
    db: Db,
    config: ComputeConfig,
    peers: Peers,
    tasks: tasks::Tasks,
}

/// A handle of the service that does not keep it alive (periodic tasks).
pub type WeakService = Weak<Inner>;

impl ComputeService {
    /// The service over `db`, calling the image, network and volume
    /// services through `peers`. Creates `instances_path`.
    pub async fn new(
        db: Db,
        config: ComputeConfig,
        peers: Peers,
    ) -> Result<ComputeService, ComputeError> {
        tokio::fs::create_dir_all(&config.instances_path)
            .await
            .map_err(|e| {
                ComputeError::new(
                    ComputeErrorKind::Io,
                    format!("creating {}", config.instances_path.display()),
                )
                .with_source(e)
            })?;
        let tasks = tasks::Tasks::new(
            crate::driver::QemuDriver::new(QEMU_BINARY),
            crate::build::ImageCache::new(&config),
        );
        let service = ComputeService {
            inner: Arc::new(Inner {
                db,
                config,
                peers,
                tasks,
            }),
        };
        // Before the API serves: guests found again, interrupted work ended.
        recovery::recover(&service).await?;
        recovery::spawn_power_sync(&service);
        image_cache::spawn_manager(&service);
        Ok(service)
    }

    /// The tasks, the driver and the running guests.
    pub fn tasks(&self) -> &tasks::Tasks {
        &self.inner.tasks
    }

    /// A weak handle (for periodic tasks that must not keep the service).
    pub fn downgrade(&self) -> WeakService {
        Arc::downgrade(&self.inner)
    }

    /// The service again, if it still lives.
    pub fn upgrade(weak: &WeakService) -> Option<ComputeService> {
        weak.upgrade().map(|inner| ComputeService { inner })
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// The settings.
    pub fn config(&self) -> &ComputeConfig {
        &self.inner.config
    }

    /// The image service's in-process API.
    pub fn images(&self) -> &ImageClient {
        &self.inner.peers.images
    }

    /// The network service's in-process API (`nimbus_network::compute`).
    pub fn network(&self) -> &NetworkService {
        &self.inner.peers.network
    }

    /// The volume service's in-process API (attachments, volumes).
    pub fn volume(&self) -> &VolumeService {
        &self.inner.peers.volume
    }
}
