//! The qcow2 header and its extensions, parsed from the file's first bytes
//! (QEMU `docs/interop/qcow2.txt`), with QEMU's own sanity caps.

use crate::{Error, ErrorKind, Result};

/// `QFI\xfb`.
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
/// Incompatible feature bits.
pub const INCOMPAT_DIRTY: u64 = 1 << 0;
/// The image is marked corrupt.
pub const INCOMPAT_CORRUPT: u64 = 1 << 1;
/// Guest data lives in an external data file.
pub const INCOMPAT_DATA_FILE: u64 = 1 << 2;
/// The compression type field is meaningful (zstd).
pub const INCOMPAT_COMPRESSION: u64 = 1 << 3;
/// L2 entries carry subcluster bitmaps.
pub const INCOMPAT_EXTL2: u64 = 1 << 4;
/// Compatible feature bit 0.
pub const COMPAT_LAZY_REFCOUNTS: u64 = 1 << 0;

const EXT_END: u32 = 0;
const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
const EXT_FEATURE_TABLE: u32 = 0x6803_f857;
const EXT_DATA_FILE: u32 = 0x4441_5441;
const EXT_CRYPTO: u32 = 0x0537_be77;
const EXT_BITMAPS: u32 = 0x2385_2875;

/// QEMU's caps (block/qcow2.h): beyond these an image is refused.
pub const MAX_L1_BYTES: u64 = 32 << 20;
/// Largest refcount table QEMU accepts.
pub const MAX_REFTABLE_BYTES: u64 = 8 << 20;
/// Most internal snapshots QEMU accepts.
pub const MAX_SNAPSHOTS: u32 = 65536;
/// Longest backing file name QEMU accepts.
pub const MAX_BACKING_NAME: u32 = 1023;

/// Everything the header cluster says about an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// 2 or 3.
    pub version: u32,
    /// log2 of the cluster size, 9..=21.
    pub cluster_bits: u32,
    /// The virtual size in bytes.
    pub size: u64,
    /// Encryption method (0 = none).
    pub crypt_method: u32,
    /// Entries in the active L1 table.
    pub l1_size: u32,
    /// Host offset of the active L1 table.
    pub l1_table_offset: u64,
    /// Host offset of the refcount table.
    pub refcount_table_offset: u64,
    /// Clusters the refcount table occupies.
    pub refcount_table_clusters: u32,
    /// Internal snapshots.
    pub nb_snapshots: u32,
    /// Host offset of the snapshot table.
    pub snapshots_offset: u64,
    /// Incompatible feature bits (v3; 0 for v2).
    pub incompatible: u64,
    /// Compatible feature bits.
    pub compatible: u64,
    /// Autoclear feature bits.
    pub autoclear: u64,
    /// log2 of the refcount width in bits.
    pub refcount_order: u32,
    /// Bytes of the fixed header.
    pub header_length: u32,
    /// 0 zlib, 1 zstd.
    pub compression_type: u8,
    /// Backing file name, as stored.
    pub backing_file: Option<String>,
    /// Backing format from the header extension.
    pub backing_format: Option<String>,
    /// External data file name from the header extension.
    pub data_file: Option<String>,
    /// Whether a bitmaps extension is present.
    pub has_bitmaps: bool,
}

impl Header {
    /// Cluster size in bytes.
    pub fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    /// Refcount width in bits.
    pub fn refcount_bits(&self) -> u32 {
        1 << self.refcount_order
    }

    /// Whether L2 entries are 128 bits wide (extended L2).
    pub fn extended_l2(&self) -> bool {
        self.incompatible & INCOMPAT_EXTL2 != 0
    }

    /// Entries per L2 table.
    pub fn l2_entries(&self) -> u64 {
        self.cluster_size() / if self.extended_l2() { 16 } else { 8 }
    }

    /// Bytes of guest data one L1 entry covers.
    pub fn l1_coverage(&self) -> u64 {
        self.l2_entries() << self.cluster_bits
    }

    /// "zlib" or "zstd".
    pub fn compression_name(&self) -> &'static str {
        if self.compression_type == 1 {
            "zstd"
        } else {
            "zlib"
        }
    }
}

fn be32(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_be_bytes(a)
}

fn be64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_be_bytes(a)
}

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidFormat, "parse qcow2 header", message)
}

