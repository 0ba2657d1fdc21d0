//! The upload pipeline: one streaming pass over the data that computes MD5
//! and SHA-512, feeds the format inspector and writes a temporary file,
//! with memory bounded by small channels of batches.
//!
//! The body's chunks are gathered (not copied) into batches of about 1 MiB
//! and each batch is shared by three workers on their own threads: SHA-512
//! plus the inspector, MD5, and the file writer. SHA-512 is the slowest
//! step, so the other two must stay off its thread; batching keeps the
//! cost per chunk (channel sends, thread wake-ups) out of the way of small
//! frames. The writer has the kernel write the file back while data still
//! arrives (an `fdatasync` every few MiB on a helper thread), so the final
//! fsync only waits for the tail. Nothing is kept if the pipeline is
//! dropped before [`Pipeline::finish`]: the temporary file is deleted.

use std::io::{IoSlice, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use md5::{Digest as _, Md5};
use sha2::Sha512;
use tempfile::NamedTempFile;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A batch is sent to the workers once it holds this many bytes.
const BATCH_BYTES: usize = 1 << 20;
/// Batches in flight per worker: with [`BATCH_BYTES`] this bounds the memory
/// an upload holds to a few MiB whatever the client's frame sizes.
const CHANNEL_BATCHES: usize = 4;
/// The writer asks for write-back after this many new bytes.
const WRITEBACK_BYTES: u64 = 32 << 20;

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

/// One batch of body chunks, shared by the workers.
type Batch = Arc<Vec<Bytes>>;

struct HashOutput {
    sha512: String,
    verdict: FormatVerdict,
}

struct Workers {
    hash: JoinHandle<Result<HashOutput, PipelineError>>,
    md5: JoinHandle<String>,
    writer: JoinHandle<Result<NamedTempFile, PipelineError>>,
}

/// A running upload: push chunks, then finish.
pub struct Pipeline {
    senders: Option<[mpsc::Sender<Batch>; 3]>,
    /// Taken when the workers are awaited (once).
    workers: Option<Workers>,
    /// Tells the writer the data will not be kept: no fsync, delete at once.
    abandoned: Arc<AtomicBool>,
    pending: Vec<Bytes>,
    pending_bytes: usize,
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

impl Drop for Pipeline {
    fn drop(&mut self) {
        // Dropped before `finish` (refused, too large, client gone): the
        // workers end on their own once the channels close; the writer
        // then deletes the file without syncing it first.
        self.abandoned.store(true, Ordering::Relaxed);
    }
}

fn worker_failed(e: tokio::task::JoinError) -> PipelineError {
    PipelineError::Worker(e.to_string())
}

fn already_finished() -> PipelineError {
    PipelineError::Worker("pipeline already finished".into())
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
        let (hash_tx, hash_rx) = mpsc::channel(CHANNEL_BATCHES);
        let (md5_tx, md5_rx) = mpsc::channel(CHANNEL_BATCHES);
        let (write_tx, write_rx) = mpsc::channel(CHANNEL_BATCHES);
        let abandoned = Arc::new(AtomicBool::new(false));
        let dir = dir.to_path_buf();
        let writer_abandoned = Arc::clone(&abandoned);
        let workers = Workers {
            hash: tokio::task::spawn_blocking(move || hash_worker(hash_rx, observer)),
            md5: tokio::task::spawn_blocking(move || md5_worker(md5_rx)),
            writer: tokio::task::spawn_blocking(move || {
                write_worker(write_rx, file, dir, &writer_abandoned)
            }),
        };
        Ok(Pipeline {
            senders: Some([hash_tx, md5_tx, write_tx]),
            workers: Some(workers),
            abandoned,
            pending: Vec::new(),
            pending_bytes: 0,
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
        self.pending_bytes += chunk.len();
        self.pending.push(chunk);
        if self.pending_bytes >= BATCH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Hands the pending chunks to every worker.
    async fn flush(&mut self) -> Result<(), PipelineError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch: Batch = Arc::new(std::mem::take(&mut self.pending));
        self.pending_bytes = 0;
        let Some(senders) = &self.senders else {
            return Err(already_finished());
        };
        for tx in senders {
            if tx.send(Arc::clone(&batch)).await.is_err() {
                // A worker stopped early: its result says why.
                return Err(self.stopped_early().await);
            }
        }
        Ok(())
    }

    /// Why a worker stopped before the end of the stream. The temporary file
    /// is gone when this returns.
    async fn stopped_early(&mut self) -> PipelineError {
        self.abandoned.store(true, Ordering::Relaxed);
        self.senders = None;
        let Some(workers) = self.workers.take() else {
            return already_finished();
        };
        let hashed = workers.hash.await;
        let written = workers.writer.await;
        match (hashed, written) {
            (Ok(Err(e)), _) => e,
            (Err(e), _) => worker_failed(e),
            (_, Ok(Err(e))) => e,
            (_, Err(e)) => worker_failed(e),
            _ => PipelineError::Worker("md5 worker stopped early".into()),
        }
    }

    /// Ends the stream: waits for the workers, fsyncs the file and returns it.
    /// On error the temporary file is gone when this returns.
    pub async fn finish(mut self) -> Result<Staged, PipelineError> {
        self.flush().await?;
        self.senders = None;
        let workers = self.workers.take().ok_or_else(already_finished)?;
        let hashed = match workers.hash.await.map_err(worker_failed) {
            Ok(Ok(hashed)) => hashed,
            Ok(Err(e)) | Err(e) => {
                self.abandoned.store(true, Ordering::Relaxed);
                let _ = workers.writer.await;
                return Err(e);
            }
        };
        let file = workers.writer.await.map_err(worker_failed)??;
        let md5 = workers.md5.await.map_err(worker_failed)?;
        Ok(Staged {
            file,
            size: self.size,
            md5,
            sha512: hashed.sha512,
            verdict: hashed.verdict,
        })
    }
}

/// SHA-512 and the inspector: the slowest step, alone on its thread.
fn hash_worker(
    mut rx: mpsc::Receiver<Batch>,
    mut observer: Box<dyn FormatObserver>,
) -> Result<HashOutput, PipelineError> {
    let mut sha = Sha512::new();
    while let Some(batch) = rx.blocking_recv() {
        for chunk in batch.iter() {
            // A panic inside the inspector is an internal error, and internal
            // errors count as unsafe.
            let fed =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| observer.feed(chunk)))
                    .unwrap_or_else(|_| Err("the format inspector failed on this data".into()));
            fed.map_err(PipelineError::Refused)?;
            sha.update(chunk);
        }
    }
    let verdict = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| observer.finish()))
        .unwrap_or_else(|_| FormatVerdict {
            format: "unknown".into(),
            virtual_size: None,
            safety: Err("the format inspector failed on this data".into()),
        });
    Ok(HashOutput {
        sha512: hex::encode(sha.finalize()),
        verdict,
    })
}

