//! Whole-image operations: create, resize, convert, check.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use imago::file::File as ImagoFile;
use imago::qcow2::Qcow2;
use imago::{FormatCreateBuilder, StorageOpenOptions};

use crate::disk::{imago_err, read_qcow2_header};
use crate::qcow2::check::CheckReport;
use crate::qcow2::writer::Writer;
use crate::{BackingPolicy, BlockDevice, Disk, Error, ErrorKind, Format, Result, open, policy};

/// Default qcow2 cluster size (64 KiB), as qemu-img.
pub const DEFAULT_CLUSTER_SIZE: u64 = 65536;

/// Creates a sparse raw image of `size` bytes (truncating any existing file).
pub fn create_raw(path: &Path, size: u64) -> Result<()> {
    let size = round_size(size)?;
    let f = File::create(path).map_err(|e| Error::io("create", e).with_path(path))?;
    f.set_len(size)
        .map_err(|e| Error::io("truncate", e).with_path(path))
}

/// Options for a new qcow2 image.
#[derive(Debug, Clone, Default)]
pub struct Qcow2Options {
    /// Backing file name to record (relative names are relative to the new
    /// image's directory) and its format.
    pub backing: Option<(String, Format)>,
    /// Cluster size; default: the backing qcow2's, else 64 KiB.
    pub cluster_size: Option<u64>,
}

/// Creates a qcow2 v3 image. `size` defaults to the backing file's virtual
/// size; an overlay inherits the cluster size of a qcow2 backing file as
/// nova's `create_cow_image` does.
pub fn create_qcow2(path: &Path, size: Option<u64>, options: &Qcow2Options) -> Result<()> {
    let mut cluster_size = options.cluster_size;
    let mut size = size;
    if let Some((name, fmt)) = &options.backing {
        let bpath = policy::backing_path(path, name);
        let bfile =
            File::open(&bpath).map_err(|e| Error::io("open backing file", e).with_path(&bpath))?;
        let (bsize, bcluster) = match fmt {
            Format::Raw => (
                bfile
                    .metadata()
                    .map_err(|e| Error::io("stat", e).with_path(&bpath))?
                    .len(),
                None,
            ),
            Format::Qcow2 => {
                let h = read_qcow2_header(&bfile, &bpath)?;
                (h.size, Some(h.cluster_size()))
            }
        };
        size = size.or(Some(bsize));
        cluster_size = cluster_size.or(bcluster);
    }
    let size =
        round_size(size.ok_or_else(|| {
            Error::new(ErrorKind::InvalidFormat, "create", "a size is required")
        })?)?;
    let cluster_size = cluster_size.unwrap_or(DEFAULT_CLUSTER_SIZE);
    if !cluster_size.is_power_of_two() || !(512..=2 << 20).contains(&cluster_size) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "create",
            "cluster size must be a power of two between 512 and 2097152",
        ));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| Error::io("create", e).with_path(path))?;
    let opts = StorageOpenOptions::new().filename(path).write(true);
    let storage =
        ImagoFile::from_open_file(file, opts).map_err(|e| imago_err("create", path, e))?;
    let mut builder = Qcow2::<ImagoFile>::create_builder(storage)
        .size(size)
        .cluster_size(cluster_size as usize);
    if let Some((name, fmt)) = &options.backing {
        builder = builder.backing(name.clone(), fmt.as_str().to_string());
    }
    builder.create().map_err(|e| imago_err("create", path, e))
}

/// A size change for `resize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeChange {
    /// Set the size.
    To(u64),
    /// Grow by this many bytes.
    Grow(u64),
    /// Shrink by this many bytes.
    Shrink(u64),
}

/// Resizes the image. Shrinking is refused unless `allow_shrink`.
/// Returns the new size.
pub fn resize(
    path: &Path,
    format: Format,
    policy: &BackingPolicy,
    change: SizeChange,
    allow_shrink: bool,
) -> Result<u64> {
    let current = match format {
        Format::Raw => std::fs::metadata(path)
            .map_err(|e| Error::io("stat", e).with_path(path))?
            .len(),
        Format::Qcow2 => {
            let f = File::open(path).map_err(|e| Error::io("open", e).with_path(path))?;
            read_qcow2_header(&f, path)?.size
        }
    };
    let overflow = || Error::new(ErrorKind::OutOfBounds, "resize", "size out of range");
    let new = match change {
        SizeChange::To(n) => n,
        SizeChange::Grow(d) => current.checked_add(d).ok_or_else(overflow)?,
        SizeChange::Shrink(d) => current.checked_sub(d).ok_or_else(overflow)?,
    };
    if new < current && !allow_shrink {
        return Err(Error::new(
            ErrorKind::NotAllowed,
            "resize",
            "Use the --shrink option to perform a shrink operation.",
        )
        .with_path(path));
    }
    match format {
        Format::Raw => {
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| Error::io("open", e).with_path(path))?;
            f.set_len(new)
                .map_err(|e| Error::io("resize", e).with_path(path))?;
        }
        Format::Qcow2 => {
            let mut disk = open(path, format, policy, true)?;
            if new > current {
                disk.grow(new)?;
            } else if new < current {
                disk.shrink(new)?;
            }
            disk.flush()?;
        }
    }
    Ok(new)
}

