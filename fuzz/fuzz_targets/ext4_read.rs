//! Arbitrary bytes as a guest disk: partition tables, ext2/3/4 mounting,
//! path resolution, reads, and one injection write. Errors are fine;
//! panics, hangs and huge allocations are not.
#![no_main]

use std::sync::{Arc, Mutex};

use libfuzzer_sys::fuzz_target;
use nimbus_disk::{BlockDevice, Error, ErrorKind, Result};
use nimbus_guestfs::{InjectPartition, InjectRequest, Item, Vfs, inject_data, partition};

/// A disk in memory, so each input is independent and nothing touches files.
struct Mem(Mutex<Vec<u8>>);

impl Mem {
    fn range(&self, off: u64, len: usize) -> Result<std::ops::Range<usize>> {
        let size = self.size();
        match off.checked_add(len as u64) {
            Some(end) if end <= size => Ok(off as usize..end as usize),
            _ => Err(Error::new(ErrorKind::OutOfBounds, "mem", "out of bounds")),
        }
    }
}

impl BlockDevice for Mem {
    fn size(&self) -> u64 {
        self.0.lock().map(|v| v.len() as u64).unwrap_or(0)
    }
    fn read_at(&self, buf: &mut [u8], off: u64) -> Result<()> {
        let r = self.range(off, buf.len())?;
        let v = self
            .0
            .lock()
            .map_err(|_| Error::new(ErrorKind::Io, "mem", "poisoned"))?;
        buf.copy_from_slice(&v[r]);
        Ok(())
    }
    fn write_at(&self, buf: &[u8], off: u64) -> Result<()> {
        let r = self.range(off, buf.len())?;
        let mut v = self
            .0
            .lock()
            .map_err(|_| Error::new(ErrorKind::Io, "mem", "poisoned"))?;
        v[r].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&self) -> Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    // Small inputs are padded out so a superblock at 1024 can exist.
    let mut bytes = data.to_vec();
    if bytes.len() < 64 * 1024 {
        bytes.resize(64 * 1024, 0);
    }
    let disk: Arc<dyn BlockDevice> = Arc::new(Mem(Mutex::new(bytes)));
    let _ = partition::partitions(disk.as_ref());
    if let Ok(vfs) = Vfs::setup(disk.clone(), InjectPartition::WholeDisk, false) {
        for path in [
            "/etc/passwd",
            "/etc/shadow",
            "/root/.ssh/authorized_keys",
            "/a/b/c",
        ] {
            let _ = vfs.has_file(path);
            let _ = vfs.read_file(path);
            let _ = vfs.stat(path);
        }
    }
    let request = InjectRequest {
        metadata: vec![("k".into(), "v".into())],
        files: vec![("/etc/new/file".into(), b"x".to_vec())],
        mandatory: vec![Item::Files],
        ..Default::default()
    };
    let _ = inject_data(disk, InjectPartition::Inspect, &request);
});