fn md5_worker(mut rx: mpsc::Receiver<Batch>) -> String {
    let mut md5 = Md5::new();
    while let Some(batch) = rx.blocking_recv() {
        for chunk in batch.iter() {
            md5.update(chunk);
        }
    }
    hex::encode(md5.finalize())
}

/// Writes the batches (one `writev` per batch, no copy) and fsyncs at the
/// end. Every [`WRITEBACK_BYTES`] a helper thread runs `fdatasync` on a
/// second handle of the file, so the disk writes while data still arrives
/// and the writer itself never waits for it.
fn write_worker(
    mut rx: mpsc::Receiver<Batch>,
    file: NamedTempFile,
    dir: PathBuf,
    abandoned: &AtomicBool,
) -> Result<NamedTempFile, PipelineError> {
    let io = |source| PipelineError::Io {
        path: dir.clone(),
        source,
    };
    let (kick, kicks) = std::sync::mpsc::sync_channel::<()>(1);
    // Without the helper (no second handle, no thread) only the final
    // fsync writes back: slower, not wrong.
    let syncer = file.as_file().try_clone().ok().and_then(|handle| {
        std::thread::Builder::new()
            .name("image-writeback".into())
            .spawn(move || {
                // Errors here are not lost: the final fsync reports them.
                while kicks.recv().is_ok() {
                    let _ = handle.sync_data();
                }
            })
            .ok()
    });
    let mut since_kick = 0u64;
    let mut out = file.as_file();
    let mut result = Ok(());
    while let Some(batch) = rx.blocking_recv() {
        if abandoned.load(Ordering::Relaxed) {
            break;
        }
        if let Err(e) = write_all_vectored(&mut out, &batch) {
            result = Err(io(e));
            break;
        }
        since_kick += batch.iter().map(|c| c.len() as u64).sum::<u64>();
        // A full slot means a sync is still running: it will cover this
        // data too when it gets there, or the final fsync will.
        if since_kick >= WRITEBACK_BYTES && kick.try_send(()).is_ok() {
            since_kick = 0;
        }
    }
    drop(kick);
    if let Some(syncer) = syncer {
        let _ = syncer.join();
    }
    result?;
    if abandoned.load(Ordering::Relaxed) {
        // Dropping the file deletes it; syncing it first would be wasted.
        return Err(PipelineError::Worker("upload abandoned".into()));
    }
    file.as_file().sync_all().map_err(io)?;
    Ok(file)
}

/// `write_all` for a list of buffers.
fn write_all_vectored(out: &mut impl Write, chunks: &[Bytes]) -> std::io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut slices = &mut slices[..];
    while !slices.is_empty() {
        match out.write_vectored(slices) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut slices, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
    async fn tiny_frames_are_gathered_and_written_whole() {
        // More chunks per batch than one writev takes (IOV_MAX is 1024).
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..2_500_000u32).map(|i| (i * 13 % 253) as u8).collect();
        let mut p = Pipeline::start(dir.path(), plain(), u64::MAX).unwrap();
        for chunk in data.chunks(17) {
            p.push(Bytes::copy_from_slice(chunk)).await.unwrap();
        }
        let staged = p.finish().await.unwrap();
        assert_eq!(staged.size, data.len() as u64);
        assert_eq!(staged.sha512, hex::encode(Sha512::digest(&data)));
        assert_eq!(staged.md5, hex::encode(Md5::digest(&data)));
        assert_eq!(std::fs::read(staged.file.path()).unwrap(), data);
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
        for _ in 0..CHANNEL_BATCHES + 4 {
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
