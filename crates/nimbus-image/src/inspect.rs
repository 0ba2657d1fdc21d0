//! The upload pipeline's format observer: `nimbus-disk`'s streaming
//! inspector, with the declared `disk_format` it must confirm.

use crate::pipeline::{FormatObserver, FormatVerdict};

/// The format name the inspector reports for data declared as `disk_format`.
/// Kernel, ramdisk and AMI images are raw data; a partitioned disk is raw.
pub fn expected_format(disk_format: &str) -> &str {
    match disk_format {
        "aki" | "ari" | "ami" => "raw",
        other => other,
    }
}

/// Whether the inspector's `detected` format is what `disk_format` declares.
pub fn format_matches(disk_format: &str, detected: &str) -> bool {
    let expected = expected_format(disk_format);
    detected == expected || (expected == "raw" && detected == "gpt")
}

/// Feeds `nimbus_disk::Inspector`; refuses as soon as the leading bytes
/// show the data is unsafe or (for `bare` containers) not the declared format.
pub struct DiskInspector {
    inner: nimbus_disk::Inspector,
    /// Declared format, when the container is bare and it must match.
    declared: Option<String>,
    /// A kernel or ramdisk (`aki`, `ari`): QEMU loads it with `-kernel` /
    /// `-initrd` and never reads it as a disk, so disk-safety findings (a
    /// bzImage's legacy boot sector looks like a broken MBR) do not apply;
    /// it must still not be a disk-image container.
    boot_file: bool,
    decided: bool,
}

impl DiskInspector {
    /// An observer for data declared as `disk_format` in `container_format`.
    /// Archives (ova, docker, compressed, ...) are inspected for safety
    /// only: their bytes are not a disk.
    pub fn new(disk_format: &str, container_format: &str) -> DiskInspector {
        DiskInspector {
            inner: nimbus_disk::Inspector::new(),
            declared: (container_format == "bare")
                .then(|| expected_format(disk_format).to_string()),
            boot_file: matches!(disk_format, "aki" | "ari"),
            decided: false,
        }
    }
}

impl FormatObserver for DiskInspector {
    fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.inner.feed(chunk);
        // Check once, when the leading bytes have decided the format; the
        // rest of the verdict waits for the end of the stream.
        if !self.decided && self.inner.detected().is_some() {
            self.decided = true;
            if self.boot_file {
                return match self.inner.detected() {
                    Some("raw" | "gpt") | None => Ok(()),
                    Some(other) => Err(format!(
                        "image content is '{other}', but a kernel or ramdisk must be a plain file"
                    )),
                };
            }
            if let Some(declared) = &self.declared
                && let Some(reason) = self.inner.early_refusal(declared)
            {
                return Err(reason);
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> FormatVerdict {
        let boot_file = self.boot_file;
        let report = self.inner.finish();
        if boot_file && matches!(report.format, "raw" | "gpt") {
            return FormatVerdict {
                format: "raw".to_string(),
                virtual_size: Some(report.actual_size),
                safety: Ok(()),
            };
        }
        FormatVerdict {
            format: report.format.to_string(),
            virtual_size: Some(report.virtual_size),
            safety: match report.unsafe_reason {
                None => Ok(()),
                Some(r) => Err(format!("image is unsafe: {r}")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A legacy boot sector as a bzImage starts: 0x55AA, garbage where an
    /// MBR keeps its partition table.
    fn bzimage_like() -> Vec<u8> {
        let mut data = vec![0u8; 64 * 1024];
        data[446] = 0x12;
        data[510] = 0x55;
        data[511] = 0xaa;
        data
    }

    fn verdict(disk_format: &str, data: &[u8]) -> Result<FormatVerdict, String> {
        let mut observer = Box::new(DiskInspector::new(disk_format, "bare"));
        for chunk in data.chunks(4096) {
            observer.feed(chunk)?;
        }
        Ok(observer.finish())
    }

    #[test]
    fn a_kernel_is_not_judged_as_a_disk() {
        let data = bzimage_like();
        let as_raw = verdict("raw", &data);
        assert!(
            as_raw.is_err() || as_raw.as_ref().is_ok_and(|v| v.safety.is_err()),
            "a broken MBR declared raw must be refused"
        );
        for format in ["aki", "ari"] {
            let v = verdict(format, &data).unwrap();
            assert_eq!(v.format, "raw");
            assert_eq!(v.safety, Ok(()));
            assert_eq!(v.virtual_size, Some(data.len() as u64));
        }
    }

    #[test]
    fn a_qcow2_declared_as_kernel_is_refused() {
        let mut data = vec![0u8; 64 * 1024];
        data[..4].copy_from_slice(b"QFI\xfb");
        data[4..8].copy_from_slice(&3u32.to_be_bytes());
        data[20..24].copy_from_slice(&16u32.to_be_bytes());
        data[24..32].copy_from_slice(&(1u64 << 20).to_be_bytes());
        let refused = match verdict("aki", &data) {
            Err(_) => true,
            Ok(v) => v.format != "raw" || v.safety.is_err(),
        };
        assert!(refused);
    }
}
