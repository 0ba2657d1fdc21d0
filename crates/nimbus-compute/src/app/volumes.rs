//! Volumes of servers, nova's side of seed 002: attach (`reserve_block_device_name`,
//! Cinder attachment, `connection_info` for this host's connector, hot-plug
//! over QMP, attachment complete), detach (`device_del`, `DEVICE_DELETED`,
//! `blockdev-del`, attachment deleted), the volumes a machine starts with,
//! and the volumes a deleted server leaves behind.
//!
//! Every attach step has its undo: a failure leaves no mapping, no Cinder
//! attachment and the volume `available`. Attach and detach hold the
//! server's task lock, so they never overlap a start, stop or build.

use std::path::Path;
use std::time::Duration;

use nimbus_common::{ApiError, RequestContext};
use nimbus_qmp::{Disk, Machine};
use serde_json::{Value, json};

use super::ComputeService;
use super::servers::{BlockDevice, HOST, server_get};
use crate::error::{ComputeError, ComputeErrorKind};
use crate::store::bdms::{self, Bdm, InsertConflict};
use crate::store::instances::Instance;

/// How long QMP hot-plug steps and the guest's release of an unplugged
/// disk may take (nova's libvirt waits about as long for `device_del`).
pub const HOTPLUG_TIMEOUT: Duration = Duration::from_secs(30);

/// How many times a detach asks the guest to release the disk, and how
/// long it waits after each request (nova's `[libvirt]
/// device_detach_attempts` is 8; its `device_detach_timeout` of 20 s is
/// halved here so that a request lost while the guest was booting is
/// repeated sooner).
const DETACH_ATTEMPTS: u32 = 8;
const DETACH_TIMEOUT: Duration = Duration::from_secs(10);

/// Device ids of volume disks in QEMU start with this (node names are
/// limited to 31 bytes, so the id is short and derived from the volume id).
const VOLUME_DEVICE_PREFIX: &str = "vol-";

/// vm_states nova's `attach_volume`/`detach_volume` accept (shelving and
/// resizing do not exist here).
const ATTACH_STATES: [&str; 3] = ["active", "paused", "stopped"];

/// An attach request, validated at the API.
#[derive(Debug, Clone, Default)]
pub struct AttachRequest {
    /// The volume.
    pub volume_id: String,
    /// A requested device name (`/dev/vdc`), already matched against nova's
    /// `match_device` pattern.
    pub device: Option<String>,
    /// Device tag (2.49+).
    pub tag: Option<String>,
    /// Delete the volume with the server (2.79+).
    pub delete_on_termination: bool,
}

/// The QEMU device id of `volume_id`'s disk (stable across restarts).
pub fn device_id(volume_id: &str) -> String {
    let hex: String = volume_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect();
    format!("{VOLUME_DEVICE_PREFIX}{hex}")
}

/// This host's connector (os-brick's `get_connector_properties`): QEMU's
/// own iSCSI initiator connects from 127.0.0.1.
pub fn connector(mountpoint: Option<&str>) -> Value {
    let mut c = json!({
        "platform": std::env::consts::ARCH,
        "os_type": std::env::consts::OS,
        "ip": "127.0.0.1",
        "host": HOST,
        "multipath": false,
        "do_local_attach": false,
        "initiator": format!("iqn.2010-10.org.nimbus:{HOST}"),
    });
    if let Some(m) = mountpoint {
        c["mountpoint"] = json!(m);
    }
    c
}

/// A context acting for the instance's owner with Cinder's admin scope
/// (the delete task and a build have no request of their own).
pub fn service_ctx(instance: &Instance) -> RequestContext {
    RequestContext {
        request_id: format!("req-{}", uuid::Uuid::new_v4()),
        user_id: instance.user_id.clone(),
        user_name: "nimbus-compute".into(),
        user_domain_id: "default".into(),
        project_id: Some(instance.project_id.clone()),
        project_name: None,
        project_domain_id: None,
        domain_id: None,
        roles: vec!["admin".into(), "member".into(), "reader".into()],
        audit_id: String::new(),
    }
}

fn invalid_state(method: &str, instance: &Instance) -> ApiError {
    if let Some(task) = &instance.task_state {
        return ApiError::conflict(format!(
            "Cannot '{method}' instance {} while it is in task_state {task}",
            instance.uuid
        ));
    }
    ApiError::conflict(format!(
        "Cannot '{method}' instance {} while it is in vm_state {}",
        instance.uuid, instance.vm_state
    ))
}

