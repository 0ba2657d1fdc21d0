//! Disk images for Nimbus: raw and qcow2, backing chains behind an explicit
//! backing-file policy, and the streaming format inspector.
//!
//! Everything here is synchronous `std::io`; services call it through
//! `spawn_blocking`.
#![warn(missing_docs)]

mod block;
mod error;
mod raw;

pub use block::BlockDevice;
pub use error::{Error, ErrorKind, Result};
pub use raw::RawFile;
