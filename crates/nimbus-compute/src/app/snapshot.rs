//! `createImage` and `createBackup`: the root disk's chain flattened
//! (nimbus-disk convert) into a new qcow2 image uploaded to the image
//! service in process; the image keeps the kernel, ramdisk and command line
//! of its source so it boots as its source did. A backup then rotates out
//! the oldest backups of its server and type (nova's `_rotate_backups`).

use std::collections::BTreeMap;

use bytes::Bytes;
use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;
use nimbus_disk::{BackingPolicy, ConvertOptions, Format};
use serde_json::{Map, Value, json};
use tokio::io::AsyncReadExt;

use super::ComputeService;
use super::actions::claim;
use super::servers::server_get;
use super::tasks::{driver_error, record};
use crate::build;
use crate::driver::machine_file;
use crate::error::{ComputeError, ComputeErrorKind};
use crate::store::instance_actions;
use crate::store::instances;

/// Image properties a snapshot inherits from its source image (nova's
/// `non_inheritable_image_properties` are the rest).
const INHERITED: &[&str] = &[
    "kernel_id",
    "ramdisk_id",
    "os_command_line",
    "os_type",
    "os_distro",
    "hw_disk_bus",
];

/// Which image a server action makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageKind {
    /// `createImage`.
    Snapshot,
    /// `createBackup`: after the upload, only the newest `rotation` backups
    /// of this server and `backup_type` are kept.
    Backup {
        /// nova's free-form `backup_type` (`daily`, `weekly`, ...).
        backup_type: String,
        /// How many backups of the type to keep.
        rotation: u64,
    },
}

impl ImageKind {
    /// nova's action name (instance actions, conflict messages).
    fn action(&self) -> &'static str {
        match self {
            ImageKind::Snapshot => "createImage",
            ImageKind::Backup { .. } => "createBackup",
        }
    }
}

/// Records the image (queued), starts the upload task, returns its id.
pub async fn server_snapshot(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    name: &str,
    metadata: BTreeMap<String, String>,
    kind: ImageKind,
) -> Result<String, ApiError> {
    let images = svc.images().service();
    let instance = server_get(svc, ctx, id).await?;
    let (policy, task, event) = match &kind {
        ImageKind::Snapshot => (
            "os_compute_api:servers:create_image",
            "image_snapshot",
            "compute_snapshot_instance",
        ),
        ImageKind::Backup { .. } => (
            "os_compute_api:os-create-backup",
            "image_backup",
            "compute_backup_instance",
        ),
    };
    if !ctx.can_write() {
        return Err(ApiError::policy(policy));
    }
    if matches!(kind, ImageKind::Backup { .. }) {
        // nova's backup() is @check_instance_lock; snapshot() is not.
        super::lock::check_lock(ctx, &instance)?;
    }
    if super::volumes::root_bdm(svc, &instance.uuid)
        .await?
        .is_some()
    {
        return match kind {
            ImageKind::Backup { .. } => Err(ApiError::bad_request(
                "Backup is not supported for volume-backed instances.",
            )),
            ImageKind::Snapshot => {
                super::snapshot_volume::snapshot_volume_backed(svc, ctx, &instance, name, metadata)
                    .await
            }
        };
    }
    claim(
        svc,
        &instance,
        kind.action(),
        &["active", "stopped", "paused", "suspended"],
        task,
    )
    .await?;
    let mut body = Map::new();
    body.insert("name".into(), json!(name));
    body.insert("disk_format".into(), json!("qcow2"));
    body.insert("container_format".into(), json!("bare"));
    for (k, v) in image_properties(svc, ctx, &instance, &kind).await {
        body.insert(k, v);
    }
    for (k, v) in metadata {
        body.insert(k, Value::String(v));
    }
    let image = match images.image_create(ctx, &body).await {
        Ok(image) => image,
        Err(err) => {
            let _ = instances::instance_set_states(
                svc.db().pool(),
                &instance.uuid,
                &instance.vm_state,
                None,
                instance.power_state,
            )
            .await;
            return Err(err);
        }
    };
    let action_id = instance_actions::action_start(
        svc.db().pool(),
        &instance.uuid,
        &ctx.request_id,
        kind.action(),
        &instance.project_id,
        &ctx.user_id,
    )
    .await?;
    let (svc2, ctx2, uuid, image_id) = (
        svc.clone(),
        ctx.clone(),
        instance.uuid.clone(),
        image.id.clone(),
    );
    let images = images.clone();
    tokio::spawn(async move {
        let svc = svc2;
        let lock = svc.tasks().lock_for(&uuid);
        let _guard = lock.lock().await;
        let started = now_micros();
        let mut result = snapshot(&svc, &images, &ctx2, &uuid, &image_id).await;
        if let Err(err) = &result {
            tracing::warn!(instance = %uuid, error = %err.chain(), "snapshot failed");
            let _ = images.image_delete(&ctx2, &image_id).await;
        } else if let ImageKind::Backup {
            backup_type,
            rotation,
        } = &kind
        {
            result = rotate_backups(&images, &ctx2, &uuid, backup_type, *rotation).await;
        }
        if let Ok(Some(i)) = instances::instance_get(svc.db().pool(), &uuid).await {
            let _ = instances::instance_set_states(
                svc.db().pool(),
                &uuid,
                &i.vm_state,
                None,
                i.power_state,
            )
            .await;
        }
        record(&svc, &action_id, event, started, &result).await;
    });
    Ok(image.id)
}