fn check_state(method: &str, instance: &Instance) -> Result<(), ApiError> {
    if !ATTACH_STATES.contains(&instance.vm_state.as_str()) || instance.task_state.is_some() {
        return Err(invalid_state(method, instance));
    }
    Ok(())
}

fn not_attached(server_id: &str, volume_id: &str) -> ApiError {
    ApiError::not_found(format!(
        "Instance {server_id} is not attached to volume {volume_id}"
    ))
}

/// The volume mappings of a server the caller may see.
pub async fn attachment_list(
    svc: &ComputeService,
    ctx: &RequestContext,
    server_id: &str,
) -> Result<(Instance, Vec<Bdm>), ApiError> {
    if !ctx.can_read() {
        return Err(ApiError::policy(
            "os_compute_api:os-volumes-attachments:index",
        ));
    }
    let instance = server_get(svc, ctx, server_id).await?;
    let all = bdms::bdm_list(svc.db().pool(), &instance.uuid).await?;
    Ok((instance, all))
}

/// The mapping of `volume_id` to a server the caller may see.
pub async fn attachment_show(
    svc: &ComputeService,
    ctx: &RequestContext,
    server_id: &str,
    volume_id: &str,
) -> Result<Bdm, ApiError> {
    if !ctx.can_read() {
        return Err(ApiError::policy(
            "os_compute_api:os-volumes-attachments:show",
        ));
    }
    let instance = server_get(svc, ctx, server_id).await?;
    bdms::bdm_get_by_volume(svc.db().pool(), &instance.uuid, volume_id)
        .await?
        .ok_or_else(|| not_attached(server_id, volume_id))
}

/// Device names the instance's local disks hold (nova's libvirt layout:
/// root `vda`, then ephemeral, then swap).
fn local_devices(instance: &Instance) -> Vec<String> {
    let requested: Vec<BlockDevice> =
        serde_json::from_str(&instance.block_devices).unwrap_or_default();
    let blank_eph = requested
        .iter()
        .any(|b| b.source_type == "blank" && b.guest_format.as_deref() != Some("swap"));
    let blank_swap = requested
        .iter()
        .any(|b| b.source_type == "blank" && b.guest_format.as_deref() == Some("swap"));
    let mut names = vec!["/dev/vda".to_string()];
    let mut next = b'b';
    for present in [
        instance.ephemeral_gb > 0 || blank_eph,
        instance.swap_mb > 0 || blank_swap,
    ] {
        if present {
            names.push(format!("/dev/vd{}", next as char));
            next += 1;
        }
    }
    names
}

/// The next free `/dev/vdX` (nova's `get_next_device_name`): `vdb` ...
/// `vdz`, then `vdaa` ...
pub fn next_device_name(used: &[String]) -> Option<String> {
    let letters = (b'a'..=b'z').map(|c| (c as char).to_string());
    let two = (b'a'..=b'z')
        .flat_map(|a| (b'a'..=b'z').map(move |b| format!("{}{}", a as char, b as char)));
    letters
        .chain(two)
        .map(|s| format!("/dev/vd{s}"))
        .find(|name| !used.iter().any(|u| u == name))
}

/// `POST /servers/{id}/os-volume_attachments`: returns the mapping with
/// its device name once the volume is `in-use` (plugged into the running
/// guest, or waiting for the next start of a stopped one).
pub async fn volume_attach(
    svc: &ComputeService,
    ctx: &RequestContext,
    server_id: &str,
    req: AttachRequest,
) -> Result<Bdm, ApiError> {
    if !ctx.can_write() {
        return Err(ApiError::policy(
            "os_compute_api:os-volumes-attachments:create",
        ));
    }
    let instance = server_get(svc, ctx, server_id).await?;
    crate::app::lock::check_lock(ctx, &instance)?;
    check_state("attach_volume", &instance)?;
    // Another project's volume is as missing as a nonexistent one.
    let volume = svc.volume().volume_get(ctx, &req.volume_id).await?;
    let pool = svc.db().pool();
    if bdms::bdm_get_by_volume(pool, &instance.uuid, &volume.id)
        .await?
        .is_some()
    {
        return Err(ApiError::bad_request(format!(
            "Invalid volume: volume {} already attached",
            volume.id
        )));
    }
    let lock = svc.tasks().lock_for(&instance.uuid);
    let _guard = lock.lock().await;
    // The state may have changed while we waited for the lock.
    let instance = server_get(svc, ctx, server_id).await?;
    check_state("attach_volume", &instance)?;

    let mut bdm = reserve_device(svc, &instance, &volume.id, &req).await?;
    match plug(svc, ctx, &instance, &mut bdm).await {
        Ok(()) => Ok(bdm),
        Err(err) => {
            unplug_best_effort(svc, ctx, &instance, &bdm).await;
            Err(err)
        }
    }
}

