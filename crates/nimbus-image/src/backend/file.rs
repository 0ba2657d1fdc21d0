//! The local filesystem store (Glance's `filesystem_store_datadir`): one
//! file per image, named by the image id, moved into place by rename after
//! an fsync so a reader never sees a partial file.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tempfile::NamedTempFile;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{ByteRange, ByteStream, Store, StoreError, StoreErrorKind, StoreInfo};

/// Bytes read per chunk when serving data.
const READ_CHUNK: usize = 256 * 1024;

/// Image data as files in one directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
    info: StoreInfo,
}

impl FileStore {
    /// A store under `root` (created if missing).
    pub fn new(root: &Path) -> Result<FileStore, StoreError> {
        std::fs::create_dir_all(root).map_err(|e| {
            StoreError::new(
                StoreErrorKind::Io,
                format!("cannot create {}", root.display()),
            )
            .with_source(e)
        })?;
        let root = root.canonicalize().map_err(|e| {
            StoreError::new(
                StoreErrorKind::Io,
                format!("cannot resolve {}", root.display()),
            )
            .with_source(e)
        })?;
        let prefix = format!("file://{}/", root.display());
        Ok(FileStore {
            info: StoreInfo::new("file", "Local filesystem store", prefix),
            root,
        })
    }

    /// The directory the data files are in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file a location names: only ever a plain image id directly in
    /// the store directory, never a way to reach a host file.
    fn path_of(&self, location: &str) -> Result<PathBuf, StoreError> {
        Ok(self.root.join(self.info.image_id_of(location)?))
    }
}

fn io_error(context: String) -> impl FnOnce(std::io::Error) -> StoreError {
    move |e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            StoreErrorKind::NotFound
        } else {
            StoreErrorKind::Io
        };
        StoreError::new(kind, context).with_source(e)
    }
}

impl Store for FileStore {
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
            let target = self.root.join(image_id);
            let root = self.root.clone();
            let moved = tokio::task::spawn_blocking(move || -> Result<(), StoreError> {
                data.as_file().sync_all().map_err(io_error(format!(
                    "cannot sync data for {}",
                    target.display()
                )))?;
                match data.persist_noclobber(&target) {
                    Ok(_) => {}
                    // Staging on another filesystem: copy into a temporary
                    // file beside the target, then rename.
                    Err(e) if e.error.raw_os_error() == Some(18) => {
                        let tmp = tempfile::Builder::new()
                            .prefix(".store-")
                            .tempfile_in(&root)
                            .map_err(io_error(format!("cannot write {}", root.display())))?;
                        std::fs::copy(e.file.path(), tmp.path())
                            .map_err(io_error(format!("cannot copy into {}", root.display())))?;
                        tmp.as_file()
                            .sync_all()
                            .map_err(io_error(format!("cannot sync {}", root.display())))?;
                        tmp.persist_noclobber(&target).map_err(|e| {
                            io_error(format!("cannot store {}", target.display()))(e.error)
                        })?;
                    }
                    Err(e) => {
                        return Err(io_error(format!("cannot store {}", target.display()))(
                            e.error,
                        ));
                    }
                }
                // The rename is durable only once the directory is synced.
                std::fs::File::open(&root)
                    .and_then(|d| d.sync_all())
                    .map_err(io_error(format!("cannot sync {}", root.display())))
            })
            .await
            .map_err(|e| {
                StoreError::new(StoreErrorKind::Io, format!("store worker failed: {e}"))
            })?;
            moved?;
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
            let path = self.path_of(location)?;
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(io_error(format!("cannot open {}", path.display())))?;
            let (start, left) = match range {
                Some(r) => (r.start, r.end.saturating_sub(r.start)),
                None => (0, u64::MAX),
            };
            if start > 0 {
                file.seek(SeekFrom::Start(start))
                    .await
                    .map_err(io_error(format!("cannot seek {}", path.display())))?;
            }
            let stream = futures::stream::unfold((file, left), |(mut file, left)| async move {
                if left == 0 {
                    return None;
                }
                let want = usize::try_from(left).unwrap_or(usize::MAX).min(READ_CHUNK);
                let mut buf = vec![0u8; want];
                match file.read(&mut buf).await {
                    Ok(0) => None,
                    Ok(n) => {
                        buf.truncate(n);
                        Some((Ok(Bytes::from(buf)), (file, left - n as u64)))
                    }
                    Err(e) => Some((Err(e), (file, 0))),
                }
            });
            Ok(Box::pin(stream) as ByteStream)
        }
        .boxed()
    }

    fn delete<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            let path = self.path_of(location)?;
            match tokio::fs::remove_file(&path).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(io_error(format!("cannot delete {}", path.display()))(e)),
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;
    use std::io::Write;

    async fn read_all(stream: ByteStream) -> Vec<u8> {
        let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
        chunks.concat()
    }

    fn staged(dir: &Path, data: &[u8]) -> NamedTempFile {
        let mut f = tempfile::Builder::new().tempfile_in(dir).unwrap();
        f.write_all(data).unwrap();
        f
    }

    #[tokio::test]
    async fn put_get_range_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(&dir.path().join("images")).unwrap();
        let data: Vec<u8> = (0..600_000u32).map(|i| i as u8).collect();
        let loc = store.put("abc", staged(dir.path(), &data)).await.unwrap();
        assert_eq!(loc, format!("file://{}/abc", store.root().display()));
        assert_eq!(read_all(store.get(&loc, None).await.unwrap()).await, data);
        let part = read_all(
            store
                .get(
                    &loc,
                    Some(ByteRange {
                        start: 10,
                        end: 300_000,
                    }),
                )
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(part, &data[10..300_000]);
        store.delete(&loc).await.unwrap();
        store.delete(&loc).await.unwrap();
        let err = store.get(&loc, None).await.err().unwrap();
        assert_eq!(err.kind, StoreErrorKind::NotFound);
    }

    #[tokio::test]
    async fn locations_outside_the_store_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(&dir.path().join("images")).unwrap();
        let root = store.root().display().to_string();
        for loc in [
            "file:///etc/passwd".to_string(),
            format!("file://{root}/../../etc/passwd"),
            format!("file://{root}/a/b"),
            format!("s3://{root}/abc"),
            format!("file://{root}/.."),
        ] {
            let err = store.get(&loc, None).await.err().unwrap();
            assert_eq!(err.kind, StoreErrorKind::BadLocation, "{loc}");
            assert_eq!(
                store.delete(&loc).await.unwrap_err().kind,
                StoreErrorKind::BadLocation
            );
        }
    }

    #[tokio::test]
    async fn an_existing_image_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(&dir.path().join("images")).unwrap();
        let loc = store.put("x1", staged(dir.path(), b"first")).await.unwrap();
        assert!(
            store
                .put("x1", staged(dir.path(), b"second"))
                .await
                .is_err()
        );
        assert_eq!(
            read_all(store.get(&loc, None).await.unwrap()).await,
            b"first"
        );
    }
}
