//! MBR (with extended/logical partitions) and GPT partition tables, parsed
//! with bounds on everything a hostile disk controls.
//!
//! Numbering follows Linux and libguestfs, which nova's `inject_partition`
//! counts in: MBR primaries 1-4, logical partitions from 5 in chain order;
//! GPT entries by slot index + 1.

use nimbus_disk::BlockDevice;

use crate::{Error, ErrorKind, Result};

const SECTOR: u64 = 512;
/// A chain of more logical partitions than Linux itself supports is hostile.
const MAX_LOGICAL: usize = 256;
/// GPT entry arrays larger than this are refused (the usual one is 16 KiB).
const MAX_GPT_ENTRY_BYTES: u64 = 1 << 20;
const EXTENDED_TYPES: [u8; 3] = [0x05, 0x0f, 0x85];

/// Which partition table a disk carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableKind {
    /// A DOS/MBR table.
    Mbr,
    /// A GUID partition table.
    Gpt,
}

/// One partition: its number and byte range on the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The number Linux gives it (`/dev/sdaN`).
    pub number: u32,
    /// First byte on the disk.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
}

/// The partitions of `disk`, or `None` when it has no partition table.
pub fn partitions(disk: &dyn BlockDevice) -> Result<Option<(TableKind, Vec<Partition>)>> {
    if disk.size() < SECTOR {
        return Ok(None);
    }
    let mut mbr = [0u8; 512];
    disk.read_at(&mut mbr, 0)
        .map_err(|e| Error::disk("partition table", e))?;
    if mbr[510..512] != [0x55, 0xaa] {
        return Ok(None);
    }
    let entries: Vec<MbrEntry> = (0..4)
        .map(|i| MbrEntry::parse(&mbr, 446 + 16 * i))
        .collect();
    if entries.iter().any(|e| e.kind == 0xee) {
        return Ok(Some((TableKind::Gpt, gpt(disk)?)));
    }
    // A boot sector that carries a filesystem (FAT, or an ext superblock
    // after it) also ends in 55 AA; a real table has sane entries.
    if !entries
        .iter()
        .all(|e| e.kind == 0 || e.boot == 0 || e.boot == 0x80)
    {
        return Ok(None);
    }
    if entries.iter().all(|e| e.kind == 0) {
        return Ok(None);
    }
    Ok(Some((TableKind::Mbr, mbr_partitions(disk, &entries)?)))
}

/// The partition numbered `number`.
pub fn find(disk: &dyn BlockDevice, number: u32) -> Result<Partition> {
    let Some((_, parts)) = partitions(disk)? else {
        return Err(Error::new(
            ErrorKind::NotFound,
            "partition",
            format!("partition {number} requested but the disk has no partition table"),
        ));
    };
    parts
        .into_iter()
        .find(|p| p.number == number)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                "partition",
                format!("the disk has no partition {number}"),
            )
        })
}

struct MbrEntry {
    boot: u8,
    kind: u8,
    lba: u64,
    sectors: u64,
}

impl MbrEntry {
    fn parse(sector: &[u8; 512], at: usize) -> MbrEntry {
        let u32_at = |o: usize| {
            u32::from_le_bytes([sector[o], sector[o + 1], sector[o + 2], sector[o + 3]]) as u64
        };
        MbrEntry {
            boot: sector[at],
            kind: sector[at + 4],
            lba: u32_at(at + 8),
            sectors: u32_at(at + 12),
        }
    }
}

fn corrupt(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Corrupt, "partition table", message)
}

/// A byte range from sectors, checked against the disk.
fn range(disk: &dyn BlockDevice, lba: u64, sectors: u64) -> Result<(u64, u64)> {
    let start = lba.checked_mul(SECTOR);
    let size = sectors.checked_mul(SECTOR);
    match (start, size) {
        (Some(start), Some(size)) if start.checked_add(size).is_some_and(|e| e <= disk.size()) => {
            Ok((start, size))
        }
        _ => Err(corrupt(format!(
            "partition at sector {lba} with {sectors} sectors lies outside the {}-byte disk",
            disk.size()
        ))),
    }
}

fn mbr_partitions(disk: &dyn BlockDevice, entries: &[MbrEntry]) -> Result<Vec<Partition>> {
    let mut out = Vec::new();
    let mut extended = None;
    for (i, entry) in entries.iter().enumerate() {
        if entry.kind == 0 || entry.sectors == 0 {
            continue;
        }
        let (start, size) = range(disk, entry.lba, entry.sectors)?;
        if EXTENDED_TYPES.contains(&entry.kind) {
            if extended.is_some() {
                return Err(corrupt("more than one extended partition"));
            }
            extended = Some((entry.lba, entry.sectors));
            continue;
        }
        out.push(Partition {
            number: i as u32 + 1,
            start,
            size,
        });
    }
    if let Some((ext_lba, ext_sectors)) = extended {
        logical_partitions(disk, ext_lba, ext_sectors, &mut out)?;
    }
    Ok(out)
}