/// nova's `reserve_block_device_name`: the device name and the mapping,
/// settled by the database's unique indexes.
async fn reserve_device(
    svc: &ComputeService,
    instance: &Instance,
    volume_id: &str,
    req: &AttachRequest,
) -> Result<Bdm, ApiError> {
    let pool = svc.db().pool();
    for _ in 0..8 {
        let existing = bdms::bdm_list(pool, &instance.uuid).await?;
        let mut used = local_devices(instance);
        used.extend(existing.iter().filter_map(|b| b.device_name.clone()));
        let requested = req.device.as_ref().filter(|d| d.starts_with("/dev/vd"));
        let name = match requested {
            Some(d) if used.contains(d) => {
                return Err(ApiError::conflict(format!(
                    "The supplied device path ({d}) is in use."
                )));
            }
            Some(d) => d.clone(),
            // libvirt cannot honour other prefixes: the next free name.
            None => next_device_name(&used).ok_or_else(|| {
                ApiError::forbidden("The maximum allowed number of disk devices (702) to attach to a single instance has been exceeded.")
            })?,
        };
        let mut bdm = Bdm::new(&instance.uuid, "volume", Some(volume_id));
        bdm.device_name = Some(name.clone());
        bdm.tag = req.tag.clone();
        bdm.delete_on_termination = req.delete_on_termination;
        match bdms::bdm_insert(pool, &mut bdm).await? {
            None => return Ok(bdm),
            Some(InsertConflict::Volume) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid volume: volume {volume_id} already attached"
                )));
            }
            Some(InsertConflict::Device) if requested.is_some() => {
                return Err(ApiError::conflict(format!(
                    "The supplied device path ({name}) is in use."
                )));
            }
            // A concurrent attach took this name: pick again.
            Some(InsertConflict::Device) => {}
        }
    }
    Err(ApiError::conflict(
        "Could not reserve a device name: too many concurrent attaches.",
    ))
}

/// Cinder attachment, connection info, hot-plug, complete.
async fn plug(
    svc: &ComputeService,
    ctx: &RequestContext,
    instance: &Instance,
    bdm: &mut Bdm,
) -> Result<(), ApiError> {
    let pool = svc.db().pool();
    let volume_id = bdm.volume_id.clone().unwrap_or_default();
    let attachment = svc
        .volume()
        .attachment_create(ctx, &volume_id, Some(&instance.uuid), None, None)
        .await?;
    bdm.attachment_id = Some(attachment.id.clone());
    bdms::bdm_save(pool, bdm).await?;
    let attachment = svc
        .volume()
        .attachment_update(ctx, &attachment.id, connector(bdm.device_name.as_deref()))
        .await?;
    let info = attachment
        .connection_info
        .ok_or_else(|| ApiError::internal("the volume service returned no connection_info"))?;
    bdm.connection_info = Some(info.clone());
    bdms::bdm_save(pool, bdm).await?;
    if let Some(guest) = svc.tasks().guest(&instance.uuid) {
        let disk = nimbus_qmp::volume_disk(&device_id(&volume_id), &volume_id, &info)
            .map_err(|e| ApiError::internal(format!("connection_info: {e}")))?;
        let qmp = guest.lock().await.qmp().clone();
        nimbus_qmp::disk_attach(&qmp, &disk, HOTPLUG_TIMEOUT)
            .await
            .map_err(|e| {
                tracing::warn!(instance = %instance.uuid, volume = %volume_id, error = %e, "hot-plug failed");
                ApiError::internal(format!("attaching volume {volume_id} to the guest failed: {e}"))
            })?;
    }
    svc.volume()
        .attachment_complete(ctx, &attachment.id)
        .await?;
    Ok(())
}

