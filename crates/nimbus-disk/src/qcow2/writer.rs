//! A one-pass qcow2 v3 writer for `convert`: guest clusters arrive in
//! ascending order; data (optionally zlib-compressed) is appended, each L2
//! table is written once its range is done, and the refcount structures,
//! L1 table and header are written last. imago cannot write compressed
//! clusters, and a one-pass layout is also the fastest.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, FlushCompress, Status};

use super::header::MAGIC;
use crate::{Error, ErrorKind, Result};

const COPIED: u64 = 1 << 63;
const COMPRESSED: u64 = 1 << 62;

/// Writes a fresh, standalone qcow2 image front to back.
#[derive(Debug)]
pub struct Writer {
    file: File,
    path: PathBuf,
    cluster_bits: u32,
    size: u64,
    compress: bool,
    l1: Vec<u64>,
    l1_clusters: u64,
    l2: Option<(usize, Vec<u64>)>,
    next_free: u64,
    /// Where the next compressed payload may start (0 = start a new cluster).
    comp_pos: u64,
    refcounts: Vec<u16>,
    next_guest: u64,
}

impl Writer {
    /// Creates (truncates) `path` for a disk of `size` bytes.
    pub fn create(path: &Path, size: u64, cluster_bits: u32, compress: bool) -> Result<Self> {
        if !(9..=21).contains(&cluster_bits) {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "create",
                "cluster size must be 512 B to 2 MiB",
            ));
        }
        let cs = 1u64 << cluster_bits;
        let coverage = (cs / 8) << cluster_bits;
        let l1_size = size.div_ceil(coverage);
        if l1_size * 8 > super::header::MAX_L1_BYTES {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "create",
                "disk too large for this cluster size",
            ));
        }
        let l1_clusters = (l1_size * 8).div_ceil(cs);
        let file = File::create(path).map_err(|e| Error::io("create", e).with_path(path))?;
        let next_free = (1 + l1_clusters) * cs;
        let mut refcounts = vec![0u16; next_free as usize >> cluster_bits];
        refcounts.iter_mut().for_each(|r| *r = 1);
        Ok(Writer {
            file,
            path: path.to_path_buf(),
            cluster_bits,
            size,
            compress,
            l1: vec![0; l1_size as usize],
            l1_clusters,
            l2: None,
            next_free,
            comp_pos: 0,
            refcounts,
            next_guest: 0,
        })
    }

    /// The cluster size in bytes.
    pub fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    fn io(&self, operation: &'static str, e: std::io::Error) -> Error {
        Error::io(operation, e).with_path(&self.path)
    }

    fn alloc(&mut self, clusters: u64) -> u64 {
        let off = self.next_free;
        self.next_free += clusters << self.cluster_bits;
        self.refcounts
            .resize((self.next_free >> self.cluster_bits) as usize, 0);
        off
    }

    fn bump(&mut self, host_off: u64, len: u64) {
        let first = host_off >> self.cluster_bits;
        let last = (host_off + len - 1) >> self.cluster_bits;
        for c in first..=last {
            let r = &mut self.refcounts[c as usize];
            *r = r.saturating_add(1);
        }
    }

    fn flush_l2(&mut self) -> Result<()> {
        if let Some((idx, table)) = self.l2.take() {
            let off = self.alloc(1);
            self.bump(off, 1);
            let bytes: Vec<u8> = table.iter().flat_map(|e| e.to_be_bytes()).collect();
            self.file
                .write_all_at(&bytes, off)
                .map_err(|e| self.io("write L2 table", e))?;
            self.l1[idx] = off | COPIED;
        }
        Ok(())
    }

    /// Stores guest cluster `index` (ascending order; `data` is one cluster,
    /// or less for the disk's last partial cluster).
    pub fn write_cluster(&mut self, index: u64, data: &[u8]) -> Result<()> {
        self.write_clusters(index, data)
    }

    /// Stores the guest clusters from `first` on (ascending order; `data`
    /// is whole clusters, the last may be partial at the disk's end).
    /// Uncompressed clusters are written straight from `data`, one call
    /// per contiguous host range.
    pub fn write_clusters(&mut self, first: u64, data: &[u8]) -> Result<()> {
        let cs = self.cluster_size();
        let count = (data.len() as u64).div_ceil(cs);
        let end_guest = first
            .checked_add(count)
            .and_then(|e| e.checked_mul(cs))
            .ok_or_else(out_of_order)?;
        if first < self.next_guest || data.is_empty() || end_guest - cs >= self.size {
            return Err(out_of_order());
        }
        // Host runs of `data` not yet written: (start in data, host offset, len).
        let mut run: Option<(usize, u64, usize)> = None;
        for k in 0..count {
            let index = first + k;
            let at = (k * cs) as usize;
            let cluster = &data[at..data.len().min(at + cs as usize)];
            self.next_guest = index + 1;
            let l2_entries = cs / 8;
            let l1_idx = (index / l2_entries) as usize;
            if self.l2.as_ref().is_some_and(|(i, _)| *i != l1_idx) {
                // The L2 table takes the next host cluster: the run breaks.
                self.write_run(data, run.take())?;
                self.flush_l2()?;
            }
            let entry = match self
                .compress
                .then(|| deflate(cluster, cs as usize))
                .transpose()
                .map_err(|e| self.io("compress", e))?
            {
                Some(c) if (c.len() as u64) < cs - 512 => {
                    self.write_run(data, run.take())?;
                    self.put_compressed(&c)?
                }
                _ => {
                    let off = self.alloc(1);
                    self.bump(off, 1);
                    run = match run {
                        Some((start, host, len)) if host + len as u64 == off => {
                            Some((start, host, len + cluster.len()))
                        }
                        other => {
                            self.write_run(data, other)?;
                            Some((at, off, cluster.len()))
                        }
                    };
                    off | COPIED
                }
            };
            let table = &mut self
                .l2
                .get_or_insert_with(|| (l1_idx, vec![0; l2_entries as usize]))
                .1;
            table[(index % l2_entries) as usize] = entry;
        }
        self.write_run(data, run)
    }

    /// Writes a contiguous host run of `data`.
    fn write_run(&mut self, data: &[u8], run: Option<(usize, u64, usize)>) -> Result<()> {
        let Some((start, host, len)) = run else {
            return Ok(());
        };
        self.file
            .write_all_at(&data[start..start + len], host)
            .map_err(|e| self.io("write", e))
    }

    fn put_compressed(&mut self, c: &[u8]) -> Result<u64> {
        let cs = self.cluster_size();
        let len = c.len() as u64;
        // Pack payloads into the current compressed cluster while they fit;
        // a payload never straddles into a cluster we did not reserve.
        let fits = self.comp_pos != 0
            && (self.comp_pos % cs) + len <= cs
            && self.comp_pos + len <= self.next_free;
        let off = if fits { self.comp_pos } else { self.alloc(1) };
        self.file
            .write_all_at(c, off)
            .map_err(|e| self.io("write", e))?;
        self.bump(off, len);
        self.comp_pos = off + len;
        if self.comp_pos.is_multiple_of(cs) {
            self.comp_pos = 0;
        }
        let shift = 62 - (self.cluster_bits - 8);
        let sectors = ((off + len - 1) >> 9) - (off >> 9);
        Ok(COMPRESSED | (sectors << shift) | off)
    }

    /// Writes the L2 still open, refcounts, L1 table and header.
    /// With `sync`, the image is durable on return.
    pub fn finish(mut self, sync: bool) -> Result<()> {
        self.flush_l2()?;
        let cs = self.cluster_size();
        let per_block = cs / 2;
        let data_clusters = self.next_free >> self.cluster_bits;
        let (mut blocks, mut table_clusters) = (0u64, 0u64);
        loop {
            let total = data_clusters + blocks + table_clusters;
            let b = total.div_ceil(per_block);
            let t = (b * 8).div_ceil(cs).max(1);
            if (b, t) == (blocks, table_clusters) {
                break;
            }
            (blocks, table_clusters) = (b, t);
        }
        let table_off = self.alloc(table_clusters);
        self.bump(table_off, table_clusters * cs);
        let blocks_off = self.alloc(blocks);
        self.bump(blocks_off, blocks * cs);

        let mut table = vec![0u8; (table_clusters * cs) as usize];
        for b in 0..blocks {
            let entry = blocks_off + b * cs;
            table[(b * 8) as usize..(b * 8 + 8) as usize].copy_from_slice(&entry.to_be_bytes());
            let first = (b * per_block) as usize;
            let last = ((b + 1) * per_block).min(self.refcounts.len() as u64) as usize;
            let mut block = vec![0u8; cs as usize];
            for (i, r) in self.refcounts[first..last].iter().enumerate() {
                block[i * 2..i * 2 + 2].copy_from_slice(&r.to_be_bytes());
            }
            self.file
                .write_all_at(&block, entry)
                .map_err(|e| self.io("write refcount block", e))?;
        }
        self.file
            .write_all_at(&table, table_off)
            .map_err(|e| self.io("write refcount table", e))?;
        let l1: Vec<u8> = self.l1.iter().flat_map(|e| e.to_be_bytes()).collect();
        self.file
            .write_all_at(&l1, cs)
            .map_err(|e| self.io("write L1 table", e))?;

        let mut h = vec![0u8; cs as usize];
        h[..4].copy_from_slice(&MAGIC);
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[20..24].copy_from_slice(&self.cluster_bits.to_be_bytes());
        h[24..32].copy_from_slice(&self.size.to_be_bytes());
        h[36..40].copy_from_slice(&(self.l1.len() as u32).to_be_bytes());
        h[40..48].copy_from_slice(&cs.to_be_bytes());
        h[48..56].copy_from_slice(&table_off.to_be_bytes());
        h[56..60].copy_from_slice(&(table_clusters as u32).to_be_bytes());
        h[96..100].copy_from_slice(&4u32.to_be_bytes());
        h[100..104].copy_from_slice(&112u32.to_be_bytes());
        // 104: compression type zlib, then padding; the extension area
        // starts at 112 with the end marker (all zeros).
        let _ = self.l1_clusters;
        self.file
            .write_all_at(&h, 0)
            .map_err(|e| self.io("write header", e))?;
        let end = self.next_free;
        self.file.set_len(end).map_err(|e| self.io("truncate", e))?;
        if sync {
            self.file.sync_all().map_err(|e| self.io("sync", e))?;
        }
        Ok(())
    }
}

fn out_of_order() -> Error {
    Error::new(
        ErrorKind::OutOfBounds,
        "write",
        "cluster out of order or range",
    )
}

fn deflate(data: &[u8], cluster_size: usize) -> std::io::Result<Vec<u8>> {
    // QEMU stores raw deflate streams (no zlib header) with a 4 KiB window,
    // and a payload must inflate to exactly one whole cluster.
    let mut c = Compress::new_with_window_bits(Compression::default(), false, 12);
    let mut padded;
    let input = if data.len() < cluster_size {
        padded = data.to_vec();
        padded.resize(cluster_size, 0);
        &padded[..]
    } else {
        data
    };
    let mut out = Vec::with_capacity(cluster_size + 1024);
    loop {
        let consumed = c.total_in() as usize;
        let status = c
            .compress_vec(&input[consumed..], &mut out, FlushCompress::Finish)
            .map_err(std::io::Error::other)?;
        if status == Status::StreamEnd {
            return Ok(out);
        }
        out.reserve(out.capacity().max(4096));
    }
}
