//! `createImage`: the root disk's chain flattened (nimbus-disk convert)
//! into a new qcow2 image uploaded to the image service in process; the
//! snapshot keeps the kernel, ramdisk and command line of its source so it
//! boots as its source did.

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

/// Records the snapshot image (queued), starts the upload task, returns its id.
pub async fn server_snapshot(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    name: &str,
    metadata: BTreeMap<String, String>,
) -> Result<String, ApiError> {
    let images = svc.images().service();
    let instance = server_get(svc, ctx, id).await?;
    if !ctx.can_write() {
        return Err(ApiError::policy("os_compute_api:servers:create_image"));
    }
    // nova snapshots the root volume instead; until then, never the config
    // drive that would be the machine's first local disk.
    if super::volumes::root_bdm(svc, &instance.uuid)
        .await?
        .is_some()
    {
        return Err(ApiError::bad_request(
            "Snapshots of volume-backed servers are not supported yet.",
        ));
    }
    claim(
        svc,
        &instance,
        "createImage",
        &["active", "stopped", "paused", "suspended"],
        "image_snapshot",
    )
    .await?;
    let mut body = Map::new();
    body.insert("name".into(), json!(name));
    body.insert("disk_format".into(), json!("qcow2"));
    body.insert("container_format".into(), json!("bare"));
    body.insert("min_disk".into(), json!(instance.root_gb));
    body.insert("min_ram".into(), json!(instance.memory_mb));
    if let Ok(source) = svc.images().image_get(ctx, &instance.image_ref).await {
        for key in INHERITED {
            if let Some(v) = source.properties.get(*key) {
                body.insert((*key).into(), json!(v));
            }
        }
    }
    body.insert("image_type".into(), json!("snapshot"));
    body.insert("instance_uuid".into(), json!(instance.uuid));
    body.insert("base_image_ref".into(), json!(instance.image_ref));
    body.insert("owner_user_name".into(), json!(ctx.user_name));
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
        "createImage",
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
        let result = snapshot(&svc, &images, &ctx2, &uuid, &image_id).await;
        if let Err(err) = &result {
            tracing::warn!(instance = %uuid, error = %err.chain(), "snapshot failed");
            let _ = images.image_delete(&ctx2, &image_id).await;
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
        record(
            &svc,
            &action_id,
            "compute_snapshot_instance",
            started,
            &result,
        )
        .await;
    });
    Ok(image.id)
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
