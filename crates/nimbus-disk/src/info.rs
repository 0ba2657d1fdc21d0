//! `qemu-img info`: what an image's headers say, in qemu-img's own JSON.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::qcow2::header::{COMPAT_LAZY_REFCOUNTS, INCOMPAT_CORRUPT, INCOMPAT_DIRTY, MAGIC};
use crate::qcow2::snapshot::{self, Snapshot};
use crate::{Error, ErrorKind, Format, Result, disk, policy};

/// The qcow2-specific part of `info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qcow2Info {
    /// "0.10" (v2) or "1.1" (v3).
    pub compat: &'static str,
    /// "zlib" or "zstd".
    pub compression_type: &'static str,
    /// Lazy refcounts (v3 only).
    pub lazy_refcounts: bool,
    /// Refcount width.
    pub refcount_bits: u32,
    /// The corrupt bit (v3 only).
    pub corrupt: bool,
    /// Extended L2 entries (v3 only).
    pub extended_l2: bool,
    /// External data file name, if any.
    pub data_file: Option<String>,
}

/// What `info` reports about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The file name as given.
    pub filename: PathBuf,
    /// Its format.
    pub format: Format,
    /// Virtual disk size.
    pub virtual_size: u64,
    /// Bytes allocated on the host (st_blocks * 512).
    pub actual_size: u64,
    /// Cluster size (qcow2).
    pub cluster_size: Option<u64>,
    /// Backing file name as recorded.
    pub backing_filename: Option<String>,
    /// Backing file path as QEMU resolves it.
    pub full_backing_filename: Option<PathBuf>,
    /// Recorded backing format.
    pub backing_filename_format: Option<String>,
    /// The dirty bit.
    pub dirty: bool,
    /// qcow2 details.
    pub qcow2: Option<Qcow2Info>,
    /// Internal snapshots.
    pub snapshots: Vec<Snapshot>,
}

/// Guesses a format from the first bytes, as `qemu-img info` does without
/// `-f`. Only for reporting; images are opened with their recorded format.
pub fn probe(path: &Path) -> Result<Format> {
    let mut f = File::open(path).map_err(|e| Error::io("open", e).with_path(path))?;
    let mut magic = [0u8; 4];
    let n = f
        .read(&mut magic)
        .map_err(|e| Error::io("read", e).with_path(path))?;
    Ok(if n == 4 && magic == MAGIC {
        Format::Qcow2
    } else {
        Format::Raw
    })
}

/// Describes the image at `path` (probing the format when `format` is None).
pub fn info(path: &Path, format: Option<Format>) -> Result<ImageInfo> {
    let format = match format {
        Some(f) => f,
        None => probe(path)?,
    };
    let file = File::open(path).map_err(|e| Error::io("open", e).with_path(path))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io("stat", e).with_path(path))?;
    let mut info = ImageInfo {
        filename: path.to_path_buf(),
        format,
        // QEMU counts whole 512-byte sectors.
        virtual_size: meta.len().next_multiple_of(512),
        actual_size: meta.blocks() * 512,
        cluster_size: None,
        backing_filename: None,
        full_backing_filename: None,
        backing_filename_format: None,
        dirty: false,
        qcow2: None,
        snapshots: Vec::new(),
    };
    if format == Format::Qcow2 {
        let h = disk::read_qcow2_header(&file, path)?;
        info.virtual_size = h.size;
        info.cluster_size = Some(h.cluster_size());
        info.dirty = h.incompatible & INCOMPAT_DIRTY != 0;
        if let Some(b) = &h.backing_file {
            info.full_backing_filename = Some(policy::backing_path(path, b));
            info.backing_filename = Some(b.clone());
            info.backing_filename_format = h.backing_format.clone();
        }
        info.qcow2 = Some(Qcow2Info {
            compat: if h.version == 2 { "0.10" } else { "1.1" },
            compression_type: h.compression_name(),
            lazy_refcounts: h.compatible & COMPAT_LAZY_REFCOUNTS != 0,
            refcount_bits: h.refcount_bits(),
            corrupt: h.incompatible & INCOMPAT_CORRUPT != 0,
            extended_l2: h.extended_l2(),
            data_file: h.data_file.clone(),
        });
        info.snapshots = snapshot::read(&file, path, &h)?.0;
    }
    Ok(info)
}

