//! A read-only qcow2 reader for the images imago refuses to open: zstd
//! compressed clusters, extended L2 entries (subclusters), and the dirty or
//! corrupt bits (which QEMU, too, lets a read-only user past). It follows
//! `docs/interop/qcow2.txt` for lookups only; it never writes.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::header::{
    Header, INCOMPAT_COMPRESSION, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, INCOMPAT_DIRTY,
    INCOMPAT_EXTL2,
};
use crate::{Error, ErrorKind, Result};

const L1_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const L2_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const COMPRESSED: u64 = 1 << 62;
const ZERO_FLAG: u64 = 1;
/// Subclusters per cluster with extended L2 entries.
const SUBCLUSTERS: u64 = 32;
/// Bytes of L2 tables kept in memory.
const L2_CACHE_BYTES: u64 = 16 << 20;
/// A zstd frame may not ask for a larger window than this (QEMU's frames
/// use at most the 2 MiB cluster); bounds what a hostile frame allocates.
const ZSTD_MAX_WINDOW: u64 = 8 << 20;

/// Incompatible features this reader understands.
const KNOWN_INCOMPAT: u64 =
    INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

/// Why imago cannot open an image with this header, if it cannot: the
/// features only this reader handles, named for error messages.
pub(crate) fn imago_refuses(h: &Header) -> Option<&'static str> {
    if h.incompatible & INCOMPAT_DIRTY != 0 {
        Some("the dirty bit is set (lazy refcounts were not written back)")
    } else if h.incompatible & INCOMPAT_CORRUPT != 0 {
        Some("the corrupt bit is set")
    } else if h.incompatible & INCOMPAT_COMPRESSION != 0 && h.compression_type != 0 {
        Some("zstd-compressed clusters")
    } else if h.extended_l2() {
        Some("extended L2 entries (subclusters)")
    } else {
        None
    }
}

/// What one guest byte range maps to in this layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Map {
    /// Reads as zeros (a zero cluster or subcluster).
    Zero,
    /// Not allocated here: the backing file, or zeros without one.
    Unallocated,
    /// Stored at this host offset (for the mapping's first byte).
    Data(u64),
    /// The whole cluster is compressed at `host`, at most `len` bytes.
    Compressed { host: u64, len: u64 },
}

/// What lies underneath an image: something that reads and knows holes.
pub(crate) trait Backing: Send + Sync + std::fmt::Debug {
    /// The backing disk's size.
    fn size(&self) -> u64;
    /// Reads guest bytes.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;
    /// Whether `len` bytes from `offset` certainly read as zeros, and how
    /// far that holds.
    fn extent(&self, offset: u64, len: u64) -> Result<(bool, u64)>;
}

#[derive(Debug, Default)]
struct L2Cache {
    /// (table offset, entries), most recently used last.
    tables: Vec<(u64, Vec<u64>)>,
    /// Most tables kept.
    max: usize,
}

/// A qcow2 image opened read-only by our own lookup code.
#[derive(Debug)]
pub(crate) struct Reader {
    file: File,
    path: PathBuf,
    cluster_bits: u32,
    size: u64,
    extended: bool,
    zstd: bool,
    file_len: u64,
    l1: Vec<u64>,
    backing: Option<Box<dyn Backing>>,
    l2_cache: Mutex<L2Cache>,
    /// The last decompressed cluster, by host offset: small reads walk one
    /// compressed cluster many times.
    cluster_cache: Mutex<Option<(u64, Vec<u8>)>>,
}

