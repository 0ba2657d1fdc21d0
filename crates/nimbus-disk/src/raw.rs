//! Raw disk images: the file's bytes are the disk's bytes.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::{BlockDevice, Error, ErrorKind, Result};

/// A raw image file opened for reading, or reading and writing.
#[derive(Debug)]
pub struct RawFile {
    file: File,
    size: u64,
    writable: bool,
}

impl RawFile {
    /// Opens `path` as a raw disk.
    pub fn open(path: &Path, writable: bool) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(|e| Error::io("open", e).with_path(path))?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("stat", e).with_path(path))?
            .len();
        Ok(RawFile {
            file,
            size,
            writable,
        })
    }

    /// Whether `len` bytes from `offset` are a hole (read as zeros), and
    /// how far that answer holds, from SEEK_DATA/SEEK_HOLE.
    pub(crate) fn extent(&self, offset: u64, len: u64) -> (bool, u64) {
        use nix::unistd::{Whence, lseek};
        let Ok(off) = i64::try_from(offset) else {
            return (false, len);
        };
        match lseek(&self.file, off, Whence::SeekData) {
            Err(nix::errno::Errno::ENXIO) => (true, len),
            Err(_) => (false, len),
            Ok(data) if data > off => (true, ((data - off) as u64).min(len)),
            Ok(_) => match lseek(&self.file, off, Whence::SeekHole) {
                Ok(hole) if hole > off => (false, ((hole - off) as u64).min(len)),
                _ => (false, len),
            },
        }
    }

    fn check_range(&self, operation: &'static str, offset: u64, len: usize) -> Result<()> {
        let end = offset.checked_add(len as u64);
        match end {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(Error::new(
                ErrorKind::OutOfBounds,
                operation,
                format!(
                    "{len} bytes at offset {offset} exceed the disk size {}",
                    self.size
                ),
            )),
        }
    }
}

impl BlockDevice for RawFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        self.check_range("read", offset, buf.len())?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| Error::io("read", e))
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> Result<()> {
        if !self.writable {
            return Err(Error::new(
                ErrorKind::NotAllowed,
                "write",
                "the disk was opened read-only",
            ));
        }
        self.check_range("write", offset, buf.len())?;
        self.file
            .write_all_at(buf, offset)
            .map_err(|e| Error::io("write", e))
    }

    fn flush(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io("flush", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unaligned_round_trip_and_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.raw");
        std::fs::write(&path, vec![0u8; 4096]).unwrap();
        let disk = RawFile::open(&path, true).unwrap();
        disk.write_at(b"hello", 4091).unwrap();
        let mut buf = [0u8; 7];
        disk.read_at(&mut buf, 4089).unwrap();
        assert_eq!(&buf, b"\0\0hello");
        let err = disk.read_at(&mut buf, 4090).unwrap_err();
        assert_eq!(err.kind, ErrorKind::OutOfBounds);
    }
}
