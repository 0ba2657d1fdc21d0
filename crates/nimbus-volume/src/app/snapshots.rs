//! Snapshots: a point-in-time copy of a volume, kept by the backend.

use std::collections::BTreeMap;

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;

use super::model::{Snapshot, SnapshotStatus, VolumeStatus};
use super::volumes::volume_not_found;
use super::{
    VolumeService, check_text, driver_snapshot, driver_volume, new_id, require_read, require_write,
    scope,
};
use crate::error::VolumeError;
use crate::store;

fn snapshot_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Snapshot {id} could not be found."))
}

impl VolumeService {
    /// A snapshot the caller may see.
    pub async fn snapshot_get(&self, ctx: &RequestContext, id: &str) -> Result<Snapshot, ApiError> {
        require_read(ctx, "volume:get_snapshot")?;
        store::snapshots::snapshot_get(self.pool(), id, scope(ctx)?)
            .await?
            .ok_or_else(|| snapshot_not_found(id))
    }

    /// Snapshots of the caller's project (every project's for an admin
    /// asking `all_tenants`).
    pub async fn snapshot_list(
        &self,
        ctx: &RequestContext,
        all_tenants: bool,
    ) -> Result<Vec<Snapshot>, ApiError> {
        require_read(ctx, "volume:get_all_snapshots")?;
        let project = if ctx.is_admin() && all_tenants {
            None
        } else {
            Some(ctx.require_project()?)
        };
        Ok(store::snapshots::snapshot_list(self.pool(), project).await?)
    }

    /// `POST /snapshots`: the volume must be available, or in-use with
    /// `force`.
    pub async fn snapshot_create(
        &self,
        ctx: &RequestContext,
        volume_id: &str,
        name: Option<String>,
        description: Option<String>,
        metadata: BTreeMap<String, String>,
        force: bool,
    ) -> Result<Snapshot, ApiError> {
        require_write(ctx, "volume:create_snapshot")?;
        let volume = store::volumes::volume_get(self.pool(), volume_id, scope(ctx)?)
            .await?
            .ok_or_else(|| volume_not_found(volume_id))?;
        let ok = volume.status == VolumeStatus::Available
            || (force && volume.status == VolumeStatus::InUse);
        if !ok {
            return Err(ApiError::bad_request(format!(
                "Invalid volume: Volume {volume_id} status must be available, but current status is: {}.",
                volume.status.as_str()
            )));
        }
        self.quota_reserve_snapshot(&volume.project_id, volume.size)
            .await?;
        let now = now_micros();
        let snapshot = Snapshot {
            id: new_id(),
            project_id: volume.project_id.clone(),
            user_id: ctx.user_id.clone(),
            volume_id: volume.id.clone(),
            name: check_text("name", name.as_deref())?,
            description: check_text("description", description.as_deref())?,
            status: SnapshotStatus::Creating,
            size: volume.size,
            metadata,
            created_at: now,
            updated_at: now,
        };
        store::snapshots::snapshot_create(self.pool(), &snapshot).await?;
        let svc = self.clone();
        let s = snapshot.clone();
        tokio::spawn(async move {
            let ds = driver_snapshot(&s);
            let dv = driver_volume(&volume);
            let to = match svc.blocking(move |d| d.create_snapshot(&ds, &dv)).await {
                Ok(()) => SnapshotStatus::Available,
                Err(e) => {
                    tracing::error!(snapshot = %s.id, error = %crate::error::chain(&e), "snapshot failed");
                    SnapshotStatus::Error
                }
            };
            let _ = store::snapshots::snapshot_transition(
                svc.pool(),
                &s.id,
                &[SnapshotStatus::Creating],
                to,
            )
            .await;
        });
        Ok(snapshot)
    }

    /// `PUT /snapshots/{id}`.
    pub async fn snapshot_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        name: Option<Option<String>>,
        description: Option<Option<String>>,
        metadata: Option<BTreeMap<String, String>>,
    ) -> Result<Snapshot, ApiError> {
        require_write(ctx, "volume:update_snapshot")?;
        let mut s = self.snapshot_get(ctx, id).await?;
        if let Some(n) = name {
            s.name = check_text("name", n.as_deref())?;
        }
        if let Some(d) = description {
            s.description = check_text("description", d.as_deref())?;
        }
        if let Some(m) = metadata {
            s.metadata = m;
        }
        store::snapshots::snapshot_save(self.pool(), &s).await?;
        self.snapshot_get(ctx, id).await
    }

    /// `/snapshots/{id}/metadata`: replaces (`replace`) or merges the
    /// metadata; returns all of it.
    pub async fn snapshot_metadata_set(
        &self,
        ctx: &RequestContext,
        id: &str,
        items: BTreeMap<String, String>,
        replace: bool,
    ) -> Result<BTreeMap<String, String>, ApiError> {
        require_write(ctx, "volume:update_snapshot_metadata")?;
        let mut s = self.snapshot_get(ctx, id).await?;
        if replace {
            s.metadata = items;
        } else {
            s.metadata.extend(items);
        }
        if s.metadata.len() > 128 {
            return Err(ApiError::bad_request(
                "Too many metadata items (at most 128).",
            ));
        }
        store::snapshots::snapshot_save(self.pool(), &s).await?;
        Ok(s.metadata)
    }

    /// Removes one metadata key (404 if absent).
    pub async fn snapshot_metadata_delete(
        &self,
        ctx: &RequestContext,
        id: &str,
        key: &str,
    ) -> Result<(), ApiError> {
        require_write(ctx, "volume:delete_snapshot_metadata")?;
        let mut s = self.snapshot_get(ctx, id).await?;
        if s.metadata.remove(key).is_none() {
            return Err(ApiError::not_found(format!(
                "Snapshot {id} has no metadata with key {key}."
            )));
        }
        store::snapshots::snapshot_save(self.pool(), &s).await?;
        Ok(())
    }

    /// `DELETE /snapshots/{id}`: available or error snapshots only.
    pub async fn snapshot_delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        require_write(ctx, "volume:delete_snapshot")?;
        let s = self.snapshot_get(ctx, id).await?;
        let from = [
            SnapshotStatus::Available,
            SnapshotStatus::Error,
            SnapshotStatus::ErrorDeleting,
        ];
        if !store::snapshots::snapshot_transition(self.pool(), id, &from, SnapshotStatus::Deleting)
            .await?
        {
            return Err(ApiError::bad_request(format!(
                "Invalid snapshot: Volume Snapshot status must be available or error, but is {}.",
                s.status.as_str()
            )));
        }
        let svc = self.clone();
        tokio::spawn(async move {
            let ds = driver_snapshot(&s);
            let result: Result<(), VolumeError> = async {
                svc.blocking(move |d| d.delete_snapshot(&ds)).await?;
                store::snapshots::snapshot_delete(svc.pool(), &s.id).await
            }
            .await;
            if let Err(e) = result {
                tracing::error!(snapshot = %s.id, error = %crate::error::chain(&e), "snapshot deletion failed");
                let _ = store::snapshots::snapshot_transition(
                    svc.pool(),
                    &s.id,
                    &[SnapshotStatus::Deleting],
                    SnapshotStatus::ErrorDeleting,
                )
                .await;
            }
        });
        Ok(())
    }
}
