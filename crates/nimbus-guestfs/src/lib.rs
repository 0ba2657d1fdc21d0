//! Guest filesystem editing without mounting: nova's `nova/virt/disk`
//! injection done in userspace, in-process, through the disk engine's block
//! layer. MBR and GPT partition tables, ext2/3/4 read-write (through the
//! pure-Rust `rust-fs-ext4`), nova's VFS operations and `inject_data`
//! semantics, and in-process ephemeral (ext4) and swap disks.
//!
//! Everything is synchronous; services call it through `spawn_blocking`.
#![warn(missing_docs)]

mod device;
mod error;
mod format;
mod inject;
mod journal;
pub mod net;
pub mod partition;
pub mod password;
pub mod path;
mod vfs;

pub use error::{Error, ErrorKind, Result};
pub use format::{create_ephemeral_ext4, create_swap};
pub use inject::{InjectReport, InjectRequest, Item, inject_data, inject_data_into_fs};
pub use net::{Interface, NetworkInfo, Route};
pub use vfs::{FileStat, MAX_FILE_BYTES, Vfs};

/// nova's `inject_partition` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectPartition {
    /// `-2`: injection disabled.
    Disabled,
    /// `-1`: inspect the disk for the partition holding the guest's root.
    Inspect,
    /// `0`: the whole disk is one filesystem.
    WholeDisk,
    /// `N`: partition N (MBR logicals from 5, GPT by slot).
    Number(u32),
}

impl InjectPartition {
    /// From nova's integer setting.
    pub fn from_nova(value: i64) -> Result<Self> {
        match value {
            -2 => Ok(InjectPartition::Disabled),
            -1 => Ok(InjectPartition::Inspect),
            0 => Ok(InjectPartition::WholeDisk),
            n if n > 0 && n <= 4096 => Ok(InjectPartition::Number(n as u32)),
            n => Err(Error::new(
                ErrorKind::InvalidInput,
                "inject_partition",
                format!("{n} is not -2, -1, 0 or a partition number"),
            )),
        }
    }
}
