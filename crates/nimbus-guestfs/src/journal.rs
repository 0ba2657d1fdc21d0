//! An internal JBD2 journal for a freshly made ext4, as `mkfs -t ext4`
//! (nova's ephemeral disks) makes one. The library's multi-group formatter
//! writes none; we add it through the library where it can do the work:
//! a temporary file gets the journal's blocks (bitmaps, counts, extents and
//! checksums all kept by the library), its inode image becomes inode 8, the
//! file is emptied and unlinked, and the superblock records the journal.

use std::sync::Arc;

use fs_ext4::block_io::BlockDevice as _;
use fs_ext4::checksum::Checksummer;
use fs_ext4::fs::Filesystem;
use fs_ext4::superblock::Superblock;

use crate::device::Window;
use crate::{Error, Result};

/// The journal's inode (EXT4_JOURNAL_INO).
const JOURNAL_INO: u32 = 8;
const TEMP_NAME: &str = "/.nimbus-journal";
const JBD2_MAGIC: u32 = 0xC03B_3998;
/// `JBD2_SUPERBLOCK_V2`.
const JBD2_SB_V2: u32 = 4;
const COMPAT_HAS_JOURNAL: u32 = 0x4;
const RO_COMPAT_METADATA_CSUM: u32 = 0x400;
/// `EXT3_JNL_BACKUP_BLOCKS`: `s_jnl_blocks` holds a copy of `i_block`.
const JNL_BACKUP_BLOCKS: u8 = 1;
const WRITE_CHUNK: usize = 1 << 20;

/// mke2fs' default journal size in blocks for a filesystem of `blocks`
/// blocks, capped at 16384 (64 MiB at 4 KiB): the journal is written in
/// full, and a bigger one only costs space on a scratch disk.
pub(crate) fn journal_blocks(blocks: u64) -> u64 {
    match blocks {
        0..2048 => 0,
        2048..32768 => 1024,
        32768..262_144 => 4096,
        262_144..524_288 => 8192,
        _ => 16384,
    }
}

