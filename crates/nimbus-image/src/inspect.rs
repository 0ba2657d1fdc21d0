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
            if let Some(declared) = &self.declared
                && let Some(reason) = self.inner.early_refusal(declared)
            {
                return Err(reason);
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> FormatVerdict {
        let report = self.inner.finish();
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
