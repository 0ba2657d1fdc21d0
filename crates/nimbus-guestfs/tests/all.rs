//! Integration tests: images built here with the real e2fsprogs and
//! sfdisk, edited through the crate, and judged by e2fsck and debugfs.

mod format;
mod hostile;
mod inject;
mod partitions;
mod support;
