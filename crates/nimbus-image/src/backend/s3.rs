//! S3-compatible object storage through `object_store` (rustls with ring,
//! no OpenSSL). Objects are `images/<image id>` in one bucket; data goes up
//! in 8 MiB multipart parts read from the verified temporary file, so
//! memory stays bounded for any image size.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use tempfile::NamedTempFile;
use tokio::io::AsyncReadExt;

use super::{ByteRange, ByteStream, Store, StoreError, StoreErrorKind, StoreInfo};

/// Multipart part size (S3 requires at least 5 MiB except for the last).
const PART_SIZE: usize = 8 << 20;
/// Object keys are this plus the image id.
const KEY_PREFIX: &str = "images/";
/// Parts uploaded at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Where the S3 store is and how to sign for it.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// Endpoint URL (`http://127.0.0.1:9000`); None for AWS itself.
    pub endpoint: Option<String>,
    /// Bucket (must exist).
    pub bucket: String,
    /// Region (`us-east-1` for most S3-compatible servers).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
}

/// Image data as objects in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Arc<AmazonS3>,
    info: StoreInfo,
}

impl S3Store {
    /// A store for `config`; plain HTTP is allowed only for an explicit
    /// endpoint (a local S3-compatible server).
    pub fn new(config: &S3Config) -> Result<S3Store, StoreError> {
        // reqwest is built without a default TLS provider; ring is ours.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let client = builder.build().map_err(|e| {
            StoreError::new(
                StoreErrorKind::BadLocation,
                "invalid S3 store configuration",
            )
            .with_source(e)
        })?;
        Ok(S3Store {
            client: Arc::new(client),
            info: StoreInfo::new(
                "s3",
                "S3-compatible object store",
                format!("s3://{}/{KEY_PREFIX}", config.bucket),
            ),
        })
    }

    /// The object key of the data at `location`, if it is one of ours.
    fn key_of(&self, location: &str) -> Result<ObjectPath, StoreError> {
        let id = self.info.image_id_of(location)?;
        Ok(ObjectPath::from(format!("{KEY_PREFIX}{id}")))
    }
}

fn s3_error(context: String) -> impl FnOnce(object_store::Error) -> StoreError {
    move |e| {
        let kind = match &e {
            object_store::Error::NotFound { .. } => StoreErrorKind::NotFound,
            _ => StoreErrorKind::Unavailable,
        };
        StoreError::new(kind, context).with_source(e)
    }
}

impl Store for S3Store {
    fn info(&self) -> &StoreInfo {
        &self.info
    }

    fn put<'a>(
        &'a self,
        image_id: &'a str,
        data: NamedTempFile,
    ) -> BoxFuture<'a, Result<String, StoreError>> {
        async move {
            let location = self.info.location_of(image_id)?;
            let key = ObjectPath::from(format!("{KEY_PREFIX}{image_id}"));
            let io = |e| {
                StoreError::new(StoreErrorKind::Io, "cannot read staged image data").with_source(e)
            };
            let mut file = tokio::fs::File::open(data.path()).await.map_err(io)?;
            let upload = self
                .client
                .put_multipart(&key)
                .await
                .map_err(s3_error(format!("cannot start upload of {key}")))?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut buf = vec![0u8; PART_SIZE];
            let sent = async {
                loop {
                    let n = file.read(&mut buf).await.map_err(io)?;
                    if n == 0 {
                        return Ok(());
                    }
                    writer
                        .wait_for_capacity(PARTS_IN_FLIGHT)
                        .await
                        .map_err(s3_error(format!("cannot upload {key}")))?;
                    writer.write(&buf[..n]);
                }
            }
            .await;
            if let Err(e) = sent {
                // Parts already uploaded are kept (and billed) until aborted.
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(%key, error = %abort, "cannot abort a failed multipart upload");
                }
                return Err(e);
            }
            writer
                .finish()
                .await
                .map_err(s3_error(format!("cannot finish upload of {key}")))?;
            Ok(location)
        }
        .boxed()
    }

    fn get<'a>(
        &'a self,
        location: &'a str,
        range: Option<ByteRange>,
    ) -> BoxFuture<'a, Result<ByteStream, StoreError>> {
        async move {
            let key = self.key_of(location)?;
            let options = GetOptions {
                range: range.map(|r| GetRange::Bounded(r.start..r.end)),
                ..GetOptions::default()
            };
            let result = self
                .client
                .get_opts(&key, options)
                .await
                .map_err(s3_error(format!("cannot read {key}")))?;
            let stream = result
                .into_stream()
                .map(|chunk: object_store::Result<Bytes>| chunk.map_err(std::io::Error::other));
            Ok(Box::pin(stream) as ByteStream)
        }
        .boxed()
    }

    fn delete<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            let key = self.key_of(location)?;
            match self.client.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(s3_error(format!("cannot delete {key}"))(e)),
            }
        }
        .boxed()
    }
}
