//! qcow2 pieces we implement ourselves: header parsing (shared by `info`,
//! `open` and the inspector), the one-pass writer used by `convert`, and
//! the refcount checker.

pub mod check;
pub mod header;
pub(crate) mod reader;
pub mod snapshot;
pub mod writer;
