//! The upload pipeline: one streaming pass over the data that computes MD5
//! and SHA-512, feeds the format inspector and writes a temporary file,
//! with memory bounded by two small channels of chunks.
//!
//! MD5 runs on its own thread so the two hashes use both cores; SHA-512,
//! the inspector and the file write share the other. Nothing is kept if the
//! pipeline is dropped before [`Pipeline::finish`]: the temporary file is
//! deleted with it.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use md5::{Digest as _, Md5};
use sha2::Sha512;
use tempfile::NamedTempFile;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Chunks in flight per worker; with hyper's chunks (at most a few hundred
/// KiB) this bounds the memory an upload holds.
const CHANNEL_CHUNKS: usize = 8;
/// Write buffer of the temporary file.
const WRITE_BUFFER: usize = 1 << 20;

/// What the format inspector concluded about a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatVerdict {
    /// Detected format in Glance's `disk_format` words (`raw`, `qcow2`, `vmdk`, ...).
    pub format: String,
    /// Size of the virtual disk, when the format says.
    pub virtual_size: Option<u64>,
    /// `Err(reason)` when the data is unsafe to open.
    pub safety: Result<(), String>,
}

/// Something that watches the data stream chunk by chunk: the format
/// inspector. Kept as a trait so the pipeline does not care which one.
pub trait FormatObserver: Send {
    /// Feeds the next chunk. `Err(reason)` stops the upload at once (data
    /// already known to be unsafe or not what was declared).
    fn feed(&mut self, chunk: &[u8]) -> Result<(), String>;
    /// The verdict after the last chunk.
    fn finish(self: Box<Self>) -> FormatVerdict;
}

/// Why an upload pipeline failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// More data than allowed.
    #[error("image data exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        limit: u64,
    },
    /// The inspector refused the data before the end.
    #[error("{0}")]
    Refused(String),
    /// The temporary file could not be written.
    #[error("cannot write image data under {path}: {source}")]
    Io {
        /// The staging directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A worker thread died.
    #[error("upload worker failed: {0}")]
    Worker(String),
}

/// Data that went through the pipeline: hashed, inspected, on disk and
/// fsynced in a temporary file that is deleted unless kept.
#[derive(Debug)]
pub struct Staged {
    /// The data (deleted on drop).
    pub file: NamedTempFile,
    /// Bytes written.
    pub size: u64,
    /// Hex MD5.
    pub md5: String,
    /// Hex SHA-512.
    pub sha512: String,
    /// The inspector's verdict.
    pub verdict: FormatVerdict,
}

struct MainOutput {
    file: NamedTempFile,
    sha512: String,
    verdict: FormatVerdict,
}

/// A running upload: push chunks, then finish.
pub struct Pipeline {
    main_tx: Option<mpsc::Sender<Bytes>>,
    md5_tx: Option<mpsc::Sender<Bytes>>,
    main: JoinHandle<Result<MainOutput, PipelineError>>,
    md5: JoinHandle<String>,
    size: u64,
    limit: u64,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("size", &self.size)
            .field("limit", &self.limit)
            .finish()
    }
}

impl Pipeline {
    /// Starts a pipeline writing into a new temporary file in `dir`, refusing
    /// more than `limit` bytes.
    pub fn start(
        dir: &Path,
        observer: Box<dyn FormatObserver>,
        limit: u64,
    ) -> Result<Pipeline, PipelineError> {
        let io = |source| PipelineError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let file = tempfile::Builder::new()
            .prefix(".upload-")
            .tempfile_in(dir)
            .map_err(io)?;
        let (main_tx, main_rx) = mpsc::channel(CHANNEL_CHUNKS);
        let (md5_tx, md5_rx) = mpsc::channel(CHANNEL_CHUNKS);
        let dir = dir.to_path_buf();
        let main = tokio::task::spawn_blocking(move || main_worker(main_rx, file, observer, dir));
        let md5 = tokio::task::spawn_blocking(move || md5_worker(md5_rx));
        Ok(Pipeline {
            main_tx: Some(main_tx),
            md5_tx: Some(md5_tx),
            main,
            md5,
            size: 0,
            limit,
        })
    }

    /// Bytes accepted so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Feeds one chunk; waits while the workers are behind.
    pub async fn push(&mut self, chunk: Bytes) -> Result<(), PipelineError> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.size = self.size.saturating_add(chunk.len() as u64);
        if self.size > self.limit {
            return Err(PipelineError::TooLarge { limit: self.limit });
        }
        let (Some(main_tx), Some(md5_tx)) = (&self.main_tx, &self.md5_tx) else {
            return Err(PipelineError::Worker("pipeline already finished".into()));
        };
        if main_tx.send(chunk.clone()).await.is_err() {
            // The worker stopped early: its result says why.
            self.main_tx = None;
            return Err(self.main_error().await);
        }
        if md5_tx.send(chunk).await.is_err() {
            return Err(PipelineError::Worker("md5 worker stopped".into()));
        }
        Ok(())
    }

    async fn main_error(&mut self) -> PipelineError {
        match (&mut self.main).await {
            Ok(Err(e)) => e,
            Ok(Ok(_)) => PipelineError::Worker("writer stopped early".into()),
            Err(e) => PipelineError::Worker(e.to_string()),
        }
    }

    /// Ends the stream: waits for the workers, fsyncs the file and returns it.
    pub async fn finish(mut self) -> Result<Staged, PipelineError> {
        self.main_tx = None;
        self.md5_tx = None;
        let main = (&mut self.main)
            .await
            .map_err(|e| PipelineError::Worker(e.to_string()))??;
        let md5 = (&mut self.md5)
            .await
            .map_err(|e| PipelineError::Worker(e.to_string()))?;
        Ok(Staged {
            file: main.file,
            size: self.size,
            md5,
            sha512: main.sha512,
            verdict: main.verdict,
        })
    }
}