/// Options for `convert`.
#[derive(Debug, Clone, Default)]
pub struct ConvertOptions {
    /// Compress qcow2 output clusters (zlib).
    pub compress: bool,
    /// Output cluster size (qcow2); default 64 KiB.
    pub cluster_size: Option<u64>,
    /// Do not fsync the output at the end (what `qemu-img convert` does by
    /// default: its target cache mode is `unsafe`).
    pub skip_sync: bool,
}

/// Copies the guest-visible contents of `src` (its whole backing chain
/// flattened) into a new standalone image at `dst`. Zero regions are not
/// written; `progress` sees (bytes done, total).
pub fn convert(
    src: &Path,
    src_format: Format,
    policy: &BackingPolicy,
    dst: &Path,
    dst_format: Format,
    options: &ConvertOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<()> {
    let disk = open(src, src_format, policy, false)?;
    let size = round_size(disk.size())?;
    let cs = options.cluster_size.unwrap_or(DEFAULT_CLUSTER_SIZE);
    if !cs.is_power_of_two() || !(512..=2 << 20).contains(&cs) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "convert",
            "invalid cluster size",
        ));
    }
    if options.compress && dst_format == Format::Raw {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "convert",
            "raw output cannot be compressed",
        ));
    }
    // Work in 2 MiB steps (whole clusters) so a step's zero test matches
    // the output's allocation unit.
    let step = cs.max(2 << 20);
    let mut out = match dst_format {
        Format::Raw => {
            let f = File::create(dst).map_err(|e| Error::io("create", e).with_path(dst))?;
            f.set_len(size)
                .map_err(|e| Error::io("truncate", e).with_path(dst))?;
            Out::Raw(f)
        }
        Format::Qcow2 => Out::Qcow2(Box::new(Writer::create(
            dst,
            size,
            cs.trailing_zeros(),
            options.compress,
        )?)),
    };
    let mut chunks = Chunks {
        disk: &disk,
        off: 0,
        size,
        step,
        cs,
        known: (false, 0),
    };
    // A reader thread fetches the next chunks while this one writes, so
    // source reads and destination writes overlap (buffers are recycled).
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Result<(u64, PageBuf)>>(3);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<PageBuf>();
    for _ in 0..4 {
        let _ = empty_tx.send(PageBuf::new(step as usize));
    }
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(move || {
            while let Ok(buf) = empty_rx.recv() {
                let Some(item) = chunks.next(buf) else {
                    return;
                };
                let failed = item.is_err();
                if full_tx.send(item).is_err() || failed {
                    return;
                }
            }
        });
        for item in full_rx {
            let (off, chunk) = item?;
            write_chunk(&mut out, chunk.as_slice(), off, cs, dst)?;
            progress(off + chunk.as_slice().len() as u64, size);
            let _ = empty_tx.send(chunk);
        }
        Ok(())
    })?;
    progress(size, size);
    match out {
        Out::Raw(_) if options.skip_sync => Ok(()),
        Out::Raw(f) => f
            .sync_all()
            .map_err(|e| Error::io("sync", e).with_path(dst)),
        Out::Qcow2(w) => w.finish(!options.skip_sync),
    }
}

/// The source's non-zero chunks, in order: zero runs are skipped using
/// the disk's allocation info, data is read in steps of whole clusters.
struct Chunks<'a> {
    disk: &'a Disk,
    off: u64,
    /// The disk size rounded up to whole sectors (the tail reads as zeros).
    size: u64,
    step: u64,
    cs: u64,
    /// The last extent answer: (zero, end). One query answers for the whole
    /// zero or data run it finds (raw: one SEEK_DATA/SEEK_HOLE pair).
    known: (bool, u64),
}

