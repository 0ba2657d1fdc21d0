//! An open disk of any supported format, with its backing chain opened
//! under an explicit policy.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Read;
use std::path::{Path, PathBuf};

use imago::file::File as ImagoFile;
use imago::qcow2::Qcow2;
use imago::raw::Raw;
use imago::{DenyImplicitOpenGate, FormatAccess, FormatDriverBuilder, Mapping, StorageOpenOptions};

use crate::qcow2::header::{self, Header, INCOMPAT_DATA_FILE};
use crate::qcow2::reader::{self, Backing, Reader};
use crate::{BackingPolicy, BlockDevice, Error, ErrorKind, Format, RawFile, Result};

/// Deeper chains than this are refused (a loop guard; QEMU has none, but
/// no cloud image chain comes close).
pub const MAX_CHAIN_DEPTH: usize = 64;

type Image = FormatAccess<ImagoFile>;

/// An open disk image: raw, or qcow2 with its whole backing chain.
#[derive(Debug)]
pub struct Disk {
    inner: Inner,
    path: PathBuf,
    format: Format,
    writable: bool,
}

#[derive(Debug)]
enum Inner {
    Raw(RawFile),
    Qcow2(Box<Image>),
    /// What imago refuses (zstd, extended L2, dirty), read-only.
    Reader(Box<Reader>),
}

/// Opens `path` as `format`. Backing files are opened read-only, only
/// where `policy` allows, and only with the format the overlay records.
pub fn open(path: &Path, format: Format, policy: &BackingPolicy, writable: bool) -> Result<Disk> {
    let inner = match format {
        Format::Raw => Inner::Raw(RawFile::open(path, writable)?),
        Format::Qcow2 => {
            let mut visited = HashSet::new();
            open_qcow2(path, policy, writable, 0, &mut visited)?
        }
    };
    Ok(Disk {
        inner,
        path: path.to_path_buf(),
        format,
        writable,
    })
}

/// Maps imago's I/O errors onto our kinds.
pub(crate) fn imago_err(operation: &'static str, path: &Path, e: std::io::Error) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::PermissionDenied => ErrorKind::NotAllowed,
        std::io::ErrorKind::InvalidData => ErrorKind::Corrupt,
        std::io::ErrorKind::Unsupported => ErrorKind::Unsupported,
        std::io::ErrorKind::UnexpectedEof => ErrorKind::OutOfBounds,
        _ => ErrorKind::Io,
    };
    let mut err = Error::new(kind, operation, e.to_string()).with_path(path);
    err.source = Some(e);
    err
}

/// Reads and parses the header cluster of the qcow2 file at `path`.
pub(crate) fn read_qcow2_header(file: &std::fs::File, path: &Path) -> Result<Header> {
    let len = file
        .metadata()
        .map_err(|e| Error::io("stat", e).with_path(path))?
        .len();
    // The header, its extensions and the backing name all live in the first
    // cluster (at most 2 MiB).
    let want = len.min(2 << 20) as usize;
    let mut buf = vec![0u8; want];
    let mut r = file;
    r.read_exact(&mut buf)
        .map_err(|e| Error::io("read header", e).with_path(path))?;
    match header::parse(&buf, Some(len)) {
        Ok(h) => Ok(h),
        Err(header::ParseError::Invalid(e)) => Err(e.with_path(path)),
        Err(header::ParseError::NeedMore(_)) => Err(Error::new(
            ErrorKind::InvalidFormat,
            "parse qcow2 header",
            "the file is shorter than its header",
        )
        .with_path(path)),
    }
}

