//! Logic: authorization, validation into domain types, the status machine,
//! uploads and imports. Handlers in `api/` call these; SQL is in `store/`.

pub mod images;
pub mod members;
pub mod metadef_model;
pub mod metadefs;
pub mod model;
pub mod policy;
pub mod range;
pub mod tasks;
pub mod upload;
pub mod web_download;

use std::sync::Arc;

use nimbus_db::Db;

use crate::backend::file::FileStore;
use crate::backend::s3::S3Store;
use crate::backend::{Store, Stores};
use crate::config::ImageConfig;
use crate::error::{ImageError, ImageErrorKind};
use crate::pipeline::FormatObserver;

/// Builds the format observer for an upload declared as
/// (`disk_format`, `container_format`).
pub type InspectorFactory = Arc<dyn Fn(&str, &str) -> Box<dyn FormatObserver> + Send + Sync>;

/// The image service: database, stores, settings.
#[derive(Clone)]
pub struct ImageService {
    pub(crate) db: Db,
    pub(crate) stores: Stores,
    pub(crate) config: Arc<ImageConfig>,
    pub(crate) inspector: InspectorFactory,
}

impl std::fmt::Debug for ImageService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageService")
            .field("stores", &self.stores)
            .field("config", &self.config)
            .finish()
    }
}

impl ImageService {
    /// Opens the configured stores and recovers from an unclean stop: images
    /// left mid-upload go back to `queued` and partial data is deleted.
    pub async fn new(db: Db, config: ImageConfig) -> Result<ImageService, ImageError> {
        let mut stores: Vec<Arc<dyn Store>> =
            vec![Arc::new(FileStore::new(&config.filesystem_store_datadir)?)];
        if let Some(s3) = &config.s3 {
            stores.push(Arc::new(S3Store::new(s3)?));
        }
        let stores = Stores::new(&config.default_backend, stores).ok_or_else(|| {
            ImageError::new(
                ImageErrorKind::Io,
                format!(
                    "default_backend '{}' is not a configured store",
                    config.default_backend
                ),
            )
        })?;
        let reset = crate::store::images::reset_interrupted(db.pool()).await?;
        if reset > 0 {
            tracing::warn!(
                images = reset,
                "uploads interrupted by the last stop were reset to queued"
            );
        }
        crate::store::metadefs::resource_types_ensure(
            db.pool(),
            &metadef_model::DEFAULT_RESOURCE_TYPES,
        )
        .await?;
        // Nothing is mid-upload now: whatever is staged is left over.
        if config.staging_dir.exists() {
            std::fs::remove_dir_all(&config.staging_dir).map_err(|e| {
                ImageError::new(
                    ImageErrorKind::Io,
                    format!("cannot clear {}", config.staging_dir.display()),
                )
                .with_source(e)
            })?;
        }
        std::fs::create_dir_all(&config.staging_dir).map_err(|e| {
            ImageError::new(
                ImageErrorKind::Io,
                format!("cannot create {}", config.staging_dir.display()),
            )
            .with_source(e)
        })?;
        Ok(ImageService {
            db,
            stores,
            config: Arc::new(config),
            inspector: Arc::new(|disk, container| {
                Box::new(crate::inspect::DiskInspector::new(disk, container))
            }),
        })
    }

    /// Replaces the format observer (tests of the pipeline's plumbing).
    pub fn with_inspector(mut self, inspector: InspectorFactory) -> ImageService {
        self.inspector = inspector;
        self
    }

    /// The settings in force.
    pub fn config(&self) -> &ImageConfig {
        &self.config
    }

    pub(crate) fn pool(&self) -> &nimbus_db::Pool {
        self.db.pool()
    }
}
