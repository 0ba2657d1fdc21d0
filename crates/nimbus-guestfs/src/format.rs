//! Ephemeral and swap disks, made in-process (nova's `_create_ephemeral`,
//! `mkfs -t ext4 -L ephemeral0`, and `_create_swap`, `mkswap`).

use std::sync::Arc;

use nimbus_disk::BlockDevice;

use crate::device::Window;
use crate::{Error, ErrorKind, Result};

const SWAP_PAGE: u64 = 4096;
/// mkswap refuses fewer pages than this.
const SWAP_MIN_PAGES: u64 = 10;

/// Formats the whole of `disk` as an empty ext4 filesystem labelled `label`
/// (at most 16 bytes; nova uses `ephemeral0`), with a journal as mke2fs
/// makes one.
pub fn create_ephemeral_ext4(disk: Arc<dyn BlockDevice>, label: &str) -> Result<()> {
    if label.len() > 16 {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "mkfs",
            "an ext4 label is at most 16 bytes",
        ));
    }
    let size = disk.size();
    let window = Window::new(disk.clone(), 0, size, true)
        .ok_or_else(|| Error::new(ErrorKind::Io, "mkfs", "disk size changed"))?;
    fs_ext4::mkfs::format_filesystem(&window, Some(label), Some(random_uuid()), size, 4096)
        .map_err(|e| Error::ext("mkfs", e))?;
    crate::journal::add_journal(Arc::new(window))?;
    disk.flush().map_err(|e| Error::disk("mkfs", e))
}

/// Writes the swap signature `mkswap` writes over the whole of `disk`
/// (version 1 header, random UUID, optional label of at most 16 bytes).
pub fn create_swap(disk: &dyn BlockDevice, label: Option<&str>) -> Result<()> {
    let pages = disk.size() / SWAP_PAGE;
    if pages < SWAP_MIN_PAGES {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "mkswap",
            "a swap disk needs at least 40 KiB",
        ));
    }
    let last_page = u32::try_from(pages - 1).map_err(|_| {
        Error::new(
            ErrorKind::InvalidInput,
            "mkswap",
            "disk too large for a swap header",
        )
    })?;
    let label = label.unwrap_or("");
    if label.len() > 16 {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "mkswap",
            "a swap label is at most 16 bytes",
        ));
    }
    // The first page: 1 KiB of boot bits (left zero), then
    // version, last_page, nr_badpages, uuid[16], volume_name[16], and the
    // signature in the page's last 10 bytes.
    let mut page = vec![0u8; SWAP_PAGE as usize];
    page[1024..1028].copy_from_slice(&1u32.to_le_bytes());
    page[1028..1032].copy_from_slice(&last_page.to_le_bytes());
    page[1036..1052].copy_from_slice(&random_uuid());
    page[1052..1052 + label.len()].copy_from_slice(label.as_bytes());
    page[SWAP_PAGE as usize - 10..].copy_from_slice(b"SWAPSPACE2");
    disk.write_at(&page, 0)
        .map_err(|e| Error::disk("mkswap", e))?;
    disk.flush().map_err(|e| Error::disk("mkswap", e))
}

fn random_uuid() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}