fn open_qcow2(
    path: &Path,
    policy: &BackingPolicy,
    writable: bool,
    depth: usize,
    visited: &mut HashSet<PathBuf>,
) -> Result<Inner> {
    if depth > MAX_CHAIN_DEPTH {
        return Err(
            Error::new(ErrorKind::Unsupported, "open", "backing chain too deep").with_path(path),
        );
    }
    if let Ok(c) = std::fs::canonicalize(path)
        && !visited.insert(c)
    {
        return Err(Error::new(ErrorKind::Corrupt, "open", "backing chain loops").with_path(path));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(writable)
        .open(path)
        .map_err(|e| Error::io("open", e).with_path(path))?;
    let h = read_qcow2_header(&file, path)?;
    if h.incompatible & INCOMPAT_DATA_FILE != 0 || h.data_file.is_some() {
        return Err(Error::new(
            ErrorKind::NotAllowed,
            "open",
            "qcow2 external data files are not supported",
        )
        .with_path(path));
    }

    let backing = match &h.backing_file {
        None => None,
        Some(name) => {
            let fmt = h.backing_format.as_deref().ok_or_else(|| {
                Error::new(
                    ErrorKind::NotAllowed,
                    "open backing file",
                    format!("backing file '{name}' has no recorded format; refusing to probe"),
                )
                .with_path(path)
            })?;
            let bpath = policy.resolve(path, name)?;
            let below = match fmt {
                "qcow2" => open_qcow2(&bpath, policy, false, depth + 1, visited)?,
                "raw" | "file" => Inner::Raw(RawFile::open(&bpath, false)?),
                other => {
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        "open backing file",
                        format!("backing format '{other}'"),
                    )
                    .with_path(path));
                }
            };
            Some((bpath, below))
        }
    };

    // What imago cannot open, our read-only reader can; writing is refused.
    let refused = reader::imago_refuses(&h);
    let below_is_reader = matches!(backing, Some((_, Inner::Reader(_))));
    if refused.is_some() || below_is_reader {
        if writable {
            return Err(write_refusal(refused, backing.as_ref()).with_path(path));
        }
        let below = backing.map(|(_, b)| Box::new(b) as Box<dyn Backing>);
        return Ok(Inner::Reader(Box::new(Reader::open(
            file, path, &h, below,
        )?)));
    }

    let backing = match backing {
        None => None,
        Some((_, Inner::Qcow2(img))) => Some(*img),
        Some((bpath, _)) => Some(open_raw_image(&bpath)?),
    };
    let opts = StorageOpenOptions::new().filename(path).write(writable);
    let storage = ImagoFile::from_open_file(file, opts).map_err(|e| imago_err("open", path, e))?;
    let q = Qcow2::<ImagoFile>::builder(storage)
        .write(writable)
        .backing(backing)
        .data_file(None)
        .open(DenyImplicitOpenGate::default())
        .map_err(|e| imago_err("open", path, e))?;
    Ok(Inner::Qcow2(Box::new(FormatAccess::new(q))))
}

/// Why an image only our reader can open is not opened for writing.
fn write_refusal(refused: Option<&'static str>, backing: Option<&(PathBuf, Inner)>) -> Error {
    let message = match refused {
        Some(r) if r.starts_with("the dirty bit") => format!(
            "the qcow2 image is dirty ({r}); it can be opened read-only, or repaired first \
             with `qemu-img check -r all`"
        ),
        Some(r) if r.starts_with("the corrupt bit") => {
            "the qcow2 image is marked corrupt; it can only be opened read-only".to_string()
        }
        Some(r) => {
            format!("qcow2 {r} can be read but not written; open the image read-only or convert it")
        }
        None => format!(
            "its backing file {} can only be read by Nimbus' read-only reader; \
             convert the backing file first",
            backing
                .map(|(p, _)| p.display().to_string())
                .unwrap_or_default()
        ),
    };
    Error::new(ErrorKind::Unsupported, "open for writing", message)
}

fn not_resizable() -> Error {
    Error::new(
        ErrorKind::Unsupported,
        "resize",
        "raw disks are resized by file length; read-only qcow2 not at all",
    )
}

fn open_raw_image(path: &Path) -> Result<Image> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("open", e).with_path(path))?;
    let opts = StorageOpenOptions::new().filename(path).write(false);
    let storage = ImagoFile::from_open_file(file, opts).map_err(|e| imago_err("open", path, e))?;
    let raw = Raw::builder(storage)
        .write(false)
        .open(DenyImplicitOpenGate::default())
        .map_err(|e| imago_err("open", path, e))?;
    Ok(FormatAccess::new(raw))
}

