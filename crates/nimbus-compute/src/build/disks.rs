//! An instance's local disks (nova's image backends `Qcow2` and `Raw`):
//! the root disk and the blank disks on their `_base` files, and `disk.info`.

use std::collections::BTreeMap;
use std::path::Path;

use nimbus_disk::{BackingPolicy, ConvertOptions, Format, Qcow2Options, SizeChange};

use super::cache::{CachedImage, blocking, disk_error, io_error};
use crate::error::{ComputeError, ComputeErrorKind};

/// nova's `[libvirt] images_type` values Nimbus implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImagesType {
    /// A qcow2 overlay on the `_base` file.
    Qcow2,
    /// A standalone raw copy of the `_base` file.
    Raw,
}

impl ImagesType {
    /// From the setting (`default` is qcow2, as nova with `use_cow_images`).
    pub fn parse(value: &str) -> Result<ImagesType, ComputeError> {
        match value {
            "qcow2" | "default" => Ok(ImagesType::Qcow2),
            "raw" | "flat" => Ok(ImagesType::Raw),
            other => Err(ComputeError::new(
                ComputeErrorKind::Build,
                format!("images_type {other:?} is not supported (qcow2, raw)"),
            )),
        }
    }

    /// The format of disks made this way.
    pub fn format(self) -> Format {
        match self {
            ImagesType::Qcow2 => Format::Qcow2,
            ImagesType::Raw => Format::Raw,
        }
    }
}

/// Makes `dest` from `base` per `kind`, `size` bytes large (at least the
/// base's virtual size). A qcow2 overlay records the base by absolute path
/// and format, so nothing is ever probed; a raw copy skips zero areas.
pub async fn create_disk(
    kind: ImagesType,
    base: &CachedImage,
    dest: &Path,
    size: u64,
) -> Result<(), ComputeError> {
    let (base, dest) = (base.clone(), dest.to_path_buf());
    blocking(move || {
        let size = size.max(base.virtual_size);
        match kind {
            ImagesType::Qcow2 => {
                let backing = base.path.to_str().ok_or_else(|| {
                    ComputeError::new(
                        ComputeErrorKind::Build,
                        format!("{} is not UTF-8", base.path.display()),
                    )
                })?;
                let options = Qcow2Options {
                    backing: Some((backing.to_string(), base.format)),
                    cluster_size: None,
                };
                nimbus_disk::create_qcow2(&dest, Some(size), &options)
                    .map_err(|e| disk_error("creating", &dest, e))
            }
            ImagesType::Raw => {
                nimbus_disk::convert(
                    &base.path,
                    base.format,
                    &BackingPolicy::deny_all(),
                    &dest,
                    Format::Raw,
                    &ConvertOptions::default(),
                    &mut |_, _| {},
                )
                .map_err(|e| disk_error("copying into", &dest, e))?;
                nimbus_disk::resize(
                    &dest,
                    Format::Raw,
                    &BackingPolicy::deny_all(),
                    SizeChange::To(size),
                    false,
                )
                .map_err(|e| disk_error("extending", &dest, e))?;
                Ok(())
            }
        }
    })
    .await
}

/// Writes nova's `disk.info`: a JSON object of disk path to format.
pub async fn write_disk_info(
    dir: &Path,
    disks: &BTreeMap<String, Format>,
) -> Result<(), ComputeError> {
    let map: serde_json::Map<String, serde_json::Value> = disks
        .iter()
        .map(|(name, f)| {
            (
                dir.join(name).to_string_lossy().into_owned(),
                serde_json::Value::String(f.as_str().into()),
            )
        })
        .collect();
    let path = dir.join("disk.info");
    let text = serde_json::Value::Object(map).to_string();
    tokio::fs::write(&path, text)
        .await
        .map_err(|e| io_error("writing", &path, e))
}

/// Opens an instance disk for writing, its backing file allowed only in
/// `base_dir`.
pub fn open_for_write(
    path: &Path,
    format: Format,
    base_dir: &Path,
) -> Result<nimbus_disk::Disk, ComputeError> {
    let policy = BackingPolicy::allow_dirs([base_dir.to_path_buf()]);
    nimbus_disk::open(path, format, &policy, true).map_err(|e| disk_error("opening", path, e))
}
