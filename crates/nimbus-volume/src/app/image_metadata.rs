//! `os-set_image_metadata`, `os-unset_image_metadata`,
//! `os-show_image_metadata` (Cinder's `volume_image_metadata` extension):
//! the `volume_image_metadata` a volume made from an image carries, which
//! nova reads to boot from it.

use std::collections::BTreeMap;

use nimbus_common::{ApiError, RequestContext};

use super::model::VolumeStatus;
use super::{VolumeService, require_read, require_write};
use crate::store;

/// Cinder's `image_metadata` schema: keys of these characters, 1-255 long.
fn check_key(key: &str) -> Result<(), ApiError> {
    let ok = (1..=255).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:. /".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute metadata. '{key}' does not match any of the regexes: '^[a-zA-Z0-9-_:. /]{{1,255}}$'"
        )))
    }
}

/// The largest value Cinder's `mysql_text` format allows.
const MAX_VALUE: usize = 65535;

impl VolumeService {
    /// The volume's image metadata (empty when it has none).
    pub async fn volume_image_metadata_get(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        require_read(ctx, "volume_extension:volume_image_metadata:show")?;
        Ok(self
            .volume_get(ctx, id)
            .await?
            .image_metadata
            .unwrap_or_default())
    }

    /// Merges `items` into the image metadata; returns all of it.
    pub async fn volume_image_metadata_set(
        &self,
        ctx: &RequestContext,
        id: &str,
        items: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        require_write(ctx, "volume_extension:volume_image_metadata:set")?;
        for (k, v) in &items {
            check_key(k)?;
            if v.len() > MAX_VALUE {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for field/attribute metadata. Value of '{k}' is too long."
                )));
            }
        }
        let mut v = self.volume_get(ctx, id).await?;
        if v.status == VolumeStatus::Uploading {
            return Err(ApiError::bad_request(
                "Invalid volume: Updating volume metadata is not allowed for volumes in uploading status.",
            ));
        }
        let mut all = v.image_metadata.take().unwrap_or_default();
        all.extend(items);
        v.image_metadata = Some(all.clone());
        store::volumes::volume_save(self.pool(), &v).await?;
        Ok(all)
    }

    /// Removes one key (404 when the volume has no such key).
    pub async fn volume_image_metadata_unset(
        &self,
        ctx: &RequestContext,
        id: &str,
        key: &str,
    ) -> Result<(), ApiError> {
        require_write(ctx, "volume_extension:volume_image_metadata:remove")?;
        let mut v = self.volume_get(ctx, id).await?;
        let mut all = v.image_metadata.take().unwrap_or_default();
        if all.remove(key).is_none() {
            return Err(ApiError::not_found(format!(
                "Glance metadata for volume/snapshot {id} cannot be found."
            )));
        }
        if v.status == VolumeStatus::Uploading {
            return Err(ApiError::bad_request(
                "Invalid volume: Deleting volume metadata is not allowed for volumes in uploading status.",
            ));
        }
        v.image_metadata = (!all.is_empty()).then_some(all);
        store::volumes::volume_save(self.pool(), &v).await?;
        Ok(())
    }
}
