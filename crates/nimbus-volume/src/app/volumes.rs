//! Volumes: create (blank, from image, snapshot or volume), show, list,
//! update, delete, extend, bootable, metadata. Backend work runs in a task
//! after the 202; the volume's status says where it is.

use std::collections::BTreeMap;

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;

use super::model::{AttachStatus, DEFAULT_TYPE, SnapshotStatus, Volume, VolumeStatus};
use super::{
    VolumeService, check_text, driver_snapshot, driver_volume, new_id, require_read, require_write,
    scope,
};
use crate::error::VolumeError;
use crate::store;

/// A validated create request.
#[derive(Debug, Clone, Default)]
pub struct VolumeCreate {
    /// Display name.
    pub name: Option<String>,
    /// Display description.
    pub description: Option<String>,
    /// GiB; may be omitted when a snapshot or source volume gives it.
    pub size: Option<i64>,
    /// Type id or name.
    pub volume_type: Option<String>,
    /// Create from this snapshot.
    pub snapshot_id: Option<String>,
    /// Clone this volume.
    pub source_volid: Option<String>,
    /// Create from this image.
    pub image_id: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Availability zone (must be ours).
    pub availability_zone: Option<String>,
}

/// Where the data of a new volume comes from.
enum Source {
    Blank,
    Snapshot(super::model::Snapshot),
    Volume(Volume),
    Image(nimbus_image::app::model::Image),
}

/// Filters of `GET /volumes`.
#[derive(Debug, Clone, Default)]
pub struct VolumeFilters {
    /// Exact name.
    pub name: Option<String>,
    /// Exact status.
    pub status: Option<String>,
    /// Bootable flag.
    pub bootable: Option<bool>,
    /// Exact availability zone.
    pub availability_zone: Option<String>,
    /// Every listed key must have this value.
    pub metadata: BTreeMap<String, String>,
    /// Admin: every project's volumes.
    pub all_tenants: bool,
    /// Admin: one project's volumes.
    pub project_id: Option<String>,
}

/// Statuses a volume may be deleted from (`volume/api.py`).
const DELETABLE: [VolumeStatus; 3] = [
    VolumeStatus::Available,
    VolumeStatus::Error,
    VolumeStatus::ErrorExtending,
];

pub(crate) fn volume_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Volume {id} could not be found."))
}

fn gib_of_bytes(bytes: i64) -> i64 {
    (bytes + (1 << 30) - 1) >> 30
}

impl VolumeService {
    /// A volume the caller may see.
    pub async fn volume_get(&self, ctx: &RequestContext, id: &str) -> Result<Volume, ApiError> {
        require_read(ctx, "volume:get")?;
        store::volumes::volume_get(self.pool(), id, scope(ctx)?)
            .await?
            .ok_or_else(|| volume_not_found(id))
    }

    /// Volumes the caller may see, newest first, filtered.
    pub async fn volume_list(
        &self,
        ctx: &RequestContext,
        filters: &VolumeFilters,
    ) -> Result<Vec<Volume>, ApiError> {
        require_read(ctx, "volume:get_all")?;
        let project = if ctx.is_admin() && (filters.all_tenants || filters.project_id.is_some()) {
            filters.project_id.clone()
        } else {
            Some(ctx.require_project()?.to_string())
        };
        let all = store::volumes::volume_list(self.pool(), project.as_deref()).await?;
        Ok(all
            .into_iter()
            .filter(|v| {
                filters
                    .name
                    .as_ref()
                    .is_none_or(|n| v.name.as_ref() == Some(n))
            })
            .filter(|v| {
                filters
                    .status
                    .as_ref()
                    .is_none_or(|s| v.status.as_str() == s)
            })
            .filter(|v| filters.bootable.is_none_or(|b| v.bootable == b))
            .filter(|v| {
                filters
                    .availability_zone
                    .as_ref()
                    .is_none_or(|z| &v.availability_zone == z)
            })
            .filter(|v| {
                filters
                    .metadata
                    .iter()
                    .all(|(k, val)| v.metadata.get(k) == Some(val))
            })
            .collect())
    }

