//! Disk images for Nimbus: raw and qcow2, backing chains behind an explicit
//! backing-file policy, and the streaming format inspector.
//!
//! Everything here is synchronous `std::io`; services call it through
//! `spawn_blocking`.
#![warn(missing_docs)]

mod block;
mod disk;
mod error;
mod format;
mod info;
pub mod inspect;
mod ops;
mod policy;
pub mod qcow2;
mod raw;

pub use block::BlockDevice;
pub use disk::{Disk, MAX_CHAIN_DEPTH, open};
pub use error::{Error, ErrorKind, Result};
pub use format::Format;
pub use info::{ImageInfo, Qcow2Info, human_size, info, info_chain, probe};
pub use inspect::{Inspector, Limits, Report};
pub use ops::{
    ConvertOptions, DEFAULT_CLUSTER_SIZE, Qcow2Options, SizeChange, check, convert, create_qcow2,
    create_raw, resize,
};
pub use policy::{BackingPolicy, backing_path};
pub use qcow2::check::CheckReport;
pub use raw::RawFile;