impl Chunks<'_> {
    /// Fills `buf` with the next chunk to write: (guest offset, bytes).
    fn next(&mut self, mut buf: PageBuf) -> Option<Result<(u64, PageBuf)>> {
        while self.off < self.size {
            let off = self.off;
            if off >= self.known.1 {
                match self.disk.extent(off, self.size - off) {
                    Ok((zero, n)) => self.known = (zero, off + n),
                    Err(e) => return Some(Err(e)),
                }
            }
            let (zero, run_end) = self.known;
            let n = run_end - off;
            let mut len = self.step.min(self.size - off);
            if zero {
                // Skip whole zero clusters only; a partial one is read.
                let skip = if n >= len { len } else { n / self.cs * self.cs };
                if skip > 0 {
                    self.off += skip;
                    continue;
                }
            } else {
                // Stop at the end of the data run (whole clusters), so the
                // hole after it is skipped, not read.
                len = len.min(n.next_multiple_of(self.cs));
            }
            buf.set_len(len as usize);
            let avail = self.disk.size().saturating_sub(off).min(len) as usize;
            let b = buf.as_mut_slice();
            let r = self.disk.read_at(&mut b[..avail], off);
            b[avail..].fill(0);
            self.off += len;
            return Some(r.map(|()| (off, buf)));
        }
        None
    }
}

/// A page-aligned buffer of fixed capacity. The kernel copies between the
/// page cache and user memory several times slower when the user side is
/// not page aligned (a plain `Vec` of 2 MiB starts 16 bytes into a page).
struct PageBuf {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl PageBuf {
    const ALIGN: usize = 4096;

    fn new(capacity: usize) -> Self {
        let raw = vec![0u8; capacity + Self::ALIGN];
        let start = raw.as_ptr().align_offset(Self::ALIGN).min(Self::ALIGN);
        PageBuf {
            raw,
            start,
            len: capacity,
        }
    }

    /// Uses the first `len` bytes (at most the capacity).
    fn set_len(&mut self, len: usize) {
        self.len = len.min(self.raw.len() - Self::ALIGN);
    }

    fn as_slice(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

/// Where `convert` writes.
enum Out {
    Raw(File),
    Qcow2(Box<Writer>),
}

fn write_chunk(out: &mut Out, chunk: &[u8], off: u64, cs: u64, dst: &Path) -> Result<()> {
    match out {
        Out::Raw(f) => {
            // Sparse output: write only the runs of non-zero 4 KiB blocks.
            let mut i = 0usize;
            while i < chunk.len() {
                let end = (i + 4096).min(chunk.len());
                if is_zero(&chunk[i..end]) {
                    i = end;
                    continue;
                }
                let mut j = end;
                while j < chunk.len() && !is_zero(&chunk[j..(j + 4096).min(chunk.len())]) {
                    j = (j + 4096).min(chunk.len());
                }
                f.write_all_at(&chunk[i..j], off + i as u64)
                    .map_err(|e| Error::io("write", e).with_path(dst))?;
                i = j;
            }
        }
        Out::Qcow2(w) => {
            // Runs of non-zero clusters go to the writer in one call each.
            let cs = cs as usize;
            let mut i = 0usize;
            while i < chunk.len() {
                let end = (i + cs).min(chunk.len());
                if is_zero(&chunk[i..end]) {
                    i = end;
                    continue;
                }
                let mut j = end;
                while j < chunk.len() && !is_zero(&chunk[j..(j + cs).min(chunk.len())]) {
                    j = (j + cs).min(chunk.len());
                }
                w.write_clusters((off + i as u64) / cs as u64, &chunk[i..j])?;
                i = j;
            }
        }
    }
    Ok(())
}

/// QEMU sizes images in whole 512-byte sectors.
fn round_size(size: u64) -> Result<u64> {
    size.checked_next_multiple_of(512)
        .ok_or_else(|| Error::new(ErrorKind::OutOfBounds, "create", "size out of range"))
}

fn is_zero(b: &[u8]) -> bool {
    let n = b.len() / 16 * 16;
    let (head, tail) = (&b[..n], &b[n..]);
    head.chunks_exact(16)
        .all(|c| u128::from_ne_bytes(c.try_into().unwrap_or([1; 16])) == 0)
        && tail.iter().all(|&x| x == 0)
}

/// Checks the image like `qemu-img check`. Raw images have nothing to
/// check (`Unsupported`).
pub fn check(path: &Path, format: Format) -> Result<CheckReport> {
    match format {
        Format::Raw => Err(Error::new(
            ErrorKind::Unsupported,
            "check",
            "This image format does not support checks",
        )),
        Format::Qcow2 => crate::qcow2::check::check(path),
    }
}