/// Why a header could not be parsed from a prefix of the file.
#[derive(Debug)]
pub enum ParseError {
    /// More bytes are needed (the total prefix length required).
    NeedMore(usize),
    /// The header is invalid or refused.
    Invalid(Error),
}

impl From<Error> for ParseError {
    fn from(e: Error) -> Self {
        ParseError::Invalid(e)
    }
}

/// Parses the header from `buf`, a prefix of the file. `file_len` is the
/// length of the whole file when known (a prefix shorter than the first
/// cluster is then complete).
pub fn parse(buf: &[u8], file_len: Option<u64>) -> std::result::Result<Header, ParseError> {
    let need = |n: usize| -> std::result::Result<(), ParseError> {
        if buf.len() >= n {
            Ok(())
        } else if file_len.is_some_and(|l| l <= buf.len() as u64) {
            Err(bad(format!(
                "file ends after {} bytes, inside the header",
                buf.len()
            ))
            .into())
        } else {
            Err(ParseError::NeedMore(n))
        }
    };
    need(72)?;
    if buf[..4] != MAGIC {
        return Err(bad("no qcow2 magic").into());
    }
    let version = be32(buf, 4);
    if version != 2 && version != 3 {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "parse qcow2 header",
            format!("qcow2 version {version}"),
        )
        .into());
    }
    let backing_file_offset = be64(buf, 8);
    let backing_file_size = be32(buf, 16);
    let cluster_bits = be32(buf, 20);
    if !(9..=21).contains(&cluster_bits) {
        return Err(bad(format!("cluster_bits {cluster_bits} outside 9..21")).into());
    }
    let cluster_size = 1u64 << cluster_bits;
    let mut h = Header {
        version,
        cluster_bits,
        size: be64(buf, 24),
        crypt_method: be32(buf, 32),
        l1_size: be32(buf, 36),
        l1_table_offset: be64(buf, 40),
        refcount_table_offset: be64(buf, 48),
        refcount_table_clusters: be32(buf, 56),
        nb_snapshots: be32(buf, 60),
        snapshots_offset: be64(buf, 64),
        incompatible: 0,
        compatible: 0,
        autoclear: 0,
        refcount_order: 4,
        header_length: 72,
        compression_type: 0,
        backing_file: None,
        backing_format: None,
        data_file: None,
        has_bitmaps: false,
    };
    if version == 3 {
        need(104)?;
        h.incompatible = be64(buf, 72);
        h.compatible = be64(buf, 80);
        h.autoclear = be64(buf, 88);
        h.refcount_order = be32(buf, 96);
        h.header_length = be32(buf, 100);
        if h.header_length < 104 || u64::from(h.header_length) > cluster_size {
            return Err(bad(format!("header_length {} invalid", h.header_length)).into());
        }
        if h.header_length > 104 {
            need(105)?;
            h.compression_type = buf[104];
        }
        if h.refcount_order > 6 {
            return Err(bad(format!("refcount_order {} > 6", h.refcount_order)).into());
        }
    }
    validate_caps(&h)?;

    // Header extensions run from the end of the fixed header to the backing
    // file name (or the end of the first cluster).
    let ext_end = if backing_file_offset != 0 {
        backing_file_offset.min(cluster_size)
    } else {
        cluster_size
    };
    let mut off = u64::from(h.header_length);
    loop {
        if off + 8 > ext_end {
            break;
        }
        let o = off as usize;
        need(o + 8)?;
        let ty = be32(buf, o);
        let len = u64::from(be32(buf, o + 4));
        if ty == EXT_END {
            break;
        }
        let data_start = off + 8;
        let data_end = data_start
            .checked_add(len)
            .filter(|e| *e <= ext_end)
            .ok_or_else(|| {
                bad(format!(
                    "header extension {ty:#x} of {len} bytes runs past the extension area"
                ))
            })?;
        need(data_end as usize)?;
        let data = &buf[data_start as usize..data_end as usize];
        match ty {
            EXT_BACKING_FORMAT => h.backing_format = Some(text(data, "backing format")?),
            EXT_DATA_FILE => h.data_file = Some(text(data, "data file name")?),
            EXT_BITMAPS => h.has_bitmaps = true,
            EXT_CRYPTO => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    "parse qcow2 header",
                    "encrypted image",
                )
                .into());
            }
            EXT_FEATURE_TABLE => {}
            _ => {}
        }
        off = data_start + len.next_multiple_of(8);
    }

    if backing_file_offset != 0 {
        if backing_file_size > MAX_BACKING_NAME {
            return Err(bad(format!(
                "backing file name of {backing_file_size} bytes is too long"
            ))
            .into());
        }
        let end = backing_file_offset
            .checked_add(u64::from(backing_file_size))
            .filter(|e| *e <= cluster_size)
            .ok_or_else(|| bad("backing file name lies outside the first cluster"))?;
        need(end as usize)?;
        let name = &buf[backing_file_offset as usize..end as usize];
        h.backing_file = Some(text(name, "backing file name")?);
    }
    Ok(h)
}