/// Walks the chain of extended boot records. Each link must move forward
/// inside the extended partition, which rules out cycles.
fn logical_partitions(
    disk: &dyn BlockDevice,
    ext_lba: u64,
    ext_sectors: u64,
    out: &mut Vec<Partition>,
) -> Result<()> {
    let ext_end = ext_lba + ext_sectors;
    let mut ebr_lba = ext_lba;
    let mut number = 5;
    for _ in 0..MAX_LOGICAL {
        let mut sector = [0u8; 512];
        let (at, _) = range(disk, ebr_lba, 1)?;
        disk.read_at(&mut sector, at)
            .map_err(|e| Error::disk("partition table", e))?;
        if sector[510..512] != [0x55, 0xaa] {
            return Err(corrupt(format!(
                "extended boot record at sector {ebr_lba} has no signature"
            )));
        }
        let this = MbrEntry::parse(&sector, 446);
        let next = MbrEntry::parse(&sector, 462);
        if this.kind != 0 && this.sectors != 0 {
            let lba = ebr_lba
                .checked_add(this.lba)
                .ok_or_else(|| corrupt("logical partition overflows"))?;
            if lba
                .checked_add(this.sectors)
                .is_none_or(|end| end > ext_end)
            {
                return Err(corrupt(format!(
                    "logical partition {number} lies outside its extended partition"
                )));
            }
            let (start, size) = range(disk, lba, this.sectors)?;
            out.push(Partition {
                number,
                start,
                size,
            });
            number += 1;
        }
        if next.kind == 0 || next.lba == 0 {
            return Ok(());
        }
        let next_lba = ext_lba
            .checked_add(next.lba)
            .ok_or_else(|| corrupt("EBR link overflows"))?;
        if next_lba <= ebr_lba || next_lba >= ext_end {
            return Err(corrupt(format!(
                "extended boot record chain does not move forward at sector {ebr_lba}"
            )));
        }
        ebr_lba = next_lba;
    }
    Err(corrupt(format!(
        "more than {MAX_LOGICAL} logical partitions"
    )))
}

fn gpt(disk: &dyn BlockDevice) -> Result<Vec<Partition>> {
    let mut header = [0u8; 512];
    let (at, _) = range(disk, 1, 1)?;
    disk.read_at(&mut header, at)
        .map_err(|e| Error::disk("partition table", e))?;
    if &header[0..8] != b"EFI PART" {
        return Err(corrupt("protective MBR but no GPT header at sector 1"));
    }
    let u32_at =
        |o: usize| u32::from_le_bytes([header[o], header[o + 1], header[o + 2], header[o + 3]]);
    let u64_at = |o: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[o..o + 8]);
        u64::from_le_bytes(b)
    };
    let header_size = u32_at(12) as usize;
    if !(92..=512).contains(&header_size) {
        return Err(corrupt(format!("GPT header size {header_size} is invalid")));
    }
    let mut check = header[..header_size].to_vec();
    check[16..20].fill(0);
    if crc32(&check) != u32_at(16) {
        return Err(corrupt("GPT header checksum mismatch"));
    }
    let entries_lba = u64_at(72);
    let count = u32_at(80) as u64;
    let entry_size = u32_at(84) as u64;
    if entry_size < 128 || !entry_size.is_power_of_two() || entry_size > 4096 {
        return Err(corrupt(format!("GPT entry size {entry_size} is invalid")));
    }
    let total = count * entry_size;
    if total > MAX_GPT_ENTRY_BYTES {
        return Err(corrupt(format!(
            "GPT entry array of {total} bytes is too large"
        )));
    }
    let (at, _) = range(disk, entries_lba, total.div_ceil(SECTOR))?;
    let mut array = vec![0u8; total as usize];
    disk.read_at(&mut array, at)
        .map_err(|e| Error::disk("partition table", e))?;
    if crc32(&array) != u32_at(88) {
        return Err(corrupt("GPT partition entry array checksum mismatch"));
    }
    let mut out = Vec::new();
    for (i, entry) in array.chunks_exact(entry_size as usize).enumerate() {
        if entry[0..16].iter().all(|&b| b == 0) {
            continue;
        }
        let mut first = [0u8; 8];
        let mut last = [0u8; 8];
        first.copy_from_slice(&entry[32..40]);
        last.copy_from_slice(&entry[40..48]);
        let (first, last) = (u64::from_le_bytes(first), u64::from_le_bytes(last));
        if last < first {
            return Err(corrupt(format!(
                "GPT entry {} ends before it starts",
                i + 1
            )));
        }
        let (start, size) = range(disk, first, last - first + 1)?;
        out.push(Partition {
            number: i as u32 + 1,
            start,
            size,
        });
    }
    Ok(out)
}

/// CRC-32 (IEEE 802.3), as the GPT header and entry array use.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
