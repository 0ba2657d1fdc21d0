//! Integration tests: golden comparisons with nova's own tests, and interop with the real
//! `isoinfo`, `fsck.vfat` and mtools.

mod fixtures;
mod golden_metadata;
mod golden_network;
mod tools;
