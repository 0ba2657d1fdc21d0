//! Logic: authorization, validation into domain types, the status machine,
//! backend work off the request path. Handlers in `api/` and other crates
//! (the compute service) call these; SQL is in `store/`.

pub mod attachments;
pub mod image_metadata;
pub mod legacy_attach;
pub mod model;
pub mod quotas;
pub mod snapshots;
pub mod types;
pub mod upload;
pub mod volumes;

use std::collections::BTreeMap;
use std::sync::Arc;

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::Db;

use crate::backend::{Driver, DriverSnapshot, DriverVolume};
use crate::config::VolumeConfig;
use crate::error::VolumeError;
use model::{Snapshot, Volume};

/// The volume service: database, backend driver, image service, settings.
#[derive(Clone)]
pub struct VolumeService {
    pub(crate) db: Db,
    pub(crate) driver: Arc<dyn Driver>,
    pub(crate) config: Arc<VolumeConfig>,
    pub(crate) images: Option<nimbus_image::ImageService>,
}

impl std::fmt::Debug for VolumeService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeService")
            .field("driver", &self.driver.name())
            .field("config", &self.config)
            .finish()
    }
}

impl VolumeService {
    /// Opens the configured backend (starting tgtd for `iscsi`) and marks
    /// work interrupted by the last stop as failed (`error`, or
    /// `error_deleting`), as Cinder's volume manager does at start.
    pub async fn new(
        db: Db,
        config: VolumeConfig,
        images: Option<nimbus_image::ImageService>,
    ) -> Result<VolumeService, VolumeError> {
        let cfg = config.clone();
        let driver = tokio::task::spawn_blocking(move || crate::backend::driver_for(&cfg))
            .await
            .map_err(|e| VolumeError::backend("driver setup panicked").with_source(e))??;
        std::fs::create_dir_all(&config.image_conversion_dir).map_err(|e| {
            VolumeError::backend(format!(
                "cannot create {}",
                config.image_conversion_dir.display()
            ))
            .with_source(e)
        })?;
        let service = VolumeService {
            db,
            driver,
            config: Arc::new(config),
            images,
        };
        service.recover().await?;
        Ok(service)
    }

    async fn recover(&self) -> Result<(), VolumeError> {
        use model::VolumeStatus as S;
        for v in crate::store::volumes::volume_interrupted(self.pool()).await? {
            let (to, attach) = match v.status {
                S::Deleting => (S::ErrorDeleting, None),
                S::Extending => (S::ErrorExtending, None),
                // The data is intact; only the upload was lost.
                S::Uploading => (S::Available, None),
                _ => (S::Error, None),
            };
            tracing::warn!(volume = %v.id, from = v.status.as_str(), to = to.as_str(), "volume work interrupted by the last stop");
            crate::store::volumes::volume_transition(self.pool(), &v.id, &[v.status], to, attach)
                .await?;
        }
        Ok(())
    }

    /// The settings in force.
    pub fn config(&self) -> &VolumeConfig {
        &self.config
    }

    /// The backend's name.
    pub fn driver_name(&self) -> &'static str {
        self.driver.name()
    }

    pub(crate) fn pool(&self) -> &nimbus_db::Pool {
        self.db.pool()
    }

    /// Runs driver work off the async threads.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Driver) -> Result<T, VolumeError> + Send + 'static,
    ) -> Result<T, VolumeError> {
        let driver = self.driver.clone();
        tokio::task::spawn_blocking(move || work(driver.as_ref()))
            .await
            .map_err(|e| VolumeError::backend("backend work panicked").with_source(e))?
    }
}

/// The project a caller's lookups are limited to: `None` (all) for admins.
pub(crate) fn scope(ctx: &RequestContext) -> Result<Option<&str>, ApiError> {
    if ctx.is_admin() {
        Ok(None)
    } else {
        Ok(Some(ctx.require_project()?))
    }
}

/// 403 unless the caller may change its project's resources.
pub(crate) fn require_write(ctx: &RequestContext, action: &str) -> Result<(), ApiError> {
    if ctx.can_write() {
        Ok(())
    } else {
        Err(ApiError::policy(action))
    }
}

/// 403 unless the caller may read.
pub(crate) fn require_read(ctx: &RequestContext, action: &str) -> Result<(), ApiError> {
    if ctx.can_read() {
        Ok(())
    } else {
        Err(ApiError::policy(action))
    }
}

pub(crate) fn driver_volume(v: &Volume) -> DriverVolume {
    DriverVolume {
        id: v.id.clone(),
        size_gib: u64::try_from(v.size).unwrap_or(0),
        provider_location: v.provider_location.clone(),
        provider_auth: v.provider_auth.clone(),
    }
}

pub(crate) fn driver_snapshot(s: &Snapshot) -> DriverSnapshot {
    DriverSnapshot {
        id: s.id.clone(),
        volume_id: s.volume_id.clone(),
        size_gib: u64::try_from(s.size).unwrap_or(0),
    }
}

/// Cinder's metadata rules: keys 1-255 characters, values up to 255.
pub(crate) fn check_metadata(
    metadata: &serde_json::Map<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    if metadata.len() > 128 {
        return Err(ApiError::bad_request(
            "Too many metadata items (at most 128).",
        ));
    }
    for (key, value) in metadata {
        if key.is_empty() || key.chars().count() > 255 {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute metadata. Metadata keys must be 1-255 characters.",
            ));
        }
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for field/attribute metadata. Value of '{key}' is not a string."
                )));
            }
        };
        if value.chars().count() > 255 {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute metadata. Value of '{key}' is longer than 255 characters."
            )));
        }
        out.insert(key.clone(), value);
    }
    Ok(out)
}

/// A name or description: at most 255 characters.
pub(crate) fn check_text(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if v.chars().count() > 255 => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value is longer than 255 characters."
        ))),
        other => Ok(other.map(str::to_string)),
    }
}

/// A new UUID.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}
