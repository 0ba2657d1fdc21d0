//! `qemu-img check` for qcow2: recount every reference from the header,
//! L1/L2 tables, snapshots and refcount structures, and compare with the
//! stored refcounts. Read only.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::header::{Header, INCOMPAT_CORRUPT};
use super::snapshot;
use crate::{Error, ErrorKind, Result};

const L1_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const L2_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
const REFT_OFFSET_MASK: u64 = 0xffff_ffff_ffff_fe00;
const COPIED: u64 = 1 << 63;
const COMPRESSED: u64 = 1 << 62;

/// What `check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// One line per problem, as qemu-img prints them.
    pub messages: Vec<String>,
    /// Clusters whose refcount is too low, or references that are invalid.
    pub corruptions: u64,
    /// Clusters with a refcount but no reference.
    pub leaks: u64,
    /// Guest clusters in the disk.
    pub total_clusters: u64,
    /// Guest clusters allocated in the active L1.
    pub allocated_clusters: u64,
    /// Allocated clusters not contiguous with their predecessor.
    pub fragmented_clusters: u64,
    /// Compressed clusters.
    pub compressed_clusters: u64,
    /// End of the last referenced cluster.
    pub image_end_offset: u64,
}

impl CheckReport {
    /// The exit code qemu-img check uses: 0 clean, 2 corruptions, 3 leaks.
    pub fn exit_code(&self) -> u8 {
        if self.corruptions > 0 {
            2
        } else if self.leaks > 0 {
            3
        } else {
            0
        }
    }
}

struct Counter<'a> {
    refs: Vec<u32>,
    cluster_bits: u32,
    file_len: u64,
    report: &'a mut CheckReport,
}

impl Counter<'_> {
    fn mark(&mut self, off: u64, len: u64, what: &str) {
        if len == 0 {
            return;
        }
        let Some(end) = off.checked_add(len) else {
            self.report.corruptions += 1;
            self.report
                .messages
                .push(format!("ERROR {what} offset={off:#x} overflows"));
            return;
        };
        let first = off >> self.cluster_bits;
        let last = (end - 1) >> self.cluster_bits;
        if end > self.file_len.next_multiple_of(1 << self.cluster_bits) {
            self.report.corruptions += 1;
            self.report.messages.push(format!(
                "ERROR {what} at offset {off:#x} lies beyond the end of the image file"
            ));
            return;
        }
        for c in first..=last {
            if let Some(r) = self.refs.get_mut(c as usize) {
                *r = r.saturating_add(1);
            }
        }
    }
}

fn read_table(file: &File, path: &Path, off: u64, entries: u64) -> Result<Vec<u64>> {
    let mut buf = vec![0u8; (entries * 8) as usize];
    file.read_exact_at(&mut buf, off)
        .map_err(|e| Error::io("read table", e).with_path(path))?;
    Ok(buf
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])))
        .collect())
}

