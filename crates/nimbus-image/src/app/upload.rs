//! Image data: upload (`PUT file`), stage + `glance-direct` import, and
//! download. Data is hashed and inspected in one pass into a temporary file;
//! only verified data reaches a store. Any failure, including a client that
//! goes away mid-upload, returns the image to `queued` and leaves no data.

use std::path::PathBuf;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use nimbus_common::{ApiError, RequestContext};
use nimbus_db::Pool;
use serde::{Deserialize, Serialize};

use super::ImageService;
use super::model::{Image, Status};
use super::range::{RangeRequest, requested_range};
use crate::backend::{ByteRange, ByteStream, StoreError, StoreErrorKind};
use crate::inspect::format_matches;
use crate::pipeline::{Pipeline, PipelineError};
use crate::store;
use crate::store::images::DataRecord;

/// Returns an image to `queued` unless disarmed: runs on every early
/// return and when the handler is dropped because the client went away.
pub(crate) struct QueuedOnDrop {
    pool: Pool,
    id: String,
    during: Status,
    /// Cleared once the image has left `during` for good.
    pub(crate) armed: bool,
}

impl Drop for QueuedOnDrop {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (pool, id, during) = (self.pool.clone(), self.id.clone(), self.during);
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = store::images::image_transition(&pool, &id, during, Status::Queued).await {
                    tracing::error!(image = %id, error = %e, "cannot return an image to queued after a failed upload");
                }
            });
        }
    }
}

/// The import methods this cloud offers (`/v2/info/import`).
pub const IMPORT_METHODS: [&str; 2] = ["glance-direct", "web-download"];

/// What the staging area remembers about staged data until `import`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StagedInfo {
    size: u64,
    md5: String,
    sha512: String,
    virtual_size: Option<u64>,
}

/// What a download sends.
pub enum Download {
    /// The image has no data (204).
    NoData,
    /// All of it (200), with its MD5 for `Content-MD5`.
    Full {
        /// The data.
        stream: ByteStream,
        /// Bytes.
        size: u64,
        /// Hex MD5.
        md5: Option<String>,
    },
    /// A byte range (206).
    Partial {
        /// The data.
        stream: ByteStream,
        /// The range sent.
        range: ByteRange,
        /// Size of the whole image.
        total: u64,
    },
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Download::NoData => f.write_str("NoData"),
            Download::Full { size, .. } => write!(f, "Full({size})"),
            Download::Partial { range, total, .. } => write!(f, "Partial({range:?} of {total})"),
        }
    }
}

fn pipeline_error(e: PipelineError, quota_limited: bool) -> ApiError {
    match e {
        PipelineError::TooLarge { limit } if quota_limited => ApiError::over_limit(format!(
            "Denying attempt to upload image because it exceeds the storage quota: at most {limit} more bytes may be stored."
        )),
        PipelineError::TooLarge { limit } => ApiError::over_limit(format!(
            "Image exceeds the storage quota or the size cap of {limit} bytes."
        )),
        PipelineError::Refused(reason) => {
            ApiError::unsupported_media_type(format!("Image data refused: {reason}"))
        }
        other => ApiError::internal(other),
    }
}

impl ImageService {
    fn staged_path(&self, id: &str) -> PathBuf {
        self.config.staging_dir.join(id)
    }

    fn staged_info_path(&self, id: &str) -> PathBuf {
        self.config.staging_dir.join(format!("{id}.json"))
    }

    /// Removes staged data of `id`, if any.
    pub(crate) async fn staged_discard(&self, id: &str) {
        let _ = tokio::fs::remove_file(self.staged_path(id)).await;
        let _ = tokio::fs::remove_file(self.staged_info_path(id)).await;
    }

    /// A guard that returns image `id` from `during` to `queued`.
    pub(crate) fn queued_on_drop(&self, id: &str, during: Status) -> QueuedOnDrop {
        QueuedOnDrop {
            pool: self.pool().clone(),
            id: id.to_string(),
            during,
            armed: true,
        }
    }