/// Undoes an attach that failed part-way: the guest's disk (if it got
/// one), the Cinder attachment, the mapping.
async fn unplug_best_effort(
    svc: &ComputeService,
    ctx: &RequestContext,
    instance: &Instance,
    bdm: &Bdm,
) {
    if let (Some(guest), Some(info), Some(volume_id)) = (
        svc.tasks().guest(&instance.uuid),
        &bdm.connection_info,
        &bdm.volume_id,
    ) && let Ok(disk) = nimbus_qmp::volume_disk(&device_id(volume_id), volume_id, info)
    {
        let qmp = guest.lock().await.qmp().clone();
        let present = qmp
            .execute_timeout("query-block", Value::Null, HOTPLUG_TIMEOUT)
            .await
            .is_ok_and(|b| b.to_string().contains(&disk.id));
        if present {
            let _ = nimbus_qmp::disk_detach(&qmp, &disk, HOTPLUG_TIMEOUT).await;
        }
    }
    if let Some(att) = &bdm.attachment_id
        && let Err(e) = svc.volume().attachment_delete(ctx, att).await
    {
        tracing::warn!(attachment = %att, error = %e.message(), "rolling back an attachment failed");
    }
    if let Err(e) = bdms::bdm_delete(svc.db().pool(), &bdm.uuid).await {
        tracing::warn!(bdm = %bdm.uuid, error = %e.chain(), "rolling back a mapping failed");
    }
}

/// `DELETE /servers/{id}/os-volume_attachments/{volume_id}`.
pub async fn volume_detach(
    svc: &ComputeService,
    ctx: &RequestContext,
    server_id: &str,
    volume_id: &str,
) -> Result<(), ApiError> {
    if !ctx.can_write() {
        return Err(ApiError::policy(
            "os_compute_api:os-volumes-attachments:delete",
        ));
    }
    let instance = server_get(svc, ctx, server_id).await?;
    crate::app::lock::check_lock(ctx, &instance)?;
    let volume = svc.volume().volume_get(ctx, volume_id).await?;
    let lock = svc.tasks().lock_for(&instance.uuid);
    let _guard = lock.lock().await;
    let instance = server_get(svc, ctx, server_id).await?;
    let bdm = bdms::bdm_get_by_volume(svc.db().pool(), &instance.uuid, &volume.id)
        .await?
        .ok_or_else(|| not_attached(server_id, volume_id))?;
    if bdm.is_root() {
        return Err(ApiError::bad_request("Cannot detach a root device volume"));
    }
    check_state("detach_volume", &instance)?;
    // As nova's `_check_and_begin_detach`: the volume is `detaching` before
    // the 202, so a second detach is refused (400) while this one runs.
    svc.volume().volume_begin_detaching(ctx, &volume.id).await?;
    drop(_guard);
    // The rest is nova's compute-manager side, after the 202: the guest may
    // take a while to let go (or need asking again), and the caller polls
    // the attachment list and the volume's status.
    let svc = svc.clone();
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let lock = svc.tasks().lock_for(&instance.uuid);
        let _guard = lock.lock().await;
        if let Err(e) = detach_bdm(&svc, &ctx, &instance, &bdm, true).await {
            tracing::warn!(instance = %instance.uuid, volume = %volume.id, error = %e.message(), "detach failed; the volume stays attached");
            if let Err(e) = svc.volume().volume_roll_detaching(&ctx, &volume.id).await {
                tracing::warn!(volume = %volume.id, error = %e.message(), "rolling back detaching failed");
            }
        }
    });
    Ok(())
}