impl Reader {
    /// Opens the qcow2 `file` whose parsed header is `h` (the caller has
    /// refused external data files).
    pub(crate) fn open(
        file: File,
        path: &Path,
        h: &Header,
        backing: Option<Box<dyn Backing>>,
    ) -> Result<Reader> {
        let unknown = h.incompatible & !KNOWN_INCOMPAT;
        if unknown != 0 {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "open",
                format!("unknown qcow2 incompatible feature bits {unknown:#x}"),
            )
            .with_path(path));
        }
        let file_len = file
            .metadata()
            .map_err(|e| Error::io("stat", e).with_path(path))?
            .len();
        let l1_bytes = u64::from(h.l1_size) * 8;
        if h.l1_table_offset
            .checked_add(l1_bytes)
            .is_none_or(|e| e > file_len)
        {
            return Err(corrupt(
                path,
                "the L1 table lies beyond the end of the file",
            ));
        }
        let mut raw = vec![0u8; l1_bytes as usize];
        file.read_exact_at(&mut raw, h.l1_table_offset)
            .map_err(|e| Error::io("read L1 table", e).with_path(path))?;
        let cs = h.cluster_size();
        let max_tables = (L2_CACHE_BYTES / cs).clamp(2, 64) as usize;
        Ok(Reader {
            file,
            path: path.to_path_buf(),
            cluster_bits: h.cluster_bits,
            size: h.size,
            extended: h.extended_l2(),
            zstd: h.incompatible & INCOMPAT_COMPRESSION != 0 && h.compression_type == 1,
            file_len,
            l1: be_u64s(&raw),
            backing,
            l2_cache: Mutex::new(L2Cache {
                tables: Vec::with_capacity(max_tables),
                max: max_tables,
            }),
            cluster_cache: Mutex::new(None),
        })
    }

    /// The virtual size.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    fn l2_entries(&self) -> u64 {
        self.cluster_size() / if self.extended { 16 } else { 8 }
    }

    /// The L2 table at `offset`, through the cache, handed to `f`.
    fn with_l2<T>(&self, offset: u64, f: impl FnOnce(&[u64]) -> T) -> Result<T> {
        let cs = self.cluster_size();
        let mut cache = self
            .l2_cache
            .lock()
            .map_err(|_| Error::new(ErrorKind::Io, "read", "L2 cache lock poisoned"))?;
        if let Some(i) = cache.tables.iter().position(|(o, _)| *o == offset) {
            let entry = cache.tables.remove(i);
            cache.tables.push(entry);
        } else {
            if !offset.is_multiple_of(cs)
                || offset.checked_add(cs).is_none_or(|e| e > self.file_len)
            {
                return Err(corrupt(
                    &self.path,
                    format!("L2 table offset {offset:#x} is unaligned or beyond the file"),
                ));
            }
            let mut raw = vec![0u8; cs as usize];
            self.file
                .read_exact_at(&mut raw, offset)
                .map_err(|e| Error::io("read L2 table", e).with_path(&self.path))?;
            if cache.tables.len() >= cache.max {
                cache.tables.remove(0);
            }
            cache.tables.push((offset, be_u64s(&raw)));
        }
        let (_, table) = cache
            .tables
            .last()
            .ok_or_else(|| Error::new(ErrorKind::Io, "read", "L2 cache unexpectedly empty"))?;
        Ok(f(table))
    }

    /// What `offset` maps to, and how many bytes from `offset` (at most
    /// `len`, at least 1) share that mapping.
    fn lookup(&self, offset: u64, len: u64) -> Result<(Map, u64)> {
        let cs = self.cluster_size();
        let coverage = self.l2_entries() << self.cluster_bits;
        let l1_index = offset / coverage;
        let l1_entry = usize::try_from(l1_index)
            .ok()
            .and_then(|i| self.l1.get(i))
            .copied()
            .unwrap_or(0);
        let l2_offset = l1_entry & L1_OFFSET_MASK;
        if l2_offset == 0 {
            let run = coverage - offset % coverage;
            return Ok((Map::Unallocated, run.min(len)));
        }
        let in_cluster = offset % cs;
        let first = (offset % coverage) >> self.cluster_bits;
        let n_entries = self.l2_entries();
        let (map, run) = self.with_l2(l2_offset, |t| {
            let entry_at = |i: u64| -> (u64, u64) {
                if self.extended {
                    (t[(2 * i) as usize], t[(2 * i + 1) as usize])
                } else {
                    (t[i as usize], 0)
                }
            };
            let (entry, bitmap) = entry_at(first);
            let map = self.decode(entry, bitmap, in_cluster)?;
            if self.extended && !matches!(map, Map::Compressed { .. }) {
                // One subcluster at a time keeps the lookup simple.
                let sc = cs / SUBCLUSTERS;
                return Ok((map, sc - in_cluster % sc));
            }
            // Extend a zero or unallocated run over following entries that
            // say the same, so convert can skip large holes in one step.
            let mut run = cs - in_cluster;
            if matches!(map, Map::Zero | Map::Unallocated) {
                let mut i = first + 1;
                while i < n_entries && run < len {
                    let (e, b) = entry_at(i);
                    if self.decode(e, b, 0)? != map {
                        break;
                    }
                    run += cs;
                    i += 1;
                }
            }
            Ok((map, run))
        })??;
        Ok((map, run.min(len).max(1)))
    }

    /// Decodes an L2 entry (and, with extended L2, its subcluster bitmap)
    /// at byte `in_cluster` of its cluster.
    fn decode(&self, entry: u64, bitmap: u64, in_cluster: u64) -> Result<Map> {
        let cs = self.cluster_size();
        if entry & COMPRESSED != 0 {
            // Bits 0..x are the host offset, the next (cluster_bits - 8)
            // bits the number of additional 512-byte sectors.
            let x = 62 - (self.cluster_bits - 8);
            let host = entry & ((1u64 << x) - 1);
            let sectors = ((entry >> x) & ((1u64 << (self.cluster_bits - 8)) - 1)) + 1;
            let len = sectors * 512 - (host & 511);
            return Ok(Map::Compressed { host, len });
        }
        let host = entry & L2_OFFSET_MASK;
        if !host.is_multiple_of(cs) {
            return Err(corrupt(
                &self.path,
                format!("data cluster offset {host:#x} is not cluster aligned"),
            ));
        }
        if !self.extended {
            return Ok(if entry & ZERO_FLAG != 0 {
                Map::Zero
            } else if host == 0 {
                Map::Unallocated
            } else {
                Map::Data(host + in_cluster)
            });
        }
        let sc = in_cluster / (cs / SUBCLUSTERS);
        let allocated = bitmap & (1 << sc) != 0;
        let zero = (bitmap >> 32) & (1 << sc) != 0;
        match (allocated, zero) {
            (true, true) => Err(corrupt(
                &self.path,
                "a subcluster is marked both allocated and zero",
            )),
            (_, true) => Ok(Map::Zero),
            (true, false) if host == 0 => Err(corrupt(
                &self.path,
                "an allocated subcluster has no host cluster",
            )),
            (true, false) => Ok(Map::Data(host + in_cluster)),
            (false, false) => Ok(Map::Unallocated),
        }
    }

    /// Fills `buf` with the guest bytes at `offset` (the caller checked the
    /// range lies inside the disk).
    pub(crate) fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let off = offset + done as u64;
            let want = (buf.len() - done) as u64;
            let (map, n) = self.lookup(off, want)?;
            let out = &mut buf[done..done + n as usize];
            match map {
                Map::Zero => out.fill(0),
                Map::Unallocated => self.read_backing(out, off)?,
                Map::Data(host) => self.read_host(out, host)?,
                Map::Compressed { host, len } => {
                    let start = (off % self.cluster_size()) as usize;
                    self.with_cluster(host, len, |c| {
                        out.copy_from_slice(&c[start..start + out.len()]);
                    })?;
                }
            }
            done += n as usize;
        }
        Ok(())
    }

    /// Whether `len` bytes from `offset` certainly read as zeros, and how
    /// far that answer holds (at least 1 byte, at most `len`).
    pub(crate) fn extent(&self, offset: u64, len: u64) -> Result<(bool, u64)> {
        let (map, n) = self.lookup(offset, len)?;
        match map {
            Map::Zero => Ok((true, n)),
            Map::Data(_) | Map::Compressed { .. } => Ok((false, n)),
            Map::Unallocated => match &self.backing {
                None => Ok((true, n)),
                Some(b) if offset >= b.size() => Ok((true, n)),
                Some(b) => {
                    let (zero, m) = b.extent(offset, n.min(b.size() - offset))?;
                    Ok((zero, m.clamp(1, n)))
                }
            },
        }
    }

    fn read_backing(&self, out: &mut [u8], offset: u64) -> Result<()> {
        let Some(b) = &self.backing else {
            out.fill(0);
            return Ok(());
        };
        // A backing file shorter than the overlay reads as zeros past its end.
        let inside = b.size().saturating_sub(offset).min(out.len() as u64) as usize;
        b.read_at(&mut out[..inside], offset)?;
        out[inside..].fill(0);
        Ok(())
    }

    /// Reads host bytes; past the end of the file reads zeros, as QEMU does.
    fn read_host(&self, out: &mut [u8], host: u64) -> Result<()> {
        let inside = self.file_len.saturating_sub(host).min(out.len() as u64) as usize;
        self.file
            .read_exact_at(&mut out[..inside], host)
            .map_err(|e| Error::io("read", e).with_path(&self.path))?;
        out[inside..].fill(0);
        Ok(())
    }

    /// Decompresses the cluster at `host` (through the one-cluster cache)
    /// and hands it to `f`.
    fn with_cluster(&self, host: u64, len: u64, f: impl FnOnce(&[u8])) -> Result<()> {
        let mut cache = self
            .cluster_cache
            .lock()
            .map_err(|_| Error::new(ErrorKind::Io, "read", "cluster cache lock poisoned"))?;
        if let Some((h, data)) = cache.as_ref()
            && *h == host
        {
            f(data);
            return Ok(());
        }
        if host >= self.file_len {
            return Err(corrupt(
                &self.path,
                format!("compressed cluster at {host:#x} lies beyond the end of the file"),
            ));
        }
        let len = len.min(self.file_len - host) as usize;
        let mut input = vec![0u8; len];
        self.read_host(&mut input, host)?;
        let mut data = cache
            .take()
            .map(|(_, d)| d)
            .unwrap_or_else(|| vec![0u8; self.cluster_size() as usize]);
        let decoded = if self.zstd {
            inflate_zstd(&input, &mut data)
        } else {
            inflate_zlib(&input, &mut data)
        };
        decoded
            .map_err(|m| corrupt(&self.path, format!("compressed cluster at {host:#x}: {m}")))?;
        f(&data);
        *cache = Some((host, data));
        Ok(())
    }
}

