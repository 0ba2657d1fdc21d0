//! Config drives and the instance metadata tree, as nova builds them.
//!
//! - [`InstanceMetadata`] renders nova's tree (`openstack/<version>/meta_data.json`, ...,
//!   `ec2/<version>/meta-data.json`) from an [`Instance`]; the metadata service answers paths
//!   from the same value with [`InstanceMetadata::lookup`].
//! - [`Tree`] is a file tree (from the metadata, or a host directory) and
//!   [`iso::write_iso`] / [`vfat::write_vfat`] pack it as nova's `ConfigDriveBuilder.make_drive`
//!   does with genisoimage or mkfs.vfat.
//!
//! Synchronous `std::io` only; no HTTP here.
#![warn(missing_docs)]

mod ec2;
pub mod error;
pub mod instance;
pub mod iso;
pub mod metadata;
pub mod netdata;
pub mod pyjson;
pub mod tree;
pub mod vfat;

use std::io::{Read, Seek, Write};

pub use error::{Error, ErrorKind, Result};
pub use instance::Instance;
pub use metadata::{InstanceMetadata, Lookup, MetadataConfig, Purpose};
pub use tree::{Content, Tree};

/// A config drive format (`config_drive_format` in nova.conf).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// ISO 9660 with Joliet and Rock Ridge (nova's default).
    #[default]
    Iso9660,
    /// FAT.
    Vfat,
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "iso9660" => Ok(Format::Iso9660),
            "vfat" => Ok(Format::Vfat),
            other => Err(Error::new(
                ErrorKind::Invalid,
                "parse config drive format",
                format!("{other:?}: expected iso9660 or vfat"),
            )),
        }
    }
}

/// The tree of a config drive for `md` (`metadata_for_config_drive`).
pub fn tree_for(md: &InstanceMetadata) -> Result<Tree> {
    let mut tree = Tree::new();
    for (path, data) in md.config_drive_files() {
        tree.add_file(&path, Content::Bytes(data), false)?;
    }
    Ok(tree)
}

/// Options of [`make_drive`] for both formats.
#[derive(Debug, Clone, Default)]
pub struct DriveOptions {
    /// ISO options (volume id, publisher, time stamp).
    pub iso: iso::IsoOptions,
    /// vfat options (label, volume id).
    pub vfat: vfat::VfatOptions,
}

/// Packs `tree` in `format` into `out` (`ConfigDriveBuilder.make_drive`); returns its size.
pub fn make_drive<T: Read + Write + Seek>(
    tree: &Tree,
    format: Format,
    options: &DriveOptions,
    out: T,
) -> Result<u64> {
    match format {
        Format::Iso9660 => iso::write_iso(tree, &options.iso, std::io::BufWriter::new(out)),
        Format::Vfat => vfat::write_vfat(tree, &options.vfat, out),
    }
}