/// Unplugs (when the guest runs and `hot` is set), deletes the Cinder
/// attachment, removes the mapping. The mapping stays when the guest does
/// not let go, so the volume is never freed while a guest still has it.
async fn detach_bdm(
    svc: &ComputeService,
    ctx: &RequestContext,
    instance: &Instance,
    bdm: &Bdm,
    hot: bool,
) -> Result<(), ApiError> {
    let volume_id = bdm.volume_id.clone().unwrap_or_default();
    let id = device_id(&volume_id);
    if hot
        && let Some(guest) = svc.tasks().guest(&instance.uuid)
        && let Some(info) = &bdm.connection_info
    {
        let disk = nimbus_qmp::volume_disk(&id, &volume_id, info)
            .map_err(|e| ApiError::internal(format!("connection_info: {e}")))?;
        let qmp = guest.lock().await.qmp().clone();
        nimbus_qmp::disk_unplug(&qmp, &disk.id, DETACH_ATTEMPTS, DETACH_TIMEOUT)
            .await
            .map_err(|e| {
                ApiError::internal(format!(
                    "detaching volume {volume_id} from the guest failed: {e}"
                ))
            })?;
        // The guest no longer sees the disk: a node left behind only costs
        // an open file or session until the next stop, so go on.
        if let Err(e) = nimbus_qmp::disk_release(&qmp, &disk, HOTPLUG_TIMEOUT).await {
            tracing::warn!(instance = %instance.uuid, volume = %volume_id, error = %e, "removing the volume's block nodes failed");
        }
    }
    if let Ok(dir) = crate::build::instance_dir(svc.config(), &instance.uuid) {
        let _ = tokio::fs::remove_file(dir.join(format!("{id}.secret"))).await;
    }
    if let Some(att) = &bdm.attachment_id {
        match svc.volume().attachment_delete(ctx, att).await {
            Ok(_) => {}
            // Already gone (an earlier detach got this far): fine.
            Err(e) if e.status().as_u16() == 404 => {}
            Err(e) => return Err(e),
        }
    }
    bdms::bdm_delete(svc.db().pool(), &bdm.uuid).await?;
    Ok(())
}

/// Updates `delete_on_termination` (PUT at 2.85 with the same volume).
pub async fn attachment_update(
    svc: &ComputeService,
    ctx: &RequestContext,
    server_id: &str,
    volume_id: &str,
    delete_on_termination: Option<bool>,
) -> Result<(), ApiError> {
    if !ctx.can_write() {
        return Err(ApiError::policy(
            "os_compute_api:os-volumes-attachments:update",
        ));
    }
    let instance = server_get(svc, ctx, server_id).await?;
    let mut bdm = bdms::bdm_get_by_volume(svc.db().pool(), &instance.uuid, volume_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "No volume Block Device Mapping with id {volume_id}."
            ))
        })?;
    if let Some(d) = delete_on_termination {
        bdm.delete_on_termination = d;
        bdms::bdm_save(svc.db().pool(), &bdm).await?;
    }
    Ok(())
}

/// `machine` with the instance's volumes: any volume disks it carries are
/// replaced by the current mappings (a boot volume first, the others
/// after the local disks). CHAP passwords go to private files in `dir`.
pub async fn with_volumes(
    svc: &ComputeService,
    uuid: &str,
    dir: &Path,
    mut machine: Machine,
) -> Result<Machine, ComputeError> {
    machine
        .disks
        .retain(|d| !d.id.starts_with(VOLUME_DEVICE_PREFIX));
    for bdm in bdms::bdm_list(svc.db().pool(), uuid).await? {
        let (Some(volume_id), Some(info)) = (&bdm.volume_id, &bdm.connection_info) else {
            continue;
        };
        let mut disk = volume_disk(volume_id, info)?;
        nimbus_qmp::write_secret_file(&mut disk, dir).map_err(|e| {
            ComputeError::new(ComputeErrorKind::Io, "writing a volume's CHAP secret").with_source(e)
        })?;
        if bdm.is_root() {
            machine.disks.insert(0, disk);
        } else {
            machine.disks.push(disk);
        }
    }
    Ok(machine)
}

fn volume_disk(volume_id: &str, info: &Value) -> Result<Disk, ComputeError> {
    nimbus_qmp::volume_disk(&device_id(volume_id), volume_id, info).map_err(|e| {
        ComputeError::new(
            ComputeErrorKind::Driver,
            format!("volume {volume_id} has unusable connection_info"),
        )
        .with_source(e)
    })
}

/// The root volume mapping of an instance, if it boots from a volume.
pub async fn root_bdm(svc: &ComputeService, uuid: &str) -> Result<Option<Bdm>, ComputeError> {
    Ok(bdms::bdm_list(svc.db().pool(), uuid)
        .await?
        .into_iter()
        .find(Bdm::is_root))
}

/// For a deleted server (its guest already gone): every volume detached,
/// those with `delete_on_termination` deleted (nova's `_cleanup_volumes`).
/// Best effort per volume: one failure does not keep the others attached.
pub async fn instance_volumes_cleanup(
    svc: &ComputeService,
    instance: &Instance,
) -> Result<(), ComputeError> {
    let ctx = service_ctx(instance);
    for bdm in bdms::bdm_list(svc.db().pool(), &instance.uuid).await? {
        if let Err(e) = detach_bdm(svc, &ctx, instance, &bdm, false).await {
            tracing::warn!(instance = %instance.uuid, volume = ?bdm.volume_id, error = %e.message(), "detaching a volume of a deleted server failed");
            continue;
        }
        if bdm.delete_on_termination
            && let Some(volume_id) = &bdm.volume_id
            && let Err(e) = svc.volume().volume_delete(&ctx, volume_id, false).await
        {
            tracing::warn!(volume = %volume_id, error = %e.message(), "deleting a volume with its server failed");
        }
    }
    Ok(())
}