    /// Receives data for `image`, moving it from `from` to `during`: checks,
    /// streams through the pipeline, verifies the verdict. The guard is armed.
    pub(crate) async fn receive<S, E>(
        &self,
        image: &Image,
        from: Status,
        during: Status,
        content_length: Option<u64>,
        body: S,
    ) -> Result<(tempfile::NamedTempFile, StagedInfo, QueuedOnDrop), ApiError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let (Some(disk_format), Some(container_format)) =
            (&image.disk_format, &image.container_format)
        else {
            return Err(ApiError::bad_request(
                "Properties disk_format, container_format must be set prior to saving data.",
            ));
        };
        let cap = self.config.image_size_cap;
        let mut limit = cap;
        let mut quota_limited = false;
        if self.config.user_storage_quota > 0 {
            let used = match &image.owner {
                Some(owner) => {
                    u64::try_from(store::images::usage(self.pool(), owner).await?).unwrap_or(0)
                }
                None => 0,
            };
            let left = self.config.user_storage_quota.saturating_sub(used);
            if left < limit {
                limit = left;
                quota_limited = true;
            }
        }
        if let Some(length) = content_length
            && length > limit
        {
            return Err(pipeline_error(
                PipelineError::TooLarge { limit },
                quota_limited,
            ));
        }
        if !store::images::image_transition(self.pool(), &image.id, from, during).await? {
            let now = store::images::image_get(self.pool(), &image.id)
                .await?
                .map(|i| i.status.as_str())
                .unwrap_or("deleted");
            return Err(ApiError::conflict(format!(
                "Image status transition from {now} to {} is not allowed",
                during.as_str()
            )));
        }
        let guard = self.queued_on_drop(&image.id, during);
        let observer = (self.inspector)(disk_format, container_format);
        let mut pipeline = Pipeline::start(&self.config.staging_dir, observer, limit)
            .map_err(|e| pipeline_error(e, false))?;
        let mut body = std::pin::pin!(body);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request("The image data ended before it was complete.").with_detail(e)
            })?;
            pipeline
                .push(chunk)
                .await
                .map_err(|e| pipeline_error(e, quota_limited))?;
        }
        if let Some(length) = content_length
            && pipeline.size() != length
        {
            return Err(ApiError::bad_request(format!(
                "Received {} bytes of the {length} announced.",
                pipeline.size()
            )));
        }
        let staged = pipeline
            .finish()
            .await
            .map_err(|e| pipeline_error(e, quota_limited))?;
        if let Err(reason) = &staged.verdict.safety {
            return Err(ApiError::unsupported_media_type(format!(
                "Image data refused: {reason}"
            )));
        }
        if container_format == "bare" && !format_matches(disk_format, &staged.verdict.format) {
            return Err(ApiError::unsupported_media_type(format!(
                "Image data refused: image content is '{}', but the declared disk_format is '{disk_format}'",
                staged.verdict.format
            )));
        }
        let info = StagedInfo {
            size: staged.size,
            md5: staged.md5,
            sha512: staged.sha512,
            virtual_size: staged.verdict.virtual_size,
        };
        Ok((staged.file, info, guard))
    }

    /// Puts verified data in `store_id` and activates the image if it is
    /// still in `during`; otherwise the stored data is deleted again.
    pub(crate) async fn commit(
        &self,
        id: &str,
        during: Status,
        store_id: &str,
        file: tempfile::NamedTempFile,
        info: &StagedInfo,
    ) -> Result<(), ApiError> {
        let store = self
            .stores
            .get(store_id)
            .ok_or_else(|| ApiError::bad_request(format!("Unknown store '{store_id}'.")))?;
        let location = store.put(id, file).await?;
        let record = DataRecord {
            size: i64::try_from(info.size).unwrap_or(i64::MAX),
            virtual_size: info.virtual_size.and_then(|v| i64::try_from(v).ok()),
            checksum: info.md5.clone(),
            os_hash_value: info.sha512.clone(),
            location: location.clone(),
            store: store_id.to_string(),
        };
        match store::images::image_set_data(self.pool(), id, during, &record).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.data_delete(&location).await;
                Err(ApiError::conflict(format!(
                    "Image {id} was deleted or changed during the upload."
                )))
            }
            Err(e) => {
                self.data_delete(&location).await;
                Err(e.into())
            }
        }
    }

    fn store_choice(&self, requested: Option<&str>) -> Result<String, ApiError> {
        match requested {
            None => Ok(self.stores.default_id().to_string()),
            Some(s) if self.stores.get(s).is_some() => Ok(s.to_string()),
            Some(s) => Err(ApiError::bad_request(format!("Unknown store '{s}'."))),
        }
    }

    /// `PUT /v2/images/{id}/file`.
    pub async fn image_upload<S, E>(
        &self,
        ctx: &RequestContext,
        id: &str,
        store_id: Option<&str>,
        content_length: Option<u64>,
        body: S,
    ) -> Result<(), ApiError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let image = self.image_modifiable(ctx, id, "upload data to").await?;
        let store_id = self.store_choice(store_id)?;
        let (file, info, mut guard) = self
            .receive(&image, Status::Queued, Status::Saving, content_length, body)
            .await?;
        self.commit(id, Status::Saving, &store_id, file, &info)
            .await?;
        guard.armed = false;
        Ok(())
    }

    /// `PUT /v2/images/{id}/stage`: verified data waits in the staging
    /// area, the image stays `uploading` until `import`.
    pub async fn image_stage<S, E>(
        &self,
        ctx: &RequestContext,
        id: &str,
        content_length: Option<u64>,
        body: S,
    ) -> Result<(), ApiError>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let image = self.image_modifiable(ctx, id, "stage data for").await?;
        let (file, info, mut guard) = self
            .receive(
                &image,
                Status::Queued,
                Status::Uploading,
                content_length,
                body,
            )
            .await?;
        let json = serde_json::to_vec(&info).map_err(ApiError::internal)?;
        tokio::fs::write(self.staged_info_path(id), json)
            .await
            .map_err(ApiError::internal)?;
        let target = self.staged_path(id);
        file.persist(&target).map_err(|e| {
            ApiError::internal(format!(
                "cannot keep staged data at {}: {}",
                target.display(),
                e.error
            ))
        })?;
        guard.armed = false;
        Ok(())
    }

    /// `POST /v2/images/{id}/import`: `glance-direct` or `web-download`.
    pub async fn image_import(
        &self,
        ctx: &RequestContext,
        id: &str,
        method: &str,
        uri: Option<&str>,
        store_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let image = self.image_modifiable(ctx, id, "import data into").await?;
        let store_id = self.store_choice(store_id)?;
        if !IMPORT_METHODS.contains(&method) {
            return Err(ApiError::bad_request(format!(
                "Import method {method} is not supported: this cloud offers {}.",
                IMPORT_METHODS.join(" and ")
            )));
        }
        let task = self.task_begin(ctx, &image.id, method, &store_id).await?;
        let started = if method == "glance-direct" {
            self.import_staged(image, store_id, task.clone()).await
        } else {
            self.import_web(image, uri, store_id, task.clone()).await
        };
        // Refused before any work began: glance would not have made a task.
        if started.is_err() {
            self.task_discard(&task).await;
        }
        started
    }

    /// `glance-direct`: moves staged data into a store in the background
    /// (202); the image goes `importing`, then `active`, or back to `queued`
    /// on failure.
    async fn import_staged(
        &self,
        image: Image,
        store_id: String,
        task: String,
    ) -> Result<(), ApiError> {
        let id = image.id.as_str();
        let info_path = self.staged_info_path(id);
        if image.status != Status::Uploading || !info_path.exists() {
            return Err(ApiError::conflict(format!(
                "Image {id} needs to be staged before the glance-direct method can be used."
            )));
        }
        let info: StagedInfo = serde_json::from_slice(
            &tokio::fs::read(&info_path)
                .await
                .map_err(ApiError::internal)?,
        )
        .map_err(ApiError::internal)?;
        if !store::images::image_transition(self.pool(), id, Status::Uploading, Status::Importing)
            .await?
        {
            return Err(ApiError::conflict(format!(
                "Image {id} is already being imported."
            )));
        }
        let service = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let guard = service.queued_on_drop(&id, Status::Importing);
            let staged = service.staged_path(&id);
            let opened = std::fs::File::open(&staged)
                .and_then(|file| Ok((file, tempfile::TempPath::try_from_path(&staged)?)));
            let result = match opened {
                Ok((file, path)) => {
                    let named = tempfile::NamedTempFile::from_parts(file, path);
                    service
                        .commit(&id, Status::Importing, &store_id, named, &info)
                        .await
                }
                Err(e) => Err(ApiError::internal(e)),
            };
            service.staged_discard(&id).await;
            service.task_end(&task, &id, result.as_ref().err()).await;
            match result {
                Ok(()) => {
                    let mut guard = guard;
                    guard.armed = false;
                }
                Err(e) => tracing::error!(image = %id, error = %e, "glance-direct import failed"),
            }
        });
        Ok(())
    }

    /// Streams the data at `location` (or a range of it) from its store.
    pub(crate) async fn data_open(
        &self,
        location: &str,
        range: Option<ByteRange>,
    ) -> Result<ByteStream, StoreError> {
        let store = self.stores.for_location(location).ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::BadLocation,
                format!("no store for {location}"),
            )
        })?;
        store.get(location, range).await
    }

    /// `GET /v2/images/{id}/file`, all of it or the part the request's
    /// `Range` (or legacy `Content-Range`) header asks for.
    pub async fn image_download(
        &self,
        ctx: &RequestContext,
        id: &str,
        range: Option<&str>,
        content_range: Option<&str>,
    ) -> Result<Download, ApiError> {
        let image = self.image_visible(ctx, id).await?;
        if image.status == Status::Deactivated && !ctx.is_admin() {
            return Err(ApiError::forbidden(
                "The requested image has been deactivated. Image data download is forbidden.",
            ));
        }
        let (Some(location), Some(size)) = (&image.location, image.size) else {
            return Ok(Download::NoData);
        };
        if image.status != Status::Active && image.status != Status::Deactivated {
            return Ok(Download::NoData);
        }
        let total = u64::try_from(size).unwrap_or(0);
        match requested_range(range, content_range, total).map_err(|e| e.into_api(total))? {
            RangeRequest::Part(range) => Ok(Download::Partial {
                stream: self.data_open(location, Some(range)).await?,
                range,
                total,
            }),
            RangeRequest::Whole => Ok(Download::Full {
                stream: self.data_open(location, None).await?,
                size: total,
                md5: image.checksum.clone(),
            }),
        }
    }
}