/// Checks the qcow2 image at `path`.
pub fn check(path: &Path) -> Result<CheckReport> {
    let file = File::open(path).map_err(|e| Error::io("open", e).with_path(path))?;
    let h = crate::disk::read_qcow2_header(&file, path)?;
    if h.has_bitmaps {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "check",
            "images with persistent bitmaps",
        )
        .with_path(path));
    }
    let file_len = file
        .metadata()
        .map_err(|e| Error::io("stat", e).with_path(path))?
        .len();
    let cs = h.cluster_size();
    let nb_clusters = file_len.div_ceil(cs);
    let stored = read_refcounts(&file, path, &h, nb_clusters)?;

    let mut report = CheckReport {
        total_clusters: h.size.div_ceil(cs),
        ..Default::default()
    };
    let mut c = Counter {
        refs: vec![0; nb_clusters as usize],
        cluster_bits: h.cluster_bits,
        file_len,
        report: &mut report,
    };
    c.mark(0, cs, "header");
    walk_l1(
        &file,
        path,
        &h,
        h.l1_table_offset,
        h.l1_size,
        &stored,
        true,
        &mut c,
    )?;
    let (snaps, table_len) = snapshot::read(&file, path, &h)?;
    c.mark(h.snapshots_offset, table_len, "snapshot table");
    // Each L1 table is walked once: a hostile table of snapshots all
    // pointing at one big L1 must not multiply the work.
    let mut walked = std::collections::HashSet::from([h.l1_table_offset]);
    for s in &snaps {
        if walked.insert(s.l1_table_offset) {
            walk_l1(
                &file,
                path,
                &h,
                s.l1_table_offset,
                s.l1_size,
                &stored,
                false,
                &mut c,
            )?;
        } else {
            c.mark(s.l1_table_offset, u64::from(s.l1_size) * 8, "L1 table");
        }
    }
    c.mark(
        h.refcount_table_offset,
        u64::from(h.refcount_table_clusters) * cs,
        "refcount table",
    );
    let table = read_table(
        &file,
        path,
        h.refcount_table_offset,
        u64::from(h.refcount_table_clusters) * cs / 8,
    )?;
    for e in &table {
        let off = e & REFT_OFFSET_MASK;
        if off != 0 {
            if !off.is_multiple_of(cs) {
                c.report.corruptions += 1;
                c.report.messages.push(format!(
                    "ERROR refcount block offset {off:#x} is not cluster aligned"
                ));
                continue;
            }
            c.mark(off, cs, "refcount block");
        }
    }

    let refs = std::mem::take(&mut c.refs);
    let mut highest = 0;
    for (i, (&found, &have)) in refs.iter().zip(stored.iter()).enumerate() {
        let found = u64::from(found);
        if found > 0 {
            highest = i as u64 + 1;
        }
        if found == have {
            continue;
        }
        if have < found {
            report.corruptions += 1;
            report.messages.push(format!(
                "ERROR cluster {i} refcount={have} reference={found}"
            ));
        } else {
            report.leaks += 1;
            report.messages.push(format!(
                "Leaked cluster {i} refcount={have} reference={found}"
            ));
        }
    }
    if h.incompatible & INCOMPAT_CORRUPT != 0 {
        report.corruptions += 1;
        report
            .messages
            .push("ERROR the image is marked corrupt".to_string());
    }
    report.image_end_offset = highest * cs;
    Ok(report)
}