/// `os-extended-volumes:volumes_attached` of each server in `views`
/// (one query for the whole page).
pub async fn volumes_attached(
    svc: &ComputeService,
    uuids: &[String],
    show_delete_on_termination: bool,
) -> Result<std::collections::HashMap<String, Value>, ComputeError> {
    let mut out: std::collections::HashMap<String, Vec<Value>> =
        uuids.iter().map(|u| (u.clone(), Vec::new())).collect();
    for bdm in bdms::bdm_list_for(svc.db().pool(), uuids).await? {
        let Some(volume_id) = bdm.volume_id else {
            continue;
        };
        let mut item = json!({"id": volume_id});
        if show_delete_on_termination {
            item["delete_on_termination"] = json!(bdm.delete_on_termination);
        }
        out.entry(bdm.instance_uuid).or_default().push(item);
    }
    Ok(out.into_iter().map(|(k, v)| (k, Value::Array(v))).collect())
}

/// How long a boot volume may take to be made from its image.
const BOOT_VOLUME_TIMEOUT: Duration = Duration::from_secs(600);

/// A `block_device_mapping_v2` item with `destination_type: volume`
/// (`source_type` `image`, `volume` or `snapshot`), checked as nova's
/// `_validate_bdm` does.
pub fn volume_block_device(item: &serde_json::Map<String, Value>) -> Result<BlockDevice, ApiError> {
    let bad = |why: &str| ApiError::bad_request(format!("Block Device Mapping is Invalid: {why}"));
    let text = |k: &str| item.get(k).and_then(Value::as_str).map(str::to_string);
    let int = |k: &str| match item.get(k) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    let source = text("source_type").unwrap_or_default();
    if !matches!(source.as_str(), "image" | "volume" | "snapshot") {
        return Err(bad(&format!(
            "source_type {source:?} cannot have destination_type volume here"
        )));
    }
    let uuid = text("uuid")
        .filter(|u| uuid::Uuid::parse_str(u).is_ok())
        .ok_or_else(|| bad(&format!("a {source} block device needs a uuid")))?;
    let volume_size = int("volume_size");
    if source == "image" && volume_size.is_none_or(|s| s <= 0) {
        return Err(ApiError::bad_request(
            "Block Device Mapping is Invalid: Images with destination_type 'volume' need to have a non-zero size specified",
        ));
    }
    let delete_on_termination = match item.get("delete_on_termination") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(
            s.to_ascii_lowercase().as_str(),
            "1" | "t" | "true" | "on" | "y" | "yes"
        ),
        Some(other) => {
            return Err(bad(&format!(
                "delete_on_termination {other} is not a boolean"
            )));
        }
    };
    Ok(BlockDevice {
        source_type: source,
        uuid: Some(uuid),
        boot_index: int("boot_index").filter(|b| *b >= 0),
        volume_size,
        guest_format: None,
        destination_type: Some("volume".into()),
        delete_on_termination,
    })
}

/// What a create that boots from a volume boots: the image (for kernel,
/// ramdisk and properties) and the root size the checks use instead of the
/// flavor's.
#[derive(Debug, Clone)]
pub struct BootVolume {
    /// The image the root volume is (or will be) made from.
    pub image: nimbus_image::app::model::Image,
    /// GiB of the root volume.
    pub size_gb: u64,
}

fn is_volume(bd: &BlockDevice) -> bool {
    bd.destination_type.as_deref() == Some("volume")
}