/// nova's `create_image` properties: the instance's minimums, what the
/// source image passes on, and the image's origin and type.
pub(super) async fn image_properties(
    svc: &ComputeService,
    ctx: &RequestContext,
    instance: &instances::Instance,
    kind: &ImageKind,
) -> Map<String, Value> {
    let mut body = Map::new();
    // nova's system metadata at boot: the image's min_ram, and min_disk
    // raised to the flavor's root disk (get_system_metadata_from_image).
    let (mut min_ram, mut min_disk) = (0, instance.root_gb);
    if let Ok(source) = svc.images().image_get(ctx, &instance.image_ref).await {
        min_ram = source.min_ram;
        min_disk = min_disk.max(source.min_disk);
        for key in INHERITED {
            if let Some(v) = source.properties.get(*key) {
                body.insert((*key).into(), json!(v));
            }
        }
    }
    body.insert("min_disk".into(), json!(min_disk));
    body.insert("min_ram".into(), json!(min_ram));
    match kind {
        ImageKind::Snapshot => {
            body.insert("image_type".into(), json!("snapshot"));
        }
        ImageKind::Backup { backup_type, .. } => {
            body.insert("image_type".into(), json!("backup"));
            body.insert("backup_type".into(), json!(backup_type));
        }
    }
    body.insert("instance_uuid".into(), json!(instance.uuid));
    if !instance.image_ref.is_empty() {
        body.insert("base_image_ref".into(), json!(instance.image_ref));
    }
    body.insert("owner_user_name".into(), json!(ctx.user_name));
    body.insert("user_id".into(), json!(ctx.user_id));
    body
}

/// nova's `_rotate_backups`: the backups of `uuid` and `backup_type`, newest
/// first; all past the first `rotation` are deleted (all of them for 0).
async fn rotate_backups(
    images: &nimbus_image::ImageService,
    ctx: &RequestContext,
    uuid: &str,
    backup_type: &str,
    rotation: u64,
) -> Result<(), ComputeError> {
    let image_err = |what: &str, e: ApiError| {
        ComputeError::new(ComputeErrorKind::Image, format!("{what}: {}", e.message()))
    };
    let mut backups = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let mut query: Vec<(String, String)> = vec![
            ("image_type".into(), "backup".into()),
            ("backup_type".into(), backup_type.into()),
            ("instance_uuid".into(), uuid.into()),
            ("sort_key".into(), "created_at".into()),
            ("sort_dir".into(), "desc".into()),
        ];
        if let Some(m) = &marker {
            query.push(("marker".into(), m.clone()));
        }
        let (page, more) = images
            .image_list(ctx, &query)
            .await
            .map_err(|e| image_err("listing backups", e))?;
        marker = page.last().map(|i| i.id.clone());
        backups.extend(page.into_iter().map(|i| i.id));
        if !more || marker.is_none() {
            break;
        }
    }
    let keep = usize::try_from(rotation).unwrap_or(usize::MAX);
    for id in backups.iter().skip(keep) {
        tracing::info!(instance = %uuid, image = %id, "rotating out backup");
        match images.image_delete(ctx, id).await {
            Ok(()) => {}
            // Deleted meanwhile (a concurrent rotation, or the user).
            Err(e) if e.status() == 404 => {}
            Err(e) => return Err(image_err("deleting an old backup", e)),
        }
    }
    Ok(())
}

