//! A window of a disk (a partition, or the whole disk) as the block device
//! the ext2/3/4 library reads and writes.

use std::sync::Arc;

use nimbus_disk::BlockDevice;

/// `len` bytes of `disk` starting at `start`; nothing outside is reachable.
pub(crate) struct Window {
    disk: Arc<dyn BlockDevice>,
    start: u64,
    len: u64,
    writable: bool,
}

impl Window {
    /// The window `[start, start + len)` of `disk`, which must lie inside it.
    pub(crate) fn new(
        disk: Arc<dyn BlockDevice>,
        start: u64,
        len: u64,
        writable: bool,
    ) -> Option<Self> {
        let end = start.checked_add(len)?;
        if end > disk.size() {
            return None;
        }
        Some(Window {
            disk,
            start,
            len,
            writable,
        })
    }

    fn absolute(&self, offset: u64, len: usize) -> fs_ext4::Result<u64> {
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.len => Ok(self.start + offset),
            _ => Err(fs_ext4::Error::OutOfBounds),
        }
    }
}

fn io(err: nimbus_disk::Error) -> fs_ext4::Error {
    fs_ext4::Error::Io(std::io::Error::other(err.to_string()))
}

impl fs_ext4::block_io::BlockDevice for Window {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> fs_ext4::Result<()> {
        let at = self.absolute(offset, buf.len())?;
        self.disk.read_at(buf, at).map_err(io)
    }

    fn size_bytes(&self) -> u64 {
        self.len
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> fs_ext4::Result<()> {
        if !self.writable {
            return Err(fs_ext4::Error::ReadOnly);
        }
        let at = self.absolute(offset, buf.len())?;
        self.disk.write_at(buf, at).map_err(io)
    }

    /// The ext4 library flushes at every journal fence; each would be an
    /// fsync of the image (about 50 per injection, nearly all of its wall
    /// time). Every user of a `Window` flushes the disk once when done
    /// (`Vfs::teardown`, the formatters), which is the durability that
    /// matters: the disk being edited is an instance disk not yet booted,
    /// rebuilt from its base if the host dies in the middle.
    fn flush(&self) -> fs_ext4::Result<()> {
        Ok(())
    }

    fn is_writable(&self) -> bool {
        self.writable
    }
}