/// nova's checks of a create's volume block devices: the root volume's
/// image (from Glance, or the volume's `volume_image_metadata`), every
/// named volume visible and `available` (a root one bootable).
pub async fn boot_volume_check(
    svc: &ComputeService,
    ctx: &RequestContext,
    block_devices: &[BlockDevice],
) -> Result<Option<BootVolume>, ApiError> {
    let mut boot = None;
    for bd in block_devices.iter().filter(|b| is_volume(b)) {
        let id = bd.uuid.clone().unwrap_or_default();
        let root = bd.boot_index == Some(0);
        let (image_id, size) = match bd.source_type.as_str() {
            "image" => (Some(id.clone()), bd.volume_size.unwrap_or(0)),
            "volume" => {
                let v = svc.volume().volume_get(ctx, &id).await.map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid volume: Volume {id} could not be found."
                    ))
                })?;
                if v.status != nimbus_volume::VolumeStatus::Available {
                    return Err(ApiError::bad_request(format!(
                        "Invalid volume: volume '{id}' status must be 'available'. Currently in '{}'",
                        v.status.as_str()
                    )));
                }
                if root && !v.bootable {
                    return Err(ApiError::bad_request(format!(
                        "Block Device {id} is not bootable."
                    )));
                }
                let image_id = v
                    .image_metadata
                    .as_ref()
                    .and_then(|m| m.get("image_id").cloned());
                (image_id, v.size)
            }
            _ => {
                let snap = svc.volume().snapshot_get(ctx, &id).await.map_err(|_| {
                    ApiError::bad_request(format!("Snapshot {id} could not be found."))
                })?;
                // nova's _get_bdm_image_metadata: the image of the volume
                // the snapshot was taken of (a new volume inherits it).
                let image_id = match svc.volume().volume_get(ctx, &snap.volume_id).await {
                    Ok(v) => v.image_metadata.and_then(|m| m.get("image_id").cloned()),
                    Err(_) => None,
                };
                (image_id, snap.size)
            }
        };
        if !root {
            continue;
        }
        let image_id = image_id.ok_or_else(|| {
            ApiError::bad_request(format!(
                "Block Device Mapping is Invalid: volume {id} has no image metadata to boot from"
            ))
        })?;
        let image =
            svc.images().image_get(ctx, &image_id).await.map_err(|_| {
                ApiError::bad_request(format!("Image {image_id} could not be found."))
            })?;
        boot = Some(BootVolume {
            image,
            size_gb: u64::try_from(size).unwrap_or(0),
        });
    }
    Ok(boot)
}

/// The build's first step for volume block devices (nova's
/// `_prep_block_device`): volumes made from images or snapshots, each
/// mapped, attached for this host and completed, the root as `/dev/vda`.
pub async fn prepare_boot_volumes(
    svc: &ComputeService,
    ctx: &RequestContext,
    instance: &Instance,
    block_devices: &[BlockDevice],
) -> Result<(), ComputeError> {
    let fail = |what: String| ComputeError::new(ComputeErrorKind::Build, what);
    for bd in block_devices.iter().filter(|b| is_volume(b)) {
        let uuid = bd.uuid.clone().unwrap_or_default();
        let volume_id = match bd.source_type.as_str() {
            "volume" => uuid.clone(),
            source => {
                let mut req = nimbus_volume::app::volumes::VolumeCreate {
                    name: Some(String::new()),
                    size: bd.volume_size,
                    ..Default::default()
                };
                if source == "image" {
                    req.image_id = Some(uuid.clone());
                } else {
                    req.snapshot_id = Some(uuid.clone());
                }
                let v = svc.volume().volume_create(ctx, req).await.map_err(|e| {
                    fail(format!(
                        "creating a volume from {source} {uuid}: {}",
                        e.message()
                    ))
                })?;
                let done = svc
                    .volume()
                    .volume_wait(ctx, &v.id, BOOT_VOLUME_TIMEOUT)
                    .await
                    .map_err(|e| fail(format!("volume {}: {}", v.id, e.message())))?;
                if done.status != nimbus_volume::VolumeStatus::Available {
                    return Err(fail(format!(
                        "Volume {} did not finish being created even after we waited: status {}",
                        v.id,
                        done.status.as_str()
                    )));
                }
                v.id
            }
        };
        let req = AttachRequest {
            volume_id: volume_id.clone(),
            device: (bd.boot_index == Some(0)).then(|| "/dev/vda".to_string()),
            tag: None,
            delete_on_termination: bd.delete_on_termination,
        };
        let mut bdm = reserve_boot_device(svc, instance, &req, bd).await?;
        if let Err(e) = plug(svc, ctx, instance, &mut bdm).await {
            unplug_best_effort(svc, ctx, instance, &bdm).await;
            // A volume this build made (and would delete) is not left behind.
            if bd.source_type != "volume" && bd.delete_on_termination {
                let _ = svc.volume().volume_delete(ctx, &volume_id, false).await;
            }
            return Err(fail(format!(
                "attaching volume {volume_id}: {}",
                e.message()
            )));
        }
    }
    Ok(())
}