    /// `POST /volumes`: validates, checks quota, records a `creating`
    /// volume and starts the backend work.
    pub async fn volume_create(
        &self,
        ctx: &RequestContext,
        req: VolumeCreate,
    ) -> Result<Volume, ApiError> {
        require_write(ctx, "volume:create")?;
        let project = ctx.require_project()?.to_string();
        let name = check_text("name", req.name.as_deref())?;
        let description = check_text("description", req.description.as_deref())?;
        if let Some(zone) = &req.availability_zone
            && zone != &self.config.storage_availability_zone
        {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Availability zone '{zone}' is invalid."
            )));
        }
        let sources = [&req.snapshot_id, &req.source_volid, &req.image_id]
            .iter()
            .filter(|s| s.is_some())
            .count();
        if sources > 1 {
            return Err(ApiError::bad_request(
                "Invalid input received: Only one of snapshot_id, source_volid and imageRef may be given.",
            ));
        }
        let source = if let Some(id) = &req.snapshot_id {
            let snap = store::snapshots::snapshot_get(self.pool(), id, scope(ctx)?)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("Snapshot {id} could not be found.")))?;
            if snap.status != SnapshotStatus::Available {
                return Err(ApiError::bad_request(format!(
                    "Invalid snapshot: Originating snapshot status must be one of 'available' values, but is {}.",
                    snap.status.as_str()
                )));
            }
            Source::Snapshot(snap)
        } else if let Some(id) = &req.source_volid {
            let src = store::volumes::volume_get(self.pool(), id, scope(ctx)?)
                .await?
                .ok_or_else(|| volume_not_found(id))?;
            if !matches!(src.status, VolumeStatus::Available | VolumeStatus::InUse) {
                return Err(ApiError::bad_request(format!(
                    "Invalid volume: Source volume status must be available or in-use, but is {}.",
                    src.status.as_str()
                )));
            }
            Source::Volume(src)
        } else if let Some(id) = &req.image_id {
            let images = self.images.as_ref().ok_or_else(|| {
                ApiError::bad_request("Invalid input received: no image service is configured.")
            })?;
            let image = nimbus_image::client::ImageClient::new(images.clone())
                .image_get(ctx, id)
                .await
                .map_err(|_| ApiError::not_found(format!("Image {id} could not be found.")))?;
            if image.status != nimbus_image::app::model::Status::Active {
                return Err(ApiError::bad_request(format!(
                    "Invalid image identifier or unable to access requested image. Image {id} is not active."
                )));
            }
            Source::Image(image)
        } else {
            Source::Blank
        };
        let min_size = match &source {
            Source::Blank => None,
            Source::Snapshot(s) => Some(s.size),
            Source::Volume(v) => Some(v.size),
            Source::Image(i) => Some(
                gib_of_bytes(i.virtual_size.or(i.size).unwrap_or(0))
                    .max(i.min_disk)
                    .max(1),
            ),
        };
        let size = match (req.size, min_size) {
            (Some(s), _) if s <= 0 => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: Volume size '{s}' must be an integer and greater than 0."
                )));
            }
            (Some(s), Some(min)) if s < min => {
                return Err(ApiError::bad_request(match &source {
                    Source::Image(_) => format!(
                        "Invalid input received: Size of specified image {min}GB is larger than volume size {s}GB."
                    ),
                    Source::Snapshot(_) => format!(
                        "Invalid input received: Volume size {s}GB cannot be smaller than the snapshot size {min}GB. They must be >= original snapshot size."
                    ),
                    _ => format!(
                        "Invalid input received: Volume size {s}GB cannot be smaller than original volume size {min}GB. They must be >= original volume size."
                    ),
                }));
            }
            (Some(s), _) => s,
            (None, Some(min)) if !matches!(source, Source::Image(_)) => min,
            (None, _) => {
                return Err(ApiError::bad_request(
                    "Invalid input received: Volume size '' must be an integer and greater than 0.",
                ));
            }
        };
        let vtype = store::types::type_find(
            self.pool(),
            req.volume_type.as_deref().unwrap_or(DEFAULT_TYPE),
        )
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Volume type with name {} could not be found.",
                req.volume_type.as_deref().unwrap_or(DEFAULT_TYPE)
            ))
        })?;
        self.quota_reserve_volume(&project, 1, size).await?;
        let now = now_micros();
        let (bootable, image_metadata) = match &source {
            Source::Image(i) => {
                let mut meta: BTreeMap<String, String> = i.properties.clone();
                meta.insert("image_id".into(), i.id.clone());
                if let Some(n) = &i.name {
                    meta.insert("image_name".into(), n.clone());
                }
                for (k, v) in [
                    ("disk_format", &i.disk_format),
                    ("container_format", &i.container_format),
                    ("checksum", &i.checksum),
                ] {
                    if let Some(v) = v {
                        meta.insert(k.into(), v.clone());
                    }
                }
                meta.insert("min_disk".into(), i.min_disk.to_string());
                meta.insert("min_ram".into(), i.min_ram.to_string());
                meta.insert("size".into(), i.size.unwrap_or(0).to_string());
                (true, Some(meta))
            }
            Source::Volume(v) => (v.bootable, v.image_metadata.clone()),
            Source::Snapshot(s) => {
                let parent = store::volumes::volume_get(self.pool(), &s.volume_id, None).await?;
                (
                    parent.as_ref().is_some_and(|p| p.bootable),
                    parent.and_then(|p| p.image_metadata),
                )
            }
            Source::Blank => (false, None),
        };
        let volume = Volume {
            id: new_id(),
            project_id: project,
            user_id: ctx.user_id.clone(),
            name,
            description,
            size,
            status: VolumeStatus::Creating,
            attach_status: AttachStatus::Detached,
            volume_type_id: vtype.id,
            availability_zone: self.config.storage_availability_zone.clone(),
            bootable,
            snapshot_id: req.snapshot_id.clone(),
            source_volid: req.source_volid.clone(),
            metadata: req.metadata,
            image_metadata,
            admin_metadata: BTreeMap::new(),
            provider_location: None,
            provider_auth: None,
            created_at: now,
            updated_at: now,
        };
        store::volumes::volume_create(self.pool(), &volume).await?;
        let svc = self.clone();
        let ctx = ctx.clone();
        let v = volume.clone();
        tokio::spawn(async move {
            let id = v.id.clone();
            let result = svc.volume_build(&ctx, v, source).await;
            let to = if let Err(e) = &result {
                tracing::error!(volume = %id, error = %crate::error::chain(e), "volume creation failed");
                VolumeStatus::Error
            } else {
                VolumeStatus::Available
            };
            if let Err(e) = store::volumes::volume_transition(
                svc.pool(),
                &id,
                &[VolumeStatus::Creating, VolumeStatus::Downloading],
                to,
                None,
            )
            .await
            {
                tracing::error!(volume = %id, error = %e, "cannot record the volume's status");
            }
        });
        Ok(volume)
    }

    async fn volume_build(
        &self,
        ctx: &RequestContext,
        volume: Volume,
        source: Source,
    ) -> Result<(), VolumeError> {
        let dv = driver_volume(&volume);
        match source {
            Source::Blank => self.blocking(move |d| d.create_volume(&dv)).await,
            Source::Snapshot(s) => {
                let ds = driver_snapshot(&s);
                self.blocking(move |d| d.create_volume_from_snapshot(&dv, &ds))
                    .await
            }
            Source::Volume(src) => {
                let dsrc = driver_volume(&src);
                self.blocking(move |d| d.create_cloned_volume(&dv, &dsrc))
                    .await
            }
            Source::Image(image) => {
                store::volumes::volume_transition(
                    self.pool(),
                    &volume.id,
                    &[VolumeStatus::Creating],
                    VolumeStatus::Downloading,
                    None,
                )
                .await?;
                let images = self
                    .images
                    .clone()
                    .ok_or_else(|| VolumeError::backend("no image service"))?;
                let tmp = tempfile::Builder::new()
                    .prefix("image-")
                    .tempdir_in(&self.config.image_conversion_dir)
                    .map_err(|e| {
                        VolumeError::backend("cannot make a conversion dir").with_source(e)
                    })?;
                let path = tmp.path().join("data");
                nimbus_image::client::ImageClient::new(images)
                    .image_fetch_to(ctx, &image.id, &path)
                    .await
                    .map_err(|e| VolumeError::backend("cannot fetch the image").with_source(e))?;
                // The image's bytes decide the format, never its label alone:
                // only raw and qcow2 (without backing files) are written.
                let p = path.clone();
                self.blocking(move |d| {
                    let format = nimbus_disk::probe(&p)?;
                    d.copy_image_to_volume(&dv, &p, format)
                })
                .await
            }
        }
    }

    /// `PUT /volumes/{id}`: name, description, metadata.
    pub async fn volume_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        name: Option<Option<String>>,
        description: Option<Option<String>>,
        metadata: Option<BTreeMap<String, String>>,
    ) -> Result<Volume, ApiError> {
        require_write(ctx, "volume:update")?;
        let mut v = self.volume_get(ctx, id).await?;
        if let Some(n) = name {
            v.name = check_text("name", n.as_deref())?;
        }
        if let Some(d) = description {
            v.description = check_text("description", d.as_deref())?;
        }
        if let Some(m) = metadata {
            v.metadata = m;
        }
        store::volumes::volume_save(self.pool(), &v).await?;
        self.volume_get(ctx, id).await
    }

    /// Replaces (`replace`) or merges the metadata; returns all of it.
    pub async fn volume_metadata_set(
        &self,
        ctx: &RequestContext,
        id: &str,
        items: BTreeMap<String, String>,
        replace: bool,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        require_write(ctx, "volume:update_volume_metadata")?;
        let mut v = self.volume_get(ctx, id).await?;
        if replace {
            v.metadata = items;
        } else {
            v.metadata.extend(items);
        }
        if v.metadata.len() > 128 {
            return Err(ApiError::bad_request(
                "Too many metadata items (at most 128).",
            ));
        }
        store::volumes::volume_save(self.pool(), &v).await?;
        Ok(v.metadata)
    }

    /// Removes one metadata key (404 if absent).
    pub async fn volume_metadata_delete(
        &self,
        ctx: &RequestContext,
        id: &str,
        key: &str,
    ) -> Result<(), ApiError> {
        require_write(ctx, "volume:delete_volume_metadata")?;
        let mut v = self.volume_get(ctx, id).await?;
        if v.metadata.remove(key).is_none() {
            return Err(ApiError::not_found(format!(
                "Volume {id} has no metadata with key {key}."
            )));
        }
        store::volumes::volume_save(self.pool(), &v).await?;
        Ok(())
    }

    /// `DELETE /volumes/{id}` (`cascade` deletes its snapshots too).
    pub async fn volume_delete(
        &self,
        ctx: &RequestContext,
        id: &str,
        cascade: bool,
    ) -> Result<(), ApiError> {
        require_write(ctx, "volume:delete")?;
        let v = self.volume_get(ctx, id).await?;
        let invalid = || {
            ApiError::bad_request(format!(
                "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer. (volume {id} is {})",
                v.status.as_str()
            ))
        };
        if !DELETABLE.contains(&v.status) && v.status != VolumeStatus::ErrorDeleting {
            return Err(invalid());
        }
        if !store::attachments::attachment_list_for_volume(self.pool(), id)
            .await?
            .is_empty()
        {
            return Err(invalid());
        }
        let snapshots: Vec<_> = store::snapshots::snapshot_list(self.pool(), Some(&v.project_id))
            .await?
            .into_iter()
            .filter(|s| s.volume_id == v.id)
            .collect();
        if !snapshots.is_empty() && !cascade {
            return Err(invalid());
        }
        let mut from = DELETABLE.to_vec();
        from.push(VolumeStatus::ErrorDeleting);
        if !store::volumes::volume_transition(self.pool(), id, &from, VolumeStatus::Deleting, None)
            .await?
        {
            return Err(invalid());
        }
        let svc = self.clone();
        tokio::spawn(async move {
            let result: Result<(), VolumeError> = async {
                for s in &snapshots {
                    let ds = driver_snapshot(s);
                    svc.blocking(move |d| d.delete_snapshot(&ds)).await?;
                    store::snapshots::snapshot_delete(svc.pool(), &s.id).await?;
                }
                let dv = driver_volume(&v);
                svc.blocking(move |d| d.delete_volume(&dv)).await?;
                store::volumes::volume_delete(svc.pool(), &v.id).await
            }
            .await;
            if let Err(e) = result {
                tracing::error!(volume = %v.id, error = %crate::error::chain(&e), "volume deletion failed");
                let _ = store::volumes::volume_transition(
                    svc.pool(),
                    &v.id,
                    &[VolumeStatus::Deleting],
                    VolumeStatus::ErrorDeleting,
                    None,
                )
                .await;
            }
        });
        Ok(())
    }

    /// `os-extend`: grows an available volume.
    pub async fn volume_extend(
        &self,
        ctx: &RequestContext,
        id: &str,
        new_size: i64,
    ) -> Result<(), ApiError> {
        require_write(ctx, "volume:extend")?;
        let v = self.volume_get(ctx, id).await?;
        if v.status != VolumeStatus::Available {
            return Err(ApiError::bad_request(format!(
                "Invalid volume: Volume {id} status must be available to extend, but current status is: {}.",
                v.status.as_str()
            )));
        }
        if new_size <= v.size {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: New size for extend must be greater than current size. (current: {}, extended: {new_size}).",
                v.size
            )));
        }
        self.quota_reserve_volume(&v.project_id, 0, new_size - v.size)
            .await?;
        if !store::volumes::volume_transition(
            self.pool(),
            id,
            &[VolumeStatus::Available],
            VolumeStatus::Extending,
            None,
        )
        .await?
        {
            return Err(ApiError::bad_request(format!(
                "Invalid volume: Volume {id} status must be available to extend."
            )));
        }
        let svc = self.clone();
        tokio::spawn(async move {
            let dv = driver_volume(&v);
            let grown = u64::try_from(new_size).unwrap_or(0);
            let result: Result<(), VolumeError> = async {
                svc.blocking(move |d| d.extend_volume(&dv, grown)).await?;
                let mut v = v.clone();
                v.size = new_size;
                store::volumes::volume_save(svc.pool(), &v).await
            }
            .await;
            let to = match &result {
                Ok(()) => VolumeStatus::Available,
                Err(e) => {
                    tracing::error!(volume = %v.id, error = %crate::error::chain(e), "extend failed");
                    VolumeStatus::ErrorExtending
                }
            };
            let _ = store::volumes::volume_transition(
                svc.pool(),
                &v.id,
                &[VolumeStatus::Extending],
                to,
                None,
            )
            .await;
        });
        Ok(())
    }

    /// `os-set_bootable`.
    pub async fn volume_set_bootable(
        &self,
        ctx: &RequestContext,
        id: &str,
        bootable: bool,
    ) -> Result<(), ApiError> {
        require_write(ctx, "volume_extension:volume_actions:set_bootable")?;
        let mut v = self.volume_get(ctx, id).await?;
        v.bootable = bootable;
        store::volumes::volume_save(self.pool(), &v).await?;
        Ok(())
    }

    /// `os-reset_status` (admin): forces a status.
    pub async fn volume_reset_status(
        &self,
        ctx: &RequestContext,
        id: &str,
        status: &str,
    ) -> Result<(), ApiError> {
        ctx.require_admin("volume_extension:volume_admin_actions:reset_status")?;
        let v = self.volume_get(ctx, id).await?;
        let to = VolumeStatus::parse(status).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input received: Must specify a valid status, got '{status}'."
            ))
        })?;
        store::volumes::volume_transition(self.pool(), id, &[v.status], to, None).await?;
        Ok(())
    }

    /// Waits until a volume leaves the transient statuses (for callers in
    /// the same process, such as boot from volume); returns it.
    pub async fn volume_wait(
        &self,
        ctx: &RequestContext,
        id: &str,
        timeout: std::time::Duration,
    ) -> Result<Volume, ApiError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let v = self.volume_get(ctx, id).await?;
            if !matches!(
                v.status,
                VolumeStatus::Creating
                    | VolumeStatus::Downloading
                    | VolumeStatus::Extending
                    | VolumeStatus::Deleting
            ) {
                return Ok(v);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::unavailable(format!(
                    "Volume {id} is still {}.",
                    v.status.as_str()
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
