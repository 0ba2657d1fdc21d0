//! The internal snapshot table (read only: Nimbus never creates snapshots).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::header::Header;
use crate::{Error, ErrorKind, Result};

/// QEMU's cap on the snapshot table (QCOW_MAX_SNAPSHOTS_SIZE).
const MAX_TABLE_BYTES: u64 = 64 << 20;

/// One internal snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Host offset of its L1 table.
    pub l1_table_offset: u64,
    /// Entries in its L1 table.
    pub l1_size: u32,
    /// The snapshot id ("1", "2", ...).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Creation time, seconds.
    pub date_sec: u32,
    /// Creation time, nanoseconds.
    pub date_nsec: u32,
    /// Guest clock at creation, nanoseconds.
    pub vm_clock_nsec: u64,
    /// Bytes of saved VM state.
    pub vm_state_size: u64,
    /// Guest instruction count (-1 when unknown).
    pub icount: Option<u64>,
    /// Virtual disk size at creation, when recorded.
    pub disk_size: Option<u64>,
}

fn be16(b: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([b[o], b[o + 1]])
}
fn be32(b: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn be64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_be_bytes(a)
}

/// Reads the snapshot table the header points to. Returns the snapshots
/// and the table's length in bytes.
pub fn read(file: &File, path: &Path, h: &Header) -> Result<(Vec<Snapshot>, u64)> {
    if h.nb_snapshots == 0 {
        return Ok((Vec::new(), 0));
    }
    let bad = |m: String| Error::new(ErrorKind::Corrupt, "read snapshot table", m).with_path(path);
    let file_len = file
        .metadata()
        .map_err(|e| Error::io("stat", e).with_path(path))?
        .len();
    let max = MAX_TABLE_BYTES.min(file_len.saturating_sub(h.snapshots_offset));
    let mut buf = vec![0u8; max as usize];
    file.read_exact_at(&mut buf, h.snapshots_offset)
        .map_err(|e| Error::io("read", e).with_path(path))?;
    let mut out = Vec::new();
    let mut off = 0usize;
    for i in 0..h.nb_snapshots {
        let need = |n: usize| {
            if off.checked_add(n).is_some_and(|e| e <= buf.len()) {
                Ok(())
            } else {
                Err(bad(format!("snapshot {i} runs past the table")))
            }
        };
        need(40)?;
        let e = &buf[off..];
        let l1_table_offset = be64(e, 0);
        let l1_size = be32(e, 8);
        let id_len = be16(e, 12) as usize;
        let name_len = be16(e, 14) as usize;
        let date_sec = be32(e, 16);
        let date_nsec = be32(e, 20);
        let vm_clock_nsec = be64(e, 24);
        let vm_state_size32 = be32(e, 32);
        let extra = be32(e, 36) as usize;
        need(40 + extra + id_len + name_len)?;
        let x = &e[40..40 + extra];
        let vm_state_size = if extra >= 8 {
            be64(x, 0)
        } else {
            u64::from(vm_state_size32)
        };
        let disk_size = (extra >= 16).then(|| be64(x, 8));
        let icount = (extra >= 24)
            .then(|| be64(x, 16))
            .filter(|v| *v != u64::MAX);
        let id = String::from_utf8_lossy(&e[40 + extra..40 + extra + id_len]).into_owned();
        let name = String::from_utf8_lossy(&e[40 + extra + id_len..40 + extra + id_len + name_len])
            .into_owned();
        if u64::from(l1_size) * 8 > super::header::MAX_L1_BYTES
            || !l1_table_offset.is_multiple_of(h.cluster_size())
        {
            return Err(bad(format!("snapshot {id} has an invalid L1 table")));
        }
        out.push(Snapshot {
            l1_table_offset,
            l1_size,
            id,
            name,
            date_sec,
            date_nsec,
            vm_clock_nsec,
            vm_state_size,
            icount,
            disk_size,
        });
        off += (40 + extra + id_len + name_len).next_multiple_of(8);
    }
    Ok((out, off as u64))
}