/// Raw deflate, as QEMU writes it; the output must fill the cluster.
fn inflate_zlib(input: &[u8], out: &mut [u8]) -> std::result::Result<(), String> {
    let mut d = flate2::Decompress::new(false);
    match d.decompress(input, out, flate2::FlushDecompress::Finish) {
        Ok(_) if d.total_out() == out.len() as u64 => Ok(()),
        Ok(_) => Err(format!(
            "inflates to {} bytes, not a whole cluster",
            d.total_out()
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// One or more zstd frames (QEMU accepts several) that together fill the
/// cluster; whatever follows (sector padding) is ignored, as QEMU does.
fn inflate_zstd(input: &[u8], out: &mut [u8]) -> std::result::Result<(), String> {
    let mut src = input;
    let mut done = 0usize;
    while done < out.len() {
        let mut frame =
            ruzstd::decoding::StreamingDecoder::new_with_max_window_size(&mut src, ZSTD_MAX_WINDOW)
                .map_err(|e| format!("zstd frame: {e}"))?;
        let before = done;
        loop {
            match frame.read(&mut out[done..]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) => return Err(format!("zstd: {e}")),
            }
            if done == out.len() {
                break;
            }
        }
        if done == before {
            return Err("an empty zstd frame".into());
        }
    }
    Ok(())
}

fn be_u64s(raw: &[u8]) -> Vec<u64> {
    raw.chunks_exact(8)
        .map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            u64::from_be_bytes(a)
        })
        .collect()
}

fn corrupt(path: &Path, message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Corrupt, "read", message).with_path(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zlib_output_must_fill_the_cluster() {
        let mut out = vec![0u8; 4096];
        // A raw deflate stored block of 3 bytes.
        let short = [0x01, 0x03, 0x00, 0xfc, 0xff, b'a', b'b', b'c'];
        assert!(inflate_zlib(&short, &mut out).is_err());
        assert!(inflate_zlib(&[0xff; 64], &mut out).is_err());
    }

    #[test]
    fn zstd_garbage_and_empty_input_are_errors() {
        let mut out = vec![0u8; 4096];
        assert!(inflate_zstd(&[], &mut out).is_err());
        assert!(inflate_zstd(&[0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff], &mut out).is_err());
        assert!(inflate_zstd(&[0u8; 100], &mut out).is_err());
    }
}