async fn reserve_boot_device(
    svc: &ComputeService,
    instance: &Instance,
    req: &AttachRequest,
    bd: &BlockDevice,
) -> Result<Bdm, ComputeError> {
    let pool = svc.db().pool();
    let existing = bdms::bdm_list(pool, &instance.uuid).await?;
    let mut used = local_devices(instance);
    used.extend(existing.iter().filter_map(|b| b.device_name.clone()));
    let mut bdm = Bdm::new(&instance.uuid, &bd.source_type, Some(&req.volume_id));
    bdm.device_name = match &req.device {
        Some(root) => Some(root.clone()),
        None => next_device_name(&used),
    };
    bdm.boot_index = bd.boot_index;
    bdm.delete_on_termination = req.delete_on_termination;
    bdm.volume_size = bd.volume_size;
    if bd.source_type == "image" {
        bdm.image_id = bd.uuid.clone();
    }
    match bdms::bdm_insert(pool, &mut bdm).await? {
        None => Ok(bdm),
        Some(conflict) => Err(ComputeError::new(
            ComputeErrorKind::Build,
            format!("block device {:?} conflicts ({conflict:?})", bd.uuid),
        )),
    }
}

/// The image of an image-backed create (400 when the caller cannot see it).
pub async fn image_for_boot(
    svc: &ComputeService,
    ctx: &RequestContext,
    image_id: &str,
) -> Result<nimbus_image::app::model::Image, ApiError> {
    svc.images()
        .image_get(ctx, image_id)
        .await
        .map_err(|_| ApiError::bad_request(format!("Image {image_id} could not be found.")))
}

/// The image a volume-backed instance boots with (its root volume's
/// `volume_image_metadata` names it); `None` for an image-backed one.
pub async fn boot_image(
    svc: &ComputeService,
    ctx: &RequestContext,
    instance: &Instance,
) -> Result<Option<nimbus_image::app::model::Image>, ComputeError> {
    if !instance.image_ref.is_empty() {
        return Ok(None);
    }
    let Some(root) = root_bdm(svc, &instance.uuid).await? else {
        return Ok(None);
    };
    let volume_id = root.volume_id.unwrap_or_default();
    let fail = |what: String| ComputeError::new(ComputeErrorKind::Image, what);
    let volume = svc
        .volume()
        .volume_get(&service_ctx(instance), &volume_id)
        .await
        .map_err(|e| fail(format!("boot volume {volume_id}: {}", e.message())))?;
    let image_id = volume
        .image_metadata
        .as_ref()
        .and_then(|m| m.get("image_id").cloned())
        .ok_or_else(|| fail(format!("boot volume {volume_id} has no image metadata")))?;
    svc.images()
        .image_get(ctx, &image_id)
        .await
        .map(Some)
        .map_err(|e| fail(format!("Image {image_id} is not available: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_skip_used_ones() {
        let used = vec!["/dev/vda".to_string()];
        assert_eq!(next_device_name(&used).as_deref(), Some("/dev/vdb"));
        let used: Vec<String> = ["/dev/vda", "/dev/vdb", "/dev/vdd"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(next_device_name(&used).as_deref(), Some("/dev/vdc"));
        let all: Vec<String> = (b'a'..=b'z')
            .map(|c| format!("/dev/vd{}", c as char))
            .collect();
        assert_eq!(next_device_name(&all).as_deref(), Some("/dev/vdaa"));
    }

    #[test]
    fn device_ids_fit_qemu_node_names() {
        let id = device_id("6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f");
        assert_eq!(id, "vol-6f1c2d3e4b5a4c6d");
        // The longest node name derived from it ("-f" suffix) stays under
        // QEMU's 31-byte limit.
        assert!(format!("{id}-f").len() <= 31);
        assert_ne!(
            device_id("6f1c2d3e-4b5a-4c6d-8e7f-000000000000"),
            device_id("7f1c2d3e-4b5a-4c6d-8e7f-000000000000")
        );
    }

    #[test]
    fn the_connector_names_this_host() {
        let c = connector(Some("/dev/vdb"));
        assert_eq!(c["host"], HOST);
        assert_eq!(c["mountpoint"], "/dev/vdb");
        assert!(c["initiator"].as_str().unwrap().starts_with("iqn."));
    }
}
