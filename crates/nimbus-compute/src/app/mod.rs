//! Logic: authorization, validation into domain types, the server state
//! machine and the long operations behind the 202s. One file per resource.

pub mod flavors;
pub mod hosts;
pub mod keypairs;
pub mod quotas;
pub mod sshkey;

use std::sync::Arc;

use nimbus_db::Db;
use nimbus_image::client::ImageClient;

use crate::config::ComputeConfig;
use crate::error::{ComputeError, ComputeErrorKind};

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

struct Inner {
    db: Db,
    config: ComputeConfig,
    images: ImageClient,
}

impl ComputeService {
    /// The service over `db`, fetching images through `images`. Creates
    /// `instances_path`.
    pub async fn new(
        db: Db,
        config: ComputeConfig,
        images: ImageClient,
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
        Ok(ComputeService {
            inner: Arc::new(Inner { db, config, images }),
        })
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
        &self.inner.images
    }
}
