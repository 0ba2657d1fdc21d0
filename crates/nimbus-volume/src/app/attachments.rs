//! Attachments (`/attachments`, microversion 3.27+), and the in-process API
//! the compute service attaches volumes through. The flow is Cinder's:
//!
//! 1. [`VolumeService::attachment_create`] reserves the volume for an
//!    instance (`available` -> `reserved`, decided by one conditional
//!    UPDATE, so of two racing attaches exactly one wins);
//! 2. [`VolumeService::attachment_update`] with the host's connector makes
//!    the export and returns `connection_info` (`reserved` -> `attaching`);
//! 3. [`VolumeService::attachment_complete`] once the disk is plugged in
//!    (`in-use`);
//! 4. [`VolumeService::attachment_delete`] to detach (or to roll back a
//!    failed attach at any step): the export is withdrawn and the volume is
//!    `available` again.

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;
use serde_json::Value;

use super::model::{ATTACHED_MODE, AttachStatus, Attachment, Volume, VolumeStatus};
use super::volumes::volume_not_found;
use super::{VolumeService, driver_volume, new_id, require_read, require_write, scope};
use crate::store;

fn attachment_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("VolumeAttachment {id} could not be found."))
}

/// A connector must be an object (os-brick's `get_connector_properties`).
pub(crate) fn check_connector(connector: &Value) -> Result<(), ApiError> {
    match connector {
        Value::Object(map) if map.len() <= 64 => Ok(()),
        _ => Err(ApiError::bad_request(
            "Invalid input received: connector must be an object.",
        )),
    }
}

