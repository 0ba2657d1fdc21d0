//! `os-volume_upload_image`: the volume's data becomes a new image. The
//! image is created (queued) at once; the copy and upload run after the
//! 202 while the volume is `uploading`.

use futures::StreamExt;
use nimbus_common::{ApiError, RequestContext};
use serde_json::{Map, Value, json};

use super::model::{AttachStatus, Volume, VolumeStatus};
use super::{VolumeService, driver_volume, require_write};
use crate::error::VolumeError;
use crate::store;

/// What `os-volume_upload_image` asked for.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    /// Name of the new image.
    pub image_name: String,
    /// `raw` or `qcow2`.
    pub disk_format: String,
    /// `bare`.
    pub container_format: String,
    /// Allow an in-use volume.
    pub force: bool,
    /// Image visibility.
    pub visibility: Option<String>,
    /// Image protection.
    pub protected: bool,
}

impl VolumeService {
    /// Starts the upload; returns the volume and the new image's id.
    pub async fn volume_upload_image(
        &self,
        ctx: &RequestContext,
        id: &str,
        req: UploadRequest,
    ) -> Result<(Volume, String), ApiError> {
        require_write(ctx, "volume_extension:volume_actions:upload_image")?;
        let images = self.images.clone().ok_or_else(|| {
            ApiError::bad_request("Invalid input received: no image service is configured.")
        })?;
        let format = match req.disk_format.as_str() {
            "raw" => nimbus_disk::Format::Raw,
            "qcow2" => nimbus_disk::Format::Qcow2,
            other => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input received: Invalid disk-format '{other}' is specified. Allowed disk-formats are raw, qcow2."
                )));
            }
        };
        if req.container_format != "bare" {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: Invalid container-format '{}' is specified. Allowed container-formats are bare.",
                req.container_format
            )));
        }
        let volume = self.volume_get(ctx, id).await?;
        let from: &[VolumeStatus] = if req.force {
            &[VolumeStatus::Available, VolumeStatus::InUse]
        } else {
            &[VolumeStatus::Available]
        };
        if !from.contains(&volume.status) {
            return Err(ApiError::bad_request(format!(
                "Invalid volume: Volume status must be available{}, but is {}.",
                if req.force { " or in-use" } else { "" },
                volume.status.as_str()
            )));
        }
        let mut body = Map::new();
        body.insert("name".into(), json!(req.image_name));
        body.insert("disk_format".into(), json!(req.disk_format));
        body.insert("container_format".into(), json!(req.container_format));
        if let Some(v) = &req.visibility {
            body.insert("visibility".into(), json!(v));
        }
        if req.protected {
            body.insert("protected".into(), json!(true));
        }
        for (k, v) in inherited_properties(&volume) {
            body.insert(k.clone(), json!(v));
        }
        let image = images.image_create(ctx, &body).await?;
        if !store::volumes::volume_transition(self.pool(), id, from, VolumeStatus::Uploading, None)
            .await?
        {
            let _ = images.image_delete(ctx, &image.id).await;
            return Err(ApiError::bad_request(
                "Invalid volume: Volume status changed.",
            ));
        }
        let svc = self.clone();
        let ctx = ctx.clone();
        let v = volume.clone();
        let image_id = image.id.clone();
        tokio::spawn(async move {
            let result = svc.upload(&ctx, &v, &image_id, format, &images).await;
            if let Err(e) = &result {
                tracing::error!(volume = %v.id, image = %image_id, error = %e, "upload to image failed");
                let _ = images.image_delete(&ctx, &image_id).await;
            }
            // As Cinder's `volume_update_status_based_on_attachment`: an
            // os-detach during a forced upload leaves it `available`.
            let back = match store::attachments::attachment_list_for_volume(svc.pool(), &v.id).await
            {
                Ok(a) if a.is_empty() => (VolumeStatus::Available, AttachStatus::Detached),
                Ok(_) => (VolumeStatus::InUse, AttachStatus::Attached),
                Err(_) => (v.status, v.attach_status),
            };
            let _ = store::volumes::volume_transition(
                svc.pool(),
                &v.id,
                &[VolumeStatus::Uploading],
                back.0,
                Some(back.1),
            )
            .await;
        });
        Ok((volume, image.id))
    }

    async fn upload(
        &self,
        ctx: &RequestContext,
        volume: &Volume,
        image_id: &str,
        format: nimbus_disk::Format,
        images: &nimbus_image::ImageService,
    ) -> Result<(), String> {
        let dir = tempfile::Builder::new()
            .prefix("upload-")
            .tempdir_in(&self.config.image_conversion_dir)
            .map_err(|e| format!("cannot make a conversion dir: {e}"))?;
        let path = dir.path().join("data");
        let dv = driver_volume(volume);
        let p = path.clone();
        self.blocking(move |d| d.copy_volume_to_image(&dv, &p, format))
            .await
            .map_err(|e: VolumeError| crate::error::chain(&e))?;
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| e.to_string())?;
        let len = file.metadata().await.map_err(|e| e.to_string())?.len();
        let stream = futures::stream::unfold(file, |mut file| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 1 << 20];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), file))
                }
                Err(e) => Some((Err(e), file)),
            }
        })
        .boxed();
        images
            .image_upload(ctx, image_id, None, Some(len), stream)
            .await
            .map_err(|e: ApiError| e.to_string())?;
        Ok(())
    }
}

/// Cinder's `glance_core_properties`: what it never copies from a volume's
/// image metadata into the new image.
const CORE_PROPERTIES: [&str; 9] = [
    "checksum",
    "container_format",
    "disk_format",
    "image_name",
    "image_id",
    "min_disk",
    "min_ram",
    "name",
    "size",
];

/// Image attributes Glance owns; a volume's image metadata (which users can
/// set with `os-set_image_metadata`) must not pick them for the new image.
const GLANCE_OWNED: [&str; 16] = [
    "id",
    "visibility",
    "protected",
    "owner",
    "status",
    "virtual_size",
    "os_hash_algo",
    "os_hash_value",
    "created_at",
    "updated_at",
    "tags",
    "locations",
    "direct_url",
    "self",
    "file",
    "schema",
];

/// The volume's image properties the new image inherits, as Cinder's
/// `copy_volume_to_image` merges them (`kernel_id`, `hw_*`, ...), so an
/// image made from a bootable volume boots like the image it came from.
fn inherited_properties(volume: &Volume) -> impl Iterator<Item = (&String, &String)> {
    volume.image_metadata.iter().flatten().filter(|(k, _)| {
        !CORE_PROPERTIES.contains(&k.as_str())
            && !GLANCE_OWNED.contains(&k.as_str())
            && !k.starts_with("os_glance")
            && k.as_str() != "stores"
    })
}

/// The `os-volume_upload_image` reply body.
pub fn upload_reply(
    volume: &Volume,
    image_id: &str,
    req: &UploadRequest,
    type_name: &str,
) -> Value {
    json!({"os-volume_upload_image": {
        "id": volume.id,
        "updated_at": super::super::api::views::timestamp(volume.updated_at),
        "status": "uploading",
        "display_description": volume.description,
        "size": volume.size,
        "volume_type": {"name": type_name},
        "image_id": image_id,
        "container_format": req.container_format,
        "disk_format": req.disk_format,
        "image_name": req.image_name,
        "visibility": req.visibility.clone().unwrap_or_else(|| "shared".into()),
        "protected": req.protected,
    }})
}