fn read_refcounts(file: &File, path: &Path, h: &Header, nb_clusters: u64) -> Result<Vec<u64>> {
    let cs = h.cluster_size();
    let bits = u64::from(h.refcount_bits());
    let per_block = cs * 8 / bits;
    let table = read_table(
        file,
        path,
        h.refcount_table_offset,
        u64::from(h.refcount_table_clusters) * cs / 8,
    )?;
    let mut out = vec![0u64; nb_clusters as usize];
    let mut block = vec![0u8; cs as usize];
    for (bi, e) in table.iter().enumerate() {
        let off = e & REFT_OFFSET_MASK;
        let first = bi as u64 * per_block;
        if off == 0
            || first >= nb_clusters
            || !off.is_multiple_of(cs)
            || off + cs > nb_clusters * cs
        {
            continue;
        }
        file.read_exact_at(&mut block, off)
            .map_err(|e| Error::io("read refcount block", e).with_path(path))?;
        for i in 0..per_block.min(nb_clusters - first) {
            let bit = i * bits;
            let v = match bits {
                64 => u64::from_be_bytes(
                    block[(bit / 8) as usize..(bit / 8 + 8) as usize]
                        .try_into()
                        .unwrap_or([0; 8]),
                ),
                32 => u64::from(u32::from_be_bytes(
                    block[(bit / 8) as usize..(bit / 8 + 4) as usize]
                        .try_into()
                        .unwrap_or([0; 4]),
                )),
                16 => u64::from(u16::from_be_bytes([
                    block[(bit / 8) as usize],
                    block[(bit / 8 + 1) as usize],
                ])),
                8 => u64::from(block[(bit / 8) as usize]),
                // Sub-byte widths: entries fill each byte from the least
                // significant bit up.
                _ => u64::from(block[(bit / 8) as usize] >> (bit % 8)) & ((1 << bits) - 1),
            };
            out[(first + i) as usize] = v;
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn walk_l1(
    file: &File,
    path: &Path,
    h: &Header,
    l1_off: u64,
    l1_size: u32,
    stored: &[u64],
    active: bool,
    c: &mut Counter<'_>,
) -> Result<()> {
    let cs = h.cluster_size();
    c.mark(l1_off, u64::from(l1_size) * 8, "L1 table");
    if l1_off + u64::from(l1_size) * 8 > c.file_len {
        return Ok(());
    }
    let l1 = read_table(file, path, l1_off, u64::from(l1_size))?;
    let shift = 62 - (h.cluster_bits - 8);
    let mut prev_end: Option<u64> = None;
    let mut seen = std::collections::HashSet::new();
    for (i, e) in l1.iter().enumerate() {
        let l2_off = e & L1_OFFSET_MASK;
        if l2_off == 0 {
            continue;
        }
        if (i as u64).saturating_mul(h.l1_coverage()) >= h.size || !seen.insert(l2_off) {
            // Beyond the disk, or the same L2 twice in one table: count the
            // reference (a refcount mismatch reports it), do not walk again.
            c.mark(l2_off, cs, "L2 table");
            continue;
        }
        if !l2_off.is_multiple_of(cs) {
            c.report.corruptions += 1;
            c.report.messages.push(format!(
                "ERROR l2_offset={l2_off:#x}: L2 table is not cluster aligned"
            ));
            continue;
        }
        c.mark(l2_off, cs, "L2 table");
        if l2_off + cs > c.file_len {
            continue;
        }
        if active {
            copied_ok(e, l2_off, cs, stored, "L2 table", c);
        }
        // Extended L2 entries are 128 bits: the first 64 are a normal entry,
        // the subcluster bitmap after it holds no references.
        let stride = if h.extended_l2() { 2 } else { 1 };
        let l2 = read_table(file, path, l2_off, h.l2_entries() * stride as u64)?;
        for (j, e) in l2.iter().step_by(stride).enumerate() {
            let guest = ((i as u64 * h.l2_entries()) + j as u64) * cs;
            if guest >= h.size {
                break;
            }
            if e & COMPRESSED != 0 {
                let off = e & ((1u64 << shift) - 1);
                let sectors = ((e & !COMPRESSED & !COPIED) >> shift) + 1;
                c.mark(off & !511, sectors * 512, "compressed cluster");
                if active {
                    c.report.allocated_clusters += 1;
                    c.report.compressed_clusters += 1;
                    prev_end = None;
                }
                continue;
            }
            let off = e & L2_OFFSET_MASK;
            if off == 0 {
                continue;
            }
            if !off.is_multiple_of(cs) {
                c.report.corruptions += 1;
                c.report.messages.push(format!(
                    "ERROR offset={off:#x}: data cluster is not cluster aligned"
                ));
                continue;
            }
            c.mark(off, cs, "data cluster");
            if active {
                copied_ok(e, off, cs, stored, "data cluster", c);
                c.report.allocated_clusters += 1;
                if prev_end.is_some_and(|p| p != off) {
                    c.report.fragmented_clusters += 1;
                }
                prev_end = Some(off + cs);
            }
        }
    }
    Ok(())
}

fn copied_ok(entry: &u64, off: u64, cs: u64, stored: &[u64], what: &str, c: &mut Counter<'_>) {
    let rc = stored.get((off / cs) as usize).copied().unwrap_or(0);
    let copied = entry & COPIED != 0;
    if (rc == 1) != copied {
        c.report.corruptions += 1;
        c.report.messages.push(format!(
            "ERROR OFLAG_COPIED {what}: offset={off:x} refcount={rc}"
        ));
    }
}