fn ext(op: &'static str) -> impl Fn(fs_ext4::Error) -> Error {
    move |e| Error::ext(op, e)
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Adds a journal to the empty, unjournaled ext4 in `window`.
pub(crate) fn add_journal(window: Arc<Window>) -> Result<()> {
    let sb = Superblock::read(window.as_ref()).map_err(ext("journal"))?;
    let block_size = u64::from(sb.block_size());
    let blocks = journal_blocks(sb.blocks_count);
    if blocks == 0 {
        return Ok(());
    }

    // 1. A file holding the journal's blocks, its first block the JBD2
    //    superblock, the rest zeros (written, not unwritten extents: the
    //    kernel maps the journal with bmap).
    let ino = {
        let fs = Filesystem::mount(window.clone()).map_err(ext("journal"))?;
        let ino = fs.apply_create(TEMP_NAME, 0o600).map_err(ext("journal"))?;
        let total = blocks * block_size;
        let mut chunk = vec![0u8; WRITE_CHUNK.min(total as usize)];
        chunk[..1024].copy_from_slice(&jbd2_superblock(&sb, blocks));
        let mut off = 0u64;
        while off < total {
            let n = (total - off).min(chunk.len() as u64) as usize;
            fs.apply_pwrite_ino(ino, off, &chunk[..n])
                .map_err(ext("journal"))?;
            if off == 0 {
                chunk[..1024].fill(0);
            }
            off += n as u64;
        }
        fs.finish().map_err(ext("journal"))?;
        ino
    };

    // 2. Its inode image becomes inode 8; the file keeps no blocks. Each
    //    step runs on a fresh mount so no cached inode table block of an
    //    earlier step is written back over a raw write.
    let csum = Checksummer::from_superblock(&sb);
    let journal_inode = {
        let fs = Filesystem::mount(window.clone()).map_err(ext("journal"))?;
        let raw = fs.read_inode_raw(ino).map_err(ext("journal"))?;
        let mut j = raw.clone();
        j[0x00..0x02].copy_from_slice(&0o100_600u16.to_le_bytes());
        j[0x1A..0x1C].copy_from_slice(&1u16.to_le_bytes());
        patch_checksum(&csum, JOURNAL_INO, &mut j);
        let mut emptied = raw;
        empty_inode(&mut emptied);
        patch_checksum(&csum, ino, &mut emptied);
        fs.write_inode_raw(ino, &emptied).map_err(ext("journal"))?;
        fs.finish().map_err(ext("journal"))?;
        j
    };
    {
        let fs = Filesystem::mount(window.clone()).map_err(ext("journal"))?;
        fs.apply_unlink(TEMP_NAME).map_err(ext("journal"))?;
        fs.finish().map_err(ext("journal"))?;
    }
    {
        let fs = Filesystem::mount(window.clone()).map_err(ext("journal"))?;
        fs.write_inode_raw(JOURNAL_INO, &journal_inode)
            .map_err(ext("journal"))?;
        fs.finish().map_err(ext("journal"))?;
    }

    // 3. The superblock: has_journal, inode 8, and the backup of its
    //    block map that e2fsck uses when inode 8 is damaged.
    let mut raw = vec![0u8; 1024];
    window.read_at(1024, &mut raw).map_err(ext("journal"))?;
    let compat = le32(&raw, 0x5C) | COMPAT_HAS_JOURNAL;
    raw[0x5C..0x60].copy_from_slice(&compat.to_le_bytes());
    raw[0xE0..0xE4].copy_from_slice(&JOURNAL_INO.to_le_bytes());
    raw[0x10C..0x148].copy_from_slice(&journal_inode[0x28..0x64]);
    raw[0x148..0x14C].copy_from_slice(&journal_inode[0x6C..0x70]);
    raw[0x14C..0x150].copy_from_slice(&journal_inode[0x04..0x08]);
    raw[0xFD] = JNL_BACKUP_BLOCKS;
    if le32(&raw, 0x64) & RO_COMPAT_METADATA_CSUM != 0 {
        let c = fs_ext4::checksum::linux_crc32c(!0, &raw[..0x3FC]);
        raw[0x3FC..0x400].copy_from_slice(&c.to_le_bytes());
    }
    window.write_at(1024, &raw).map_err(ext("journal"))
}

/// A clean JBD2 v2 superblock as mke2fs writes it (no optional features:
/// the kernel sets those when it first uses the journal).
fn jbd2_superblock(sb: &Superblock, blocks: u64) -> [u8; 1024] {
    let mut j = [0u8; 1024];
    let mut put = |at: usize, v: u32| j[at..at + 4].copy_from_slice(&v.to_be_bytes());
    put(0x00, JBD2_MAGIC);
    put(0x04, JBD2_SB_V2);
    put(0x0C, sb.block_size());
    put(0x10, blocks as u32);
    put(0x14, 1); // s_first: the log starts after this block
    put(0x18, 1); // s_sequence
    put(0x40, 1); // s_nr_users
    j[0x30..0x40].copy_from_slice(&sb.uuid);
    j
}

/// An inode image with no data: size 0, no blocks, an empty extent root.
fn empty_inode(raw: &mut [u8]) {
    raw[0x04..0x08].fill(0); // i_size_lo
    raw[0x6C..0x70].fill(0); // i_size_high
    raw[0x1C..0x20].fill(0); // i_blocks_lo
    raw[0x74..0x76].fill(0); // l_i_blocks_hi
    raw[0x28..0x64].fill(0);
    // Extent header: magic, 0 entries, room for 4, depth 0.
    raw[0x28..0x34].copy_from_slice(&[0x0A, 0xF3, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0]);
}

fn patch_checksum(csum: &Checksummer, ino: u32, raw: &mut [u8]) {
    let generation = le32(raw, 0x64);
    if let Some((lo, hi)) = csum.compute_inode_checksum(ino, generation, raw) {
        raw[0x7C..0x7E].copy_from_slice(&lo.to_le_bytes());
        if raw.len() >= 0x84 && u16::from_le_bytes([raw[0x80], raw[0x81]]) >= 4 {
            raw[0x82..0x84].copy_from_slice(&hi.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_sizes_follow_mke2fs_up_to_the_cap() {
        assert_eq!(journal_blocks(1000), 0);
        assert_eq!(journal_blocks(65536), 4096);
        assert_eq!(journal_blocks(300_000), 8192);
        assert_eq!(journal_blocks(1 << 30), 16384);
    }
}
