//! The one trait every consumer reads and writes virtual disks through.

use crate::Result;

/// Random access to the guest-visible bytes of a virtual disk.
///
/// Requests may be small and unaligned; implementations handle the
/// alignment. Methods take `&self` so one open disk can be shared; an
/// implementation serialises internally where it must.
pub trait BlockDevice: Send + Sync {
    /// The virtual size in bytes.
    fn size(&self) -> u64;

    /// Fills `buf` with the bytes at `offset`. Reading past the end is an
    /// `OutOfBounds` error; unallocated areas read as zeros.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()>;

    /// Writes `buf` at `offset`. Writing past the end is an `OutOfBounds`
    /// error; a backing file is never written.
    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()>;

    /// Makes every completed write durable.
    fn flush(&self) -> Result<()>;
}
