//! The image formats Nimbus opens.

use std::fmt;
use std::str::FromStr;

use crate::{Error, ErrorKind};

/// A disk image format Nimbus reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The file's bytes are the disk's bytes.
    Raw,
    /// QEMU copy-on-write v2 or v3.
    Qcow2,
}

impl Format {
    /// The name qemu-img uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "raw" => Ok(Format::Raw),
            "qcow2" => Ok(Format::Qcow2),
            other => Err(Error::new(
                ErrorKind::Unsupported,
                "parse format",
                format!("unknown or unsupported image format '{other}'"),
            )),
        }
    }
}
