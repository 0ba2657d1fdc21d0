//! The attach API nova used before attachments (3.27): `os-reserve`,
//! `os-unreserve`, `os-initialize_connection`, `os-attach`,
//! `os-begin_detaching`, `os-roll_detaching`, `os-terminate_connection`,
//! `os-detach`, and `os-update_readonly_flag`, with Cinder's steps
//! (`volume/api.py`, `volume/manager.py`). They change the same volume
//! status and attachment rows as the attachments flow, so a volume attached
//! one way shows (and is refused) the same way through the other.
//!
//! The old order: reserve (`attaching`) -> initialize_connection (export,
//! connection info) -> attach (an `attached` row; `in-use`). Detach:
//! begin_detaching (`detaching`) -> terminate_connection -> detach (export
//! withdrawn, row gone; `available`).

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;
use serde_json::Value;

use super::attachments::check_connector;
use super::model::{ATTACHED_MODE, AttachStatus, Attachment, READONLY, Volume, VolumeStatus};
use super::{VolumeService, driver_volume, new_id, require_write};
use crate::store;

/// What `os-attach` asked for (the handler validated the shapes).
#[derive(Debug, Clone)]
pub struct LegacyAttach {
    /// The server it is attached to (or none, with `host_name`).
    pub instance_uuid: Option<String>,
    /// A host it is attached to instead of a server.
    pub host_name: Option<String>,
    /// The device in the guest (`/dev/vdb`).
    pub mountpoint: String,
    /// `rw` or `ro`.
    pub mode: String,
}

/// The statuses of a volume whose data exists and is not being replaced.
const CONNECTABLE: [VolumeStatus; 5] = [
    VolumeStatus::Available,
    VolumeStatus::Reserved,
    VolumeStatus::Attaching,
    VolumeStatus::InUse,
    VolumeStatus::Detaching,
];

/// The statuses an attach or detach moves a volume out of.
const ATTACH_STATES: [VolumeStatus; 4] = [
    VolumeStatus::Reserved,
    VolumeStatus::Attaching,
    VolumeStatus::InUse,
    VolumeStatus::Detaching,
];

fn invalid_volume(reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Invalid volume: {reason}"))
}

/// Cinder refuses (bug #2004555) to let a user cut a connection the compute
/// service made: a guest would keep a disk whose export is gone. Nimbus's
/// compute service attaches through the attachments API in process, so an
/// attachment with both a server and connection info is one it owns.
fn check_not_compute_owned(a: &Attachment) -> Result<(), ApiError> {
    match (&a.instance_uuid, &a.connection_info) {
        (Some(server), Some(_)) => Err(ApiError::conflict(format!(
            "Detach volume from instance {server} using the Compute API"
        ))),
        _ => Ok(()),
    }
}