impl VolumeService {
    /// An attachment of one of the caller's volumes.
    pub async fn attachment_get(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<Attachment, ApiError> {
        require_read(ctx, "volume:attachment_get")?;
        store::attachments::attachment_get(self.pool(), id, scope(ctx)?)
            .await?
            .ok_or_else(|| attachment_not_found(id))
    }

    /// Attachments of the caller's project, optionally of one instance.
    pub async fn attachment_list(
        &self,
        ctx: &RequestContext,
        instance: Option<&str>,
        all_tenants: bool,
    ) -> Result<Vec<Attachment>, ApiError> {
        require_read(ctx, "volume:attachment_get_all")?;
        let project = if ctx.is_admin() && all_tenants {
            None
        } else {
            Some(ctx.require_project()?)
        };
        let all = store::attachments::attachment_list(self.pool(), project).await?;
        Ok(all
            .into_iter()
            .filter(|a| instance.is_none_or(|i| a.instance_uuid.as_deref() == Some(i)))
            .collect())
    }

    /// The attachments of one volume (for the volume view).
    pub async fn volume_attachments(&self, volume_id: &str) -> Result<Vec<Attachment>, ApiError> {
        Ok(store::attachments::attachment_list_for_volume(self.pool(), volume_id).await?)
    }

    /// Reserves `volume_id` for `instance_uuid`; with a connector, also
    /// exports it and returns the connection info (step 1, or 1 and 2).
    pub async fn attachment_create(
        &self,
        ctx: &RequestContext,
        volume_id: &str,
        instance_uuid: Option<&str>,
        connector: Option<Value>,
        mode: Option<&str>,
    ) -> Result<Attachment, ApiError> {
        require_write(ctx, "volume:attachment_create")?;
        if let Some(c) = &connector {
            check_connector(c)?;
        }
        let mode = match mode.unwrap_or("rw") {
            m @ ("rw" | "ro") => m.to_string(),
            other => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: Invalid attach mode '{other}', must be 'rw' or 'ro'."
                )));
            }
        };
        if let Some(i) = instance_uuid
            && uuid::Uuid::parse_str(i).is_err()
        {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute instance_uuid. '{i}' is not a 'uuid'."
            )));
        }
        let volume = store::volumes::volume_get(self.pool(), volume_id, scope(ctx)?)
            .await?
            .ok_or_else(|| volume_not_found(volume_id))?;
        // A read-only volume is attached read-only whatever was asked (Cinder).
        let mode = if volume.readonly() { "ro".into() } else { mode };
        let reserved = store::volumes::volume_transition(
            self.pool(),
            volume_id,
            &[VolumeStatus::Available],
            VolumeStatus::Reserved,
            Some(AttachStatus::Reserved),
        )
        .await?;
        if !reserved {
            let now = store::volumes::volume_get(self.pool(), volume_id, None).await?;
            let status = now.map(|v| v.status.as_str()).unwrap_or("deleted");
            return Err(ApiError::bad_request(format!(
                "Invalid volume: Volume {volume_id} status must be available or downloading to reserve, but the current status is {status}."
            )));
        }
        let now = now_micros();
        let attachment = Attachment {
            id: new_id(),
            volume_id: volume.id.clone(),
            project_id: volume.project_id.clone(),
            instance_uuid: instance_uuid.map(str::to_string),
            attach_status: AttachStatus::Reserved,
            attach_mode: mode,
            connector: None,
            connection_info: None,
            mountpoint: None,
            attached_host: None,
            attached_at: None,
            detached_at: None,
            created_at: now,
        };
        if let Err(e) = store::attachments::attachment_create(self.pool(), &attachment).await {
            let _ = store::volumes::volume_transition(
                self.pool(),
                volume_id,
                &[VolumeStatus::Reserved],
                VolumeStatus::Available,
                Some(AttachStatus::Detached),
            )
            .await;
            return Err(e.into());
        }
        match connector {
            Some(c) => match self.attachment_update(ctx, &attachment.id, c).await {
                Ok(a) => Ok(a),
                Err(e) => {
                    // Nothing half-made stays behind.
                    let _ = self.attachment_delete(ctx, &attachment.id).await;
                    Err(e)
                }
            },
            None => Ok(attachment),
        }
    }

    /// Exports the volume for `connector`'s host and records the
    /// connection info (step 2). Calling it again (a new host) re-exports.
    pub async fn attachment_update(
        &self,
        ctx: &RequestContext,
        attachment_id: &str,
        connector: Value,
    ) -> Result<Attachment, ApiError> {
        require_write(ctx, "volume:attachment_update")?;
        check_connector(&connector)?;
        let mut a = self.attachment_get(ctx, attachment_id).await?;
        let mut volume = store::volumes::volume_get(self.pool(), &a.volume_id, None)
            .await?
            .ok_or_else(|| volume_not_found(&a.volume_id))?;
        if !matches!(
            volume.status,
            VolumeStatus::Reserved | VolumeStatus::Attaching | VolumeStatus::InUse
        ) {
            return Err(ApiError::bad_request(format!(
                "Invalid volume: Volume {} status must be reserved, attaching or in-use to update an attachment, but is {}.",
                volume.id,
                volume.status.as_str()
            )));
        }
        let info = self
            .export(&mut volume, &connector, Some(a.attach_mode.as_str()))
            .await;
        let info = match info {
            Ok(info) => info,
            Err(e) => {
                a.attach_status = AttachStatus::ErrorAttaching;
                let _ = store::attachments::attachment_save(self.pool(), &a).await;
                return Err(e);
            }
        };
        a.mountpoint = connector
            .get("mountpoint")
            .and_then(Value::as_str)
            .map(str::to_string);
        a.attached_host = connector
            .get("host")
            .and_then(Value::as_str)
            .map(str::to_string);
        a.connector = Some(connector);
        a.connection_info = Some(info);
        if a.attach_status != AttachStatus::Attached {
            a.attach_status = AttachStatus::Attaching;
        }
        store::attachments::attachment_save(self.pool(), &a).await?;
        store::volumes::volume_transition(
            self.pool(),
            &volume.id,
            &[VolumeStatus::Reserved],
            VolumeStatus::Attaching,
            Some(AttachStatus::Attaching),
        )
        .await?;
        Ok(a)
    }

    /// Exports `volume` for `connector`'s host and returns the connection
    /// info, its `access_mode` as Cinder's `_parse_connection_options` sets
    /// it: the attachment's `mode`, else the volume's `attached_mode`, else
    /// `ro` for a read-only volume.
    pub(crate) async fn export(
        &self,
        volume: &mut Volume,
        connector: &Value,
        mode: Option<&str>,
    ) -> Result<Value, ApiError> {
        let dv = driver_volume(volume);
        let c = connector.clone();
        let update = self.blocking(move |d| d.create_export(&dv, &c)).await?;
        if update.provider_location.is_some() || update.provider_auth.is_some() {
            volume.provider_location = update.provider_location;
            volume.provider_auth = update.provider_auth;
            store::volumes::volume_save(self.pool(), volume).await?;
        }
        let dv = driver_volume(volume);
        let c = connector.clone();
        let mut info = self
            .blocking(move |d| d.initialize_connection(&dv, &c))
            .await?;
        info["data"]["volume_id"] = Value::String(volume.id.clone());
        let access_mode = match mode {
            Some(m) => m,
            None => match volume.admin_metadata.get(ATTACHED_MODE) {
                Some(m) => m.as_str(),
                None if volume.readonly() => "ro",
                None => "rw",
            },
        };
        info["data"]["access_mode"] = Value::String(access_mode.to_string());
        Ok(info)
    }

    /// The host plugged the disk in (step 3): the volume is `in-use`.
    pub async fn attachment_complete(
        &self,
        ctx: &RequestContext,
        attachment_id: &str,
    ) -> Result<(), ApiError> {
        require_write(ctx, "volume:attachment_complete")?;
        let mut a = self.attachment_get(ctx, attachment_id).await?;
        if a.connection_info.is_none() {
            return Err(ApiError::bad_request(format!(
                "Invalid volume attachment: Attachment {attachment_id} has no connector; update it with one first."
            )));
        }
        a.attach_status = AttachStatus::Attached;
        a.attached_at.get_or_insert_with(now_micros);
        store::attachments::attachment_save(self.pool(), &a).await?;
        store::volumes::volume_transition(
            self.pool(),
            &a.volume_id,
            &[
                VolumeStatus::Reserved,
                VolumeStatus::Attaching,
                VolumeStatus::InUse,
            ],
            VolumeStatus::InUse,
            Some(AttachStatus::Attached),
        )
        .await?;
        Ok(())
    }

    /// Detaches (step 4): terminates the connection, withdraws the export
    /// when no attachment is left, and frees the volume. Returns the
    /// volume's remaining attachments.
    pub async fn attachment_delete(
        &self,
        ctx: &RequestContext,
        attachment_id: &str,
    ) -> Result<Vec<Attachment>, ApiError> {
        require_write(ctx, "volume:attachment_delete")?;
        let a = self.attachment_get(ctx, attachment_id).await?;
        let volume = store::volumes::volume_get(self.pool(), &a.volume_id, None)
            .await?
            .ok_or_else(|| volume_not_found(&a.volume_id))?;
        let dv = driver_volume(&volume);
        let connector = a.connector.clone();
        self.blocking(move |d| d.terminate_connection(&dv, connector.as_ref()))
            .await?;
        if !store::attachments::attachment_delete(self.pool(), &a.id).await? {
            return Err(attachment_not_found(attachment_id));
        }
        let remaining =
            store::attachments::attachment_list_for_volume(self.pool(), &a.volume_id).await?;
        if remaining.is_empty() {
            let dv = driver_volume(&volume);
            self.blocking(move |d| d.remove_export(&dv)).await?;
            store::volumes::volume_transition(
                self.pool(),
                &a.volume_id,
                &[
                    VolumeStatus::Reserved,
                    VolumeStatus::Attaching,
                    VolumeStatus::InUse,
                    VolumeStatus::Detaching,
                ],
                VolumeStatus::Available,
                Some(AttachStatus::Detached),
            )
            .await?;
        }
        Ok(remaining)
    }
}
