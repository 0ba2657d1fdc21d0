//! The in-process image API the compute service uses (no HTTP loopback):
//! image metadata under the caller's visibility rules, and image data
//! streamed into a local file whose SHA-512 and size must match what the
//! image records, or nothing is left behind.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use nimbus_common::{ApiError, RequestContext};
use sha2::{Digest, Sha512};
use tokio::io::AsyncWriteExt;

use crate::app::ImageService;
use crate::app::model::{Image, Status};

/// Why a fetch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchErrorKind {
    /// No such image, or the caller may not see it.
    NotFound,
    /// The image has no data to serve (not active, or deactivated).
    NotActive,
    /// The served bytes do not match the recorded size or hash.
    Corrupt,
    /// Writing the local file failed (or another local failure).
    Io,
    /// The image's store failed: unreachable, or its data is missing or
    /// unreadable there.
    Store,
}

/// A failed metadata or data fetch.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FetchError {
    /// What kind of failure.
    pub kind: FetchErrorKind,
    message: String,
}

impl FetchError {
    fn new(kind: FetchErrorKind, message: impl Into<String>) -> FetchError {
        FetchError {
            kind,
            message: message.into(),
        }
    }
}

impl From<ApiError> for FetchError {
    fn from(e: ApiError) -> FetchError {
        let kind = match e.status().as_u16() {
            404 => FetchErrorKind::NotFound,
            403 => FetchErrorKind::NotActive,
            _ => FetchErrorKind::Io,
        };
        FetchError::new(kind, e.message())
    }
}

/// What a completed fetch wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The file, at the requested path.
    pub path: PathBuf,
    /// Bytes written.
    pub size: u64,
    /// Verified SHA-512.
    pub sha512: String,
}

/// Image metadata and data for other services in the same process.
#[derive(Debug, Clone)]
pub struct ImageClient {
    service: ImageService,
}

impl ImageClient {
    /// A client of `service`.
    pub fn new(service: ImageService) -> ImageClient {
        ImageClient { service }
    }

    /// The image service itself, for callers that create and upload images
    /// (compute's snapshots).
    pub fn service(&self) -> &ImageService {
        &self.service
    }

    /// An image the caller may see (Nova's `image_api.get`).
    pub async fn image_get(&self, ctx: &RequestContext, id: &str) -> Result<Image, FetchError> {
        Ok(self.service.image_visible(ctx, id).await?)
    }

    /// Streams the data of active image `id` into `dest`: written to a
    /// temporary file beside it, checked against the recorded size and
    /// `os_hash_value`, fsynced, then renamed into place. On any mismatch
    /// or error nothing exists at `dest` and the temporary file is gone.
    pub async fn image_fetch_to(
        &self,
        ctx: &RequestContext,
        id: &str,
        dest: &Path,
    ) -> Result<Fetched, FetchError> {
        let image = self.image_get(ctx, id).await?;
        if image.status != Status::Active {
            return Err(FetchError::new(
                FetchErrorKind::NotActive,
                format!("Image {id} is {}, not active.", image.status.as_str()),
            ));
        }
        let (Some(expected_hash), Some(expected_size)) = (image.os_hash_value.clone(), image.size)
        else {
            return Err(FetchError::new(
                FetchErrorKind::NotActive,
                format!("Image {id} has no data."),
            ));
        };
        let Some(location) = image.location.as_deref() else {
            return Err(FetchError::new(
                FetchErrorKind::NotActive,
                format!("Image {id} has no data."),
            ));
        };
        let store_failed = |e: &dyn std::fmt::Display| {
            FetchError::new(
                FetchErrorKind::Store,
                format!("Image {id} data cannot be read from its store: {e}"),
            )
        };
        let mut stream = self
            .service
            .data_open(location, None)
            .await
            .map_err(|e| store_failed(&e))?;
        let dir = dest.parent().unwrap_or(Path::new("."));
        let io = |what: &str, e: std::io::Error| {
            FetchError::new(FetchErrorKind::Io, format!("{what}: {e}"))
        };
        let tmp = tempfile::Builder::new()
            .prefix(".fetch-")
            .tempfile_in(dir)
            .map_err(|e| io("cannot create a temporary file", e))?;
        let mut file = tokio::fs::File::from_std(
            tmp.reopen()
                .map_err(|e| io("cannot open the temporary file", e))?,
        );
        let mut sha = Sha512::new();
        let mut size: u64 = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| store_failed(&e))?;
            size += chunk.len() as u64;
            if size > u64::try_from(expected_size).unwrap_or(0) {
                return Err(FetchError::new(
                    FetchErrorKind::Corrupt,
                    format!("Image {id} served more bytes than its size."),
                ));
            }
            sha.update(&chunk);
            file.write_all(&chunk)
                .await
                .map_err(|e| io("cannot write image data", e))?;
        }
        let sha512 = hex::encode(sha.finalize());
        if size != u64::try_from(expected_size).unwrap_or(0) || sha512 != expected_hash {
            return Err(FetchError::new(
                FetchErrorKind::Corrupt,
                format!("Image {id} data does not match its recorded size and os_hash_value."),
            ));
        }
        file.sync_all()
            .await
            .map_err(|e| io("cannot sync image data", e))?;
        drop(file);
        tmp.persist(dest)
            .map_err(|e| io("cannot move image data into place", e.error))?;
        Ok(Fetched {
            path: dest.to_path_buf(),
            size,
            sha512,
        })
    }
}