impl VolumeService {
    async fn status_of(&self, id: &str) -> Result<&'static str, ApiError> {
        Ok(store::volumes::volume_get(self.pool(), id, None)
            .await?
            .map_or("deleted", |v| v.status.as_str()))
    }

    /// `os-reserve`: `available` -> `attaching`, or 400.
    pub async fn volume_reserve(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        require_write(ctx, "volume_extension:volume_actions:reserve")?;
        self.volume_get(ctx, id).await?;
        if !store::volumes::volume_transition(
            self.pool(),
            id,
            &[VolumeStatus::Available],
            VolumeStatus::Attaching,
            None,
        )
        .await?
        {
            return Err(invalid_volume(format!(
                "Volume status must be available to reserve, but the status is {}.",
                self.status_of(id).await?
            )));
        }
        Ok(())
    }

    /// `os-unreserve`: `attaching` -> `in-use` if an attachment exists, else
    /// `available`; any other status is left alone.
    pub async fn volume_unreserve(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        require_write(ctx, "volume_extension:volume_actions:unreserve")?;
        self.volume_get(ctx, id).await?;
        self.unreserve(id).await
    }

    async fn unreserve(&self, id: &str) -> Result<(), ApiError> {
        let attached = !store::attachments::attachment_list_for_volume(self.pool(), id)
            .await?
            .is_empty();
        let to = if attached {
            VolumeStatus::InUse
        } else {
            VolumeStatus::Available
        };
        store::volumes::volume_transition(self.pool(), id, &[VolumeStatus::Attaching], to, None)
            .await?;
        Ok(())
    }

    /// `os-begin_detaching`: an attached `in-use` volume -> `detaching`.
    pub async fn volume_begin_detaching(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<(), ApiError> {
        require_write(ctx, "volume_extension:volume_actions:begin_detaching")?;
        self.volume_get(ctx, id).await?;
        if !store::volumes::volume_begin_detaching(self.pool(), id).await? {
            return Err(invalid_volume(
                "Unable to detach volume. Volume status must be 'in-use' and attach_status must be 'attached' to detach.",
            ));
        }
        Ok(())
    }

    /// `os-roll_detaching`: `detaching` -> `in-use`; otherwise nothing.
    pub async fn volume_roll_detaching(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<(), ApiError> {
        require_write(ctx, "volume_extension:volume_actions:roll_detaching")?;
        self.volume_get(ctx, id).await?;
        store::volumes::volume_transition(
            self.pool(),
            id,
            &[VolumeStatus::Detaching],
            VolumeStatus::InUse,
            None,
        )
        .await?;
        Ok(())
    }

    /// `os-initialize_connection`: exports the volume for `connector`'s
    /// host and returns the connection info (no status change, as Cinder).
    pub async fn volume_initialize_connection(
        &self,
        ctx: &RequestContext,
        id: &str,
        connector: Value,
    ) -> Result<Value, ApiError> {
        require_write(ctx, "volume_extension:volume_actions:initialize_connection")?;
        check_connector(&connector)?;
        let mut v = self.volume_get(ctx, id).await?;
        if !CONNECTABLE.contains(&v.status) {
            return Err(invalid_volume(format!(
                "Volume {id} status must be available, reserved, attaching, in-use or detaching to initialize a connection, but is {}.",
                v.status.as_str()
            )));
        }
        let mut info = self.export(&mut v, &connector, None).await?;
        let enforce = connector
            .get("enforce_multipath")
            .cloned()
            .unwrap_or(Value::Bool(false));
        info["data"]["enforce_multipath"] = enforce.clone();
        info["enforce_multipath"] = enforce;
        Ok(info)
    }

    /// `os-terminate_connection`: the host is done; an `attaching` volume
    /// is unreserved. When no attachment is left the export goes too (a
    /// reserve + initialize_connection given up leaves no target behind).
    pub async fn volume_terminate_connection(
        &self,
        ctx: &RequestContext,
        id: &str,
        connector: Option<Value>,
    ) -> Result<(), ApiError> {
        require_write(ctx, "volume_extension:volume_actions:terminate_connection")?;
        if let Some(c) = &connector {
            check_connector(c)?;
        }
        let v = self.volume_get(ctx, id).await?;
        let attachments = store::attachments::attachment_list_for_volume(self.pool(), id).await?;
        if let [only] = attachments.as_slice() {
            check_not_compute_owned(only)?;
        }
        let dv = driver_volume(&v);
        self.blocking(move |d| d.terminate_connection(&dv, connector.as_ref()))
            .await?;
        if attachments.is_empty() && v.provider_location.is_some() {
            let dv = driver_volume(&v);
            self.blocking(move |d| d.remove_export(&dv)).await?;
        }
        self.unreserve(id).await
    }

    /// `os-attach`: records that the volume is attached (nova plugged it in
    /// after `os-initialize_connection`): an `attached` attachment row, the
    /// volume `in-use`, its `attached_mode` set. Attaching again to the same
    /// server or host returns the existing attachment.
    pub async fn volume_attach(
        &self,
        ctx: &RequestContext,
        id: &str,
        req: LegacyAttach,
    ) -> Result<Attachment, ApiError> {
        require_write(ctx, "volume_extension:volume_actions:attach")?;
        let mut v = self.volume_get(ctx, id).await?;
        // Cinder adds `readonly: False` on the first attach.
        if !v.admin_metadata.contains_key(READONLY) {
            v.admin_metadata.insert(READONLY.into(), "False".into());
            store::volumes::volume_admin_metadata_save(self.pool(), id, &v.admin_metadata).await?;
        }
        if v.readonly() && req.mode != "ro" {
            return Err(ApiError::bad_request(format!(
                "Invalid attaching mode '{}' for volume {id}.",
                req.mode
            )));
        }
        if v.status == VolumeStatus::Attaching
            && v.admin_metadata
                .get(ATTACHED_MODE)
                .is_some_and(|m| m != &req.mode)
        {
            return Err(invalid_volume("being attached by different mode"));
        }
        let existing = store::attachments::attachment_list_for_volume(self.pool(), id)
            .await?
            .into_iter()
            .find(|a| match (&req.instance_uuid, &req.host_name) {
                (Some(server), _) => a.instance_uuid.as_ref() == Some(server),
                (None, Some(host)) => {
                    a.instance_uuid.is_none() && a.attached_host.as_ref() == Some(host)
                }
                (None, None) => false,
            });
        let now = now_micros();
        let mut a = match existing {
            Some(a) => {
                store::volumes::volume_transition(
                    self.pool(),
                    id,
                    &ATTACH_STATES,
                    VolumeStatus::InUse,
                    Some(AttachStatus::Attached),
                )
                .await?;
                a
            }
            None => self.attach_new(&v, &req, now).await?,
        };
        a.attach_status = AttachStatus::Attached;
        a.attach_mode = req.mode.clone();
        a.mountpoint = Some(req.mountpoint);
        a.attached_host = req.host_name;
        a.attached_at.get_or_insert(now);
        store::attachments::attachment_save(self.pool(), &a).await?;
        v.admin_metadata.insert(ATTACHED_MODE.into(), req.mode);
        store::volumes::volume_admin_metadata_save(self.pool(), id, &v.admin_metadata).await?;
        Ok(a)
    }

    /// Claims the volume (one conditional UPDATE: of two racing attaches one
    /// wins) and inserts its attachment row.
    async fn attach_new(
        &self,
        v: &Volume,
        req: &LegacyAttach,
        now: i64,
    ) -> Result<Attachment, ApiError> {
        let from = [
            VolumeStatus::Available,
            VolumeStatus::Reserved,
            VolumeStatus::Attaching,
        ];
        if !store::volumes::volume_transition(
            self.pool(),
            &v.id,
            &from,
            VolumeStatus::InUse,
            Some(AttachStatus::Attached),
        )
        .await?
        {
            let status = self.status_of(&v.id).await?;
            return Err(invalid_volume(if status == "in-use" {
                "volume is already attached and multiple attachments are not enabled".to_string()
            } else {
                format!(
                    "Volume {} status must be available, reserved or attaching to attach, but is {status}.",
                    v.id
                )
            }));
        }
        let a = Attachment {
            id: new_id(),
            volume_id: v.id.clone(),
            project_id: v.project_id.clone(),
            instance_uuid: req.instance_uuid.clone(),
            attach_status: AttachStatus::Attached,
            attach_mode: req.mode.clone(),
            connector: None,
            connection_info: None,
            mountpoint: Some(req.mountpoint.clone()),
            attached_host: req.host_name.clone(),
            attached_at: Some(now),
            detached_at: None,
            created_at: now,
        };
        if let Err(e) = store::attachments::attachment_create(self.pool(), &a).await {
            let _ = store::volumes::volume_transition(
                self.pool(),
                &v.id,
                &[VolumeStatus::InUse],
                v.status,
                Some(v.attach_status),
            )
            .await;
            return Err(e.into());
        }
        Ok(a)
    }

    /// `os-detach`: withdraws the export and removes the attachment (the
    /// given one, or the only one); the volume is `available` again when
    /// none is left. A volume without attachments just becomes `available`.
    pub async fn volume_detach(
        &self,
        ctx: &RequestContext,
        id: &str,
        attachment_id: Option<&str>,
    ) -> Result<(), ApiError> {
        require_write(ctx, "volume_extension:volume_actions:detach")?;
        let v = self.volume_get(ctx, id).await?;
        let attachments = store::attachments::attachment_list_for_volume(self.pool(), id).await?;
        let a = match (attachment_id, attachments.as_slice()) {
            (Some(aid), all) => all.iter().find(|a| a.id == aid).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Error detaching volume - VolumeAttachmentNotFound: Volume attachment could not be found with filter: attachment_id = {aid}."
                ))
            })?,
            (None, []) => {
                store::volumes::volume_transition(
                    self.pool(),
                    id,
                    &ATTACH_STATES,
                    VolumeStatus::Available,
                    Some(AttachStatus::Detached),
                )
                .await?;
                return Ok(());
            }
            (None, [only]) => only,
            (None, _) => {
                return Err(invalid_volume(
                    "Detach volume failed: More than one attachment, but no attachment_id provided.",
                ));
            }
        };
        check_not_compute_owned(a)?;
        let last = attachments.len() == 1;
        if last {
            let dv = driver_volume(&v);
            self.blocking(move |d| d.remove_export(&dv)).await?;
        }
        store::attachments::attachment_delete(self.pool(), &a.id).await?;
        let (to, attach) = if last {
            (VolumeStatus::Available, AttachStatus::Detached)
        } else {
            (VolumeStatus::InUse, AttachStatus::Attached)
        };
        store::volumes::volume_transition(self.pool(), id, &ATTACH_STATES, to, Some(attach))
            .await?;
        let mut admin = v.admin_metadata;
        if admin.remove(ATTACHED_MODE).is_some() {
            store::volumes::volume_admin_metadata_save(self.pool(), id, &admin).await?;
        }
        Ok(())
    }

    /// `os-update_readonly_flag`: only for `available` volumes; the next
    /// attach of a read-only volume is read-only.
    pub async fn volume_update_readonly_flag(
        &self,
        ctx: &RequestContext,
        id: &str,
        readonly: bool,
    ) -> Result<(), ApiError> {
        require_write(ctx, "volume_extension:volume_actions:update_readonly_flag")?;
        let mut v = self.volume_get(ctx, id).await?;
        if v.status != VolumeStatus::Available {
            return Err(invalid_volume(format!(
                "Volume {id} status must be available to update readonly flag, but current status is: {}.",
                v.status.as_str()
            )));
        }
        let flag = if readonly { "True" } else { "False" };
        v.admin_metadata.insert(READONLY.into(), flag.into());
        store::volumes::volume_admin_metadata_save(self.pool(), id, &v.admin_metadata).await?;
        Ok(())
    }
}
