//! What the end-to-end modules share.

#![allow(dead_code)]

use std::path::PathBuf;

/// The `nimbus` binary cargo built for this test run.
pub fn nimbus_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_nimbus"))
}