fn main_worker(
    mut rx: mpsc::Receiver<Bytes>,
    file: NamedTempFile,
    mut observer: Box<dyn FormatObserver>,
    dir: PathBuf,
) -> Result<MainOutput, PipelineError> {
    let io = |source| PipelineError::Io {
        path: dir.clone(),
        source,
    };
    let mut sha = Sha512::new();
    let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER, file);
    while let Some(chunk) = rx.blocking_recv() {
        // A panic inside the inspector is an internal error, and internal
        // errors count as unsafe.
        let fed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| observer.feed(&chunk)))
            .unwrap_or_else(|_| Err("the format inspector failed on this data".into()));
        fed.map_err(PipelineError::Refused)?;
        sha.update(&chunk);
        out.write_all(&chunk).map_err(io)?;
    }
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.as_file().sync_all().map_err(io)?;
    let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| observer.finish()))
        .unwrap_or_else(|_| FormatVerdict {
            format: "unknown".into(),
            virtual_size: None,
            safety: Err("the format inspector failed on this data".into()),
        });
    Ok(MainOutput {
        file,
        sha512: hex::encode(sha.finalize()),
        verdict,
    })
}

fn md5_worker(mut rx: mpsc::Receiver<Bytes>) -> String {
    let mut md5 = Md5::new();
    while let Some(chunk) = rx.blocking_recv() {
        md5.update(&chunk);
    }
    hex::encode(md5.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls everything raw and safe; refuses a marker when asked to.
    struct Plain {
        refuse: Option<&'static [u8]>,
        seen: u64,
    }

    impl FormatObserver for Plain {
        fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
            self.seen += chunk.len() as u64;
            match self.refuse {
                Some(marker) if chunk.windows(marker.len()).any(|w| w == marker) => {
                    Err("marker seen".into())
                }
                _ => Ok(()),
            }
        }
        fn finish(self: Box<Self>) -> FormatVerdict {
            FormatVerdict {
                format: "raw".into(),
                virtual_size: Some(self.seen),
                safety: Ok(()),
            }
        }
    }

    fn plain() -> Box<dyn FormatObserver> {
        Box::new(Plain {
            refuse: None,
            seen: 0,
        })
    }

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[tokio::test]
    async fn hashes_and_writes_in_one_pass() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut p = Pipeline::start(dir.path(), plain(), u64::MAX).unwrap();
        for chunk in data.chunks(65_521) {
            p.push(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        let staged = p.finish().await.unwrap();
        assert_eq!(staged.size, data.len() as u64);
        assert_eq!(staged.md5, hex::encode(Md5::digest(&data)));
        assert_eq!(staged.sha512, hex::encode(Sha512::digest(&data)));
        assert_eq!(staged.verdict.virtual_size, Some(data.len() as u64));
        assert_eq!(std::fs::read(staged.file.path()).unwrap(), data);
        drop(staged);
        assert_eq!(files_in(dir.path()), 0);
    }

    #[tokio::test]
    async fn over_the_limit_stops_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Pipeline::start(dir.path(), plain(), 100).unwrap();
        p.push(Bytes::from(vec![1u8; 60])).await.unwrap();
        let err = p.push(Bytes::from(vec![1u8; 60])).await.unwrap_err();
        assert!(
            matches!(err, PipelineError::TooLarge { limit: 100 }),
            "{err}"
        );
        drop(p);
        // The workers drop the file once they see the channel closed.
        for _ in 0..100 {
            if files_in(dir.path()) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(files_in(dir.path()), 0);
    }

    #[tokio::test]
    async fn an_early_refusal_ends_the_upload() {
        let dir = tempfile::tempdir().unwrap();
        let observer = Box::new(Plain {
            refuse: Some(b"EVIL"),
            seen: 0,
        });
        let mut p = Pipeline::start(dir.path(), observer, u64::MAX).unwrap();
        p.push(Bytes::from_static(b"fine")).await.unwrap();
        let mut result = Ok(());
        // The refusal surfaces on a later push once the worker has seen it.
        for _ in 0..CHANNEL_CHUNKS + 4 {
            result = p.push(Bytes::from_static(b"EVIL")).await;
            if result.is_err() {
                break;
            }
        }
        match result {
            Err(PipelineError::Refused(reason)) => assert_eq!(reason, "marker seen"),
            other => {
                let finished = p.finish().await;
                assert!(
                    matches!(finished, Err(PipelineError::Refused(_))),
                    "{other:?} {finished:?}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_panicking_inspector_counts_as_unsafe() {
        struct Boom;
        impl FormatObserver for Boom {
            fn feed(&mut self, _: &[u8]) -> Result<(), String> {
                Ok(())
            }
            fn finish(self: Box<Self>) -> FormatVerdict {
                panic!("inspector bug")
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let mut p = Pipeline::start(dir.path(), Box::new(Boom), u64::MAX).unwrap();
        p.push(Bytes::from_static(b"x")).await.unwrap();
        let staged = p.finish().await.unwrap();
        assert!(staged.verdict.safety.is_err());
    }
}