/// `info --backing-chain`: the image and every backing file below it.
/// Backing files are described by their recorded format, probed only when
/// none is recorded (headers are read, nothing is opened for I/O).
pub fn info_chain(path: &Path, format: Option<Format>) -> Result<Vec<ImageInfo>> {
    let mut out = vec![info(path, format)?];
    let mut seen = std::collections::HashSet::new();
    loop {
        let last = &out[out.len() - 1];
        let Some(next) = last.full_backing_filename.clone() else {
            break;
        };
        if out.len() > disk::MAX_CHAIN_DEPTH
            || !seen.insert(std::fs::canonicalize(&next).unwrap_or(next.clone()))
        {
            return Err(Error::new(
                ErrorKind::Corrupt,
                "info",
                "backing chain loops or is too deep",
            )
            .with_path(path));
        }
        let fmt = match last.backing_filename_format.as_deref() {
            Some(f) => Some(f.parse::<Format>()?),
            None => None,
        };
        out.push(info(&next, fmt)?);
    }
    Ok(out)
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

impl ImageInfo {
    /// JSON with the keys, order and indentation of `qemu-img info
    /// --output=json` (QEMU 7.2), indented by `indent` levels.
    pub fn to_json(&self, indent: usize) -> String {
        let pad = "    ".repeat(indent);
        let mut f: Vec<String> = Vec::new();
        if !self.snapshots.is_empty() {
            let items: Vec<String> = self
                .snapshots
                .iter()
                .map(|s| {
                    let p = "    ".repeat(indent + 3);
                    let mut kv = Vec::new();
                    if let Some(ic) = s.icount {
                        kv.push(format!("{p}\"icount\": {ic}"));
                    }
                    kv.push(format!(
                        "{p}\"vm-clock-nsec\": {}",
                        s.vm_clock_nsec % 1_000_000_000
                    ));
                    kv.push(format!("{p}\"name\": {}", esc(&s.name)));
                    kv.push(format!("{p}\"date-sec\": {}", s.date_sec));
                    kv.push(format!("{p}\"date-nsec\": {}", s.date_nsec));
                    kv.push(format!(
                        "{p}\"vm-clock-sec\": {}",
                        s.vm_clock_nsec / 1_000_000_000
                    ));
                    kv.push(format!("{p}\"id\": {}", esc(&s.id)));
                    kv.push(format!("{p}\"vm-state-size\": {}", s.vm_state_size));
                    format!("{pad}        {{\n{}\n{pad}        }}", kv.join(",\n"))
                })
                .collect();
            f.push(format!(
                "\"snapshots\": [\n{}\n{pad}    ]",
                items.join(",\n")
            ));
        }
        if let Some(b) = &self.backing_filename_format {
            f.push(format!("\"backing-filename-format\": {}", esc(b)));
        }
        f.push(format!("\"virtual-size\": {}", self.virtual_size));
        f.push(format!(
            "\"filename\": {}",
            esc(&self.filename.to_string_lossy())
        ));
        if let Some(cs) = self.cluster_size {
            f.push(format!("\"cluster-size\": {cs}"));
        }
        f.push(format!("\"format\": {}", esc(self.format.as_str())));
        f.push(format!("\"actual-size\": {}", self.actual_size));
        if let Some(q) = &self.qcow2 {
            let p = "    ".repeat(indent + 3);
            let mut d = vec![
                format!("{p}\"compat\": {}", esc(q.compat)),
                format!("{p}\"compression-type\": {}", esc(q.compression_type)),
            ];
            if q.compat != "0.10" {
                d.push(format!("{p}\"lazy-refcounts\": {}", q.lazy_refcounts));
            }
            d.push(format!("{p}\"refcount-bits\": {}", q.refcount_bits));
            if q.compat != "0.10" {
                d.push(format!("{p}\"corrupt\": {}", q.corrupt));
                d.push(format!("{p}\"extended-l2\": {}", q.extended_l2));
            }
            if let Some(df) = &q.data_file {
                d.push(format!("{p}\"data-file\": {}", esc(df)));
            }
            f.push(format!(
                "\"format-specific\": {{\n{pad}        \"type\": \"qcow2\",\n{pad}        \"data\": {{\n{}\n{pad}        }}\n{pad}    }}",
                d.join(",\n")
            ));
        }
        if let Some(fb) = &self.full_backing_filename {
            f.push(format!(
                "\"full-backing-filename\": {}",
                esc(&fb.to_string_lossy())
            ));
        }
        if let Some(b) = &self.backing_filename {
            f.push(format!("\"backing-filename\": {}", esc(b)));
        }
        f.push(format!("\"dirty-flag\": {}", self.dirty));
        let body: Vec<String> = f.into_iter().map(|l| format!("{pad}    {l}")).collect();
        format!("{pad}{{\n{}\n{pad}}}", body.join(",\n"))
    }

    /// The human-readable form `qemu-img info` prints.
    pub fn to_human(&self) -> String {
        let mut s = String::new();
        s += &format!("image: {}\n", self.filename.display());
        s += &format!("file format: {}\n", self.format);
        s += &format!(
            "virtual size: {} ({} bytes)\n",
            human_size(self.virtual_size),
            self.virtual_size
        );
        s += &format!("disk size: {}\n", human_size(self.actual_size));
        if let Some(cs) = self.cluster_size {
            s += &format!("cluster_size: {cs}\n");
        }
        if let Some(b) = &self.backing_filename {
            s += &format!("backing file: {b}");
            if let Some(fb) = &self.full_backing_filename
                && fb.as_os_str() != b.as_str()
            {
                s += &format!(" (actual path: {})", fb.display());
            }
            s += "\n";
        }
        if let Some(f) = &self.backing_filename_format {
            s += &format!("backing file format: {f}\n");
        }
        if !self.snapshots.is_empty() {
            s += "Snapshot list:\n";
            s += &format!(
                "{:<4} {:<17} {:>10} {:>19} {:>15} {:>10}\n",
                "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT"
            );
            for sn in &self.snapshots {
                s += &format!(
                    "{:<4} {:<17} {:>10} {:>19} {:>15} {:>10}\n",
                    sn.id,
                    sn.name,
                    human_size(sn.vm_state_size),
                    sn.date_sec,
                    sn.vm_clock_nsec,
                    sn.icount.map(|i| i.to_string()).unwrap_or_default()
                );
            }
        }
        if let Some(q) = &self.qcow2 {
            s += "Format specific information:\n";
            s += &format!("    compat: {}\n", q.compat);
            s += &format!("    compression type: {}\n", q.compression_type);
            if q.compat != "0.10" {
                s += &format!("    lazy refcounts: {}\n", q.lazy_refcounts);
            }
            s += &format!("    refcount bits: {}\n", q.refcount_bits);
            if q.compat != "0.10" {
                s += &format!("    corrupt: {}\n", q.corrupt);
                s += &format!("    extended l2: {}\n", q.extended_l2);
            }
        }
        s
    }
}

/// qemu's `size_to_str`: three significant digits, binary units, moving
/// to the next unit once the value reaches 1000.
pub fn human_size(v: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut val = v as f64;
    let mut i = 0;
    while val >= 1000.0 && i < UNITS.len() - 1 {
        val /= 1024.0;
        i += 1;
    }
    let digits = if val >= 100.0 {
        0
    } else if val >= 10.0 {
        1
    } else if val >= 1.0 || val == 0.0 {
        2
    } else {
        3
    };
    let mut t = format!("{val:.digits$}");
    if t.contains('.') {
        t = t.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{t} {}", UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_print_like_qemu() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(4096), "4 KiB");
        assert_eq!(human_size(200704), "196 KiB");
        assert_eq!(human_size(1 << 30), "1 GiB");
        assert_eq!(human_size(1000 * 1024), "0.977 MiB");
        assert_eq!(human_size(1536 << 20), "1.5 GiB");
    }
}
