//! Opening, reading, checking and describing arbitrary bytes as qcow2:
//! errors are fine, panics, hangs and huge allocations are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nimbus_disk::{BackingPolicy, BlockDevice, Format};

fuzz_target!(|data: &[u8]| {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(_) => return,
    };
    let path = dir.path().join("f.qcow2");
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let _ = nimbus_disk::info(&path, Some(Format::Qcow2));
    let _ = nimbus_disk::check(&path, Format::Qcow2);
    if let Ok(disk) = nimbus_disk::open(&path, Format::Qcow2, &BackingPolicy::deny_all(), false) {
        let size = disk.size();
        let mut buf = vec![0u8; 4096];
        for off in [0, size / 2, size.saturating_sub(4096)] {
            if off + 4096 <= size {
                let _ = disk.read_at(&mut buf, off);
            }
        }
    }
});