async fn snapshot(
    svc: &ComputeService,
    images: &nimbus_image::ImageService,
    ctx: &RequestContext,
    uuid: &str,
    image_id: &str,
) -> Result<(), ComputeError> {
    let pool = svc.db().pool();
    let dir = build::instance_dir(svc.config(), uuid)?;
    let machine = machine_file::load(&dir).await.map_err(driver_error)?;
    let root = machine
        .disks
        .iter()
        .find(|d| d.id == "disk0" || d.id == "disk")
        .or_else(|| machine.disks.first())
        .ok_or_else(|| {
            ComputeError::new(ComputeErrorKind::Build, "the instance has no root disk")
        })?;
    let nimbus_qmp::ImageNode::File { path, format, .. } = &root.image else {
        return Err(ComputeError::new(
            ComputeErrorKind::Build,
            "unexpected root disk node",
        ));
    };
    let src_format = match format {
        nimbus_qmp::ImageFormat::Raw => Format::Raw,
        _ => Format::Qcow2,
    };
    let set_task = |task: &'static str| async move {
        if let Ok(Some(i)) = instances::instance_get(pool, uuid).await {
            let _ =
                instances::instance_set_states(pool, uuid, &i.vm_state, Some(task), i.power_state)
                    .await;
        }
    };
    set_task("image_pending_upload").await;
    // A running guest is paused while its disk is read: QEMU drains and
    // flushes its block devices when it stops the vCPUs.
    let guest = svc.tasks().guest(uuid);
    let mut was_running = false;
    if let Some(g) = &guest {
        let g = g.lock().await;
        if matches!(g.qmp().status().await.as_deref(), Ok("running")) {
            g.pause().await.map_err(driver_error)?;
            was_running = true;
        }
    }
    let out = dir.join(".snapshot.qcow2");
    let (src, dst, base_dir) = (
        path.clone(),
        out.clone(),
        svc.tasks().cache().base_dir().to_path_buf(),
    );
    let converted = tokio::task::spawn_blocking(move || {
        nimbus_disk::convert(
            &src,
            src_format,
            &BackingPolicy::allow_dirs([base_dir]),
            &dst,
            Format::Qcow2,
            &ConvertOptions::default(),
            &mut |_, _| {},
        )
    })
    .await;
    if was_running && let Some(g) = &guest {
        let _ = g.lock().await.unpause().await;
    }
    let converted = converted
        .map_err(|e| ComputeError::new(ComputeErrorKind::Build, format!("convert task: {e}")))?;
    if let Err(e) = converted {
        let _ = tokio::fs::remove_file(&out).await;
        return Err(
            ComputeError::new(ComputeErrorKind::Build, "flattening the root disk").with_source(e),
        );
    }
    set_task("image_uploading").await;
    let result = upload(images, ctx, image_id, &out).await;
    let _ = tokio::fs::remove_file(&out).await;
    result
}

async fn upload(
    images: &nimbus_image::ImageService,
    ctx: &RequestContext,
    image_id: &str,
    path: &std::path::Path,
) -> Result<(), ComputeError> {
    let io = |e: std::io::Error| {
        ComputeError::new(ComputeErrorKind::Io, format!("reading {}", path.display()))
            .with_source(e)
    };
    let file = tokio::fs::File::open(path).await.map_err(io)?;
    let len = file.metadata().await.map_err(io)?.len();
    let stream = futures::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    images
        .image_upload(ctx, image_id, None, Some(len), Box::pin(stream))
        .await
        .map_err(|e| {
            ComputeError::new(
                ComputeErrorKind::Image,
                format!("uploading the snapshot: {}", e.message()),
            )
        })
}