impl Backing for Inner {
    fn size(&self) -> u64 {
        match self {
            Inner::Raw(r) => r.size(),
            Inner::Qcow2(img) => img.size(),
            Inner::Reader(r) => r.size(),
        }
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        match self {
            Inner::Raw(r) => r.read_at(buf, offset),
            Inner::Qcow2(img) => img
                .read(buf, offset)
                .map_err(|e| imago_err("read", Path::new(""), e)),
            Inner::Reader(r) => r.read_at(buf, offset),
        }
    }

    fn extent(&self, offset: u64, len: u64) -> Result<(bool, u64)> {
        match self {
            Inner::Raw(r) => Ok(r.extent(offset, len)),
            Inner::Qcow2(img) => {
                let (m, n) = img
                    .get_mapping(offset, len)
                    .map_err(|e| imago_err("map", Path::new(""), e))?;
                let zero = matches!(m, Mapping::Zero { .. } | Mapping::Eof { .. });
                Ok((zero, n.clamp(1, len)))
            }
            Inner::Reader(r) => r.extent(offset, len),
        }
    }
}

impl Disk {
    /// The format this disk was opened as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether `len` bytes from `offset` certainly read as zeros, and how
    /// far that answer holds (at least 1 byte, at most `len`).
    pub(crate) fn extent(&self, offset: u64, len: u64) -> Result<(bool, u64)> {
        self.inner
            .extent(offset, len)
            .map_err(|e| e.with_path(&self.path))
    }

    /// Grows the disk to `new_size` (the new area reads as zeros).
    pub(crate) fn grow(&mut self, new_size: u64) -> Result<()> {
        match &mut self.inner {
            Inner::Raw(_) | Inner::Reader(_) => Err(not_resizable()),
            Inner::Qcow2(img) => img
                .resize_grow(new_size, imago::format::PreallocateMode::Zero)
                .map_err(|e| imago_err("resize", &self.path, e)),
        }
    }

    /// Shrinks the disk to `new_size`, discarding what lies beyond.
    pub(crate) fn shrink(&mut self, new_size: u64) -> Result<()> {
        match &mut self.inner {
            Inner::Raw(_) | Inner::Reader(_) => Err(not_resizable()),
            Inner::Qcow2(img) => img
                .resize_shrink(new_size)
                .map_err(|e| imago_err("resize", &self.path, e)),
        }
    }

    fn check(&self, operation: &'static str, offset: u64, len: usize) -> Result<()> {
        let size = self.size();
        match offset.checked_add(len as u64) {
            Some(end) if end <= size => Ok(()),
            _ => Err(Error::new(
                ErrorKind::OutOfBounds,
                operation,
                format!("{len} bytes at offset {offset} exceed the disk size {size}"),
            )
            .with_path(&self.path)),
        }
    }
}

impl BlockDevice for Disk {
    fn size(&self) -> u64 {
        Backing::size(&self.inner)
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        match &self.inner {
            Inner::Raw(r) => r.read_at(buf, offset),
            Inner::Qcow2(img) => {
                self.check("read", offset, buf.len())?;
                img.read(buf, offset)
                    .map_err(|e| imago_err("read", &self.path, e))
            }
            Inner::Reader(r) => {
                self.check("read", offset, buf.len())?;
                r.read_at(buf, offset)
            }
        }
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        match &self.inner {
            Inner::Raw(r) => r.write_at(buf, offset),
            Inner::Reader(_) => Err(Error::new(
                ErrorKind::NotAllowed,
                "write",
                "the disk was opened read-only",
            )
            .with_path(&self.path)),
            Inner::Qcow2(img) => {
                if !self.writable {
                    return Err(Error::new(
                        ErrorKind::NotAllowed,
                        "write",
                        "the disk was opened read-only",
                    )
                    .with_path(&self.path));
                }
                self.check("write", offset, buf.len())?;
                img.write(buf, offset)
                    .map_err(|e| imago_err("write", &self.path, e))
            }
        }
    }

    fn flush(&self) -> Result<()> {
        match &self.inner {
            Inner::Raw(r) => r.flush(),
            Inner::Reader(_) => Ok(()),
            Inner::Qcow2(img) => {
                img.flush().map_err(|e| imago_err("flush", &self.path, e))?;
                img.sync().map_err(|e| imago_err("flush", &self.path, e))
            }
        }
    }
}