fn text(data: &[u8], what: &str) -> Result<String> {
    let s = std::str::from_utf8(data).map_err(|_| bad(format!("{what} is not UTF-8")))?;
    if s.contains('\0') {
        return Err(bad(format!("{what} contains a NUL byte")));
    }
    Ok(s.to_string())
}

fn validate_caps(h: &Header) -> Result<()> {
    let cs = h.cluster_size();
    if h.crypt_method != 0 {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "parse qcow2 header",
            "encrypted image",
        ));
    }
    if u64::from(h.l1_size) * 8 > MAX_L1_BYTES {
        return Err(bad(format!(
            "L1 table of {} entries exceeds 32 MiB",
            h.l1_size
        )));
    }
    let needed_l1 = h.size.div_ceil(h.l1_coverage());
    if u64::from(h.l1_size) < needed_l1 {
        return Err(bad(format!(
            "L1 table of {} entries is too small for a {}-byte disk",
            h.l1_size, h.size
        )));
    }
    if u64::from(h.refcount_table_clusters) * cs > MAX_REFTABLE_BYTES {
        return Err(bad("refcount table exceeds 8 MiB"));
    }
    if h.nb_snapshots > MAX_SNAPSHOTS {
        return Err(bad(format!(
            "{} snapshots exceed {MAX_SNAPSHOTS}",
            h.nb_snapshots
        )));
    }
    for (name, off) in [
        ("L1 table", h.l1_table_offset),
        ("refcount table", h.refcount_table_offset),
        ("snapshot table", h.snapshots_offset),
    ] {
        if off % cs != 0 {
            return Err(bad(format!(
                "{name} offset {off:#x} is not cluster aligned"
            )));
        }
    }
    if h.extended_l2() && h.cluster_bits < 14 {
        return Err(bad("extended L2 needs clusters of at least 16 KiB"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal_v3() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[..4].copy_from_slice(&MAGIC);
        b[4..8].copy_from_slice(&3u32.to_be_bytes());
        b[20..24].copy_from_slice(&16u32.to_be_bytes());
        b[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
        b[36..40].copy_from_slice(&2u32.to_be_bytes());
        b[40..48].copy_from_slice(&(3u64 << 16).to_be_bytes());
        b[48..56].copy_from_slice(&(1u64 << 16).to_be_bytes());
        b[56..60].copy_from_slice(&1u32.to_be_bytes());
        b[96..100].copy_from_slice(&4u32.to_be_bytes());
        b[100..104].copy_from_slice(&104u32.to_be_bytes());
        b
    }

    #[test]
    fn parses_minimal_and_asks_for_more() {
        let b = minimal_v3();
        let h = parse(&b, None).unwrap();
        assert_eq!(h.size, 1 << 30);
        assert!(matches!(
            parse(&b[..80], None),
            Err(ParseError::NeedMore(104))
        ));
        assert!(matches!(
            parse(&b[..80], Some(80)),
            Err(ParseError::Invalid(_))
        ));
    }

    #[test]
    fn refuses_absurd_l1_and_cluster_bits() {
        let mut b = minimal_v3();
        b[36..40].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(parse(&b, None), Err(ParseError::Invalid(_))));
        let mut b = minimal_v3();
        b[20..24].copy_from_slice(&40u32.to_be_bytes());
        assert!(matches!(parse(&b, None), Err(ParseError::Invalid(_))));
    }

    #[test]
    fn extension_running_past_cluster_is_refused() {
        let mut b = minimal_v3();
        b[104..108].copy_from_slice(&EXT_BACKING_FORMAT.to_be_bytes());
        b[108..112].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(parse(&b, None), Err(ParseError::Invalid(_))));
    }
}
