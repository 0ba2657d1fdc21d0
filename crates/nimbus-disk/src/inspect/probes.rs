//! Probes for the formats whose identity and size sit in fixed header
//! windows: qcow2, vhd, vhdx, vdi, qed, luks, iso, and MBR/GPT disks.

use super::region::Region;
use super::{Probe, State};
use crate::qcow2::header::{self, INCOMPAT_CORRUPT, INCOMPAT_DATA_FILE, MAGIC};

fn le16(b: &[u8], o: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[o], b[o + 1]]))
}
fn le32(b: &[u8], o: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]))
}
fn le64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}
fn be64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_be_bytes(a)
}

/// How much of a qcow2 file the probe keeps: the fixed header, its
/// extensions and the backing file name. Real images need < 1 KiB; an
/// image whose header area runs past this is refused.
const QCOW2_WINDOW: usize = 64 << 10;

/// qcow2: the header, its extensions and the backing name.
#[derive(Debug)]
pub(crate) struct Qcow2Probe {
    buf: Vec<u8>,
    state: State,
    size: Option<u64>,
}

impl Default for Qcow2Probe {
    fn default() -> Self {
        Qcow2Probe {
            buf: Vec::new(),
            state: State::Pending,
            size: None,
        }
    }
}

impl Qcow2Probe {
    fn evaluate(&mut self, file_len: Option<u64>) {
        if self.buf.len() < 4 {
            if file_len.is_some() {
                self.state = State::NoMatch;
            }
            return;
        }
        if self.buf[..4] != MAGIC {
            self.state = State::NoMatch;
            self.buf = Vec::new();
            return;
        }
        match header::parse(&self.buf, file_len) {
            Ok(h) => {
                self.size = Some(h.size);
                self.state = State::Match(qcow2_safety(&h));
                self.buf = Vec::new();
            }
            Err(header::ParseError::NeedMore(n)) => {
                if n > QCOW2_WINDOW || self.buf.len() >= QCOW2_WINDOW {
                    self.state = State::Match(Err(
                        "qcow2 header area runs past the inspection window".into(),
                    ));
                    self.buf = Vec::new();
                } else if file_len.is_some() {
                    self.state = State::Match(Err("qcow2 header is truncated".into()));
                }
            }
            Err(header::ParseError::Invalid(e)) => {
                self.state = State::Match(Err(format!("invalid qcow2 header: {}", e.message)));
                self.buf = Vec::new();
            }
        }
    }
}

fn qcow2_safety(h: &header::Header) -> Result<(), String> {
    if h.backing_file.is_some() {
        return Err("qcow2 image has a backing file".into());
    }
    if h.incompatible & INCOMPAT_DATA_FILE != 0 || h.data_file.is_some() {
        return Err("qcow2 image has an external data file".into());
    }
    // Bits 0-3 (dirty, corrupt, data file, compression type) are known;
    // anything above is a feature we cannot vouch for.
    if h.incompatible & !0xf != 0 {
        return Err(format!(
            "qcow2 image has unknown incompatible features {:#x}",
            h.incompatible & !0xf
        ));
    }
    if h.incompatible & INCOMPAT_CORRUPT != 0 {
        return Err("qcow2 image is marked corrupt".into());
    }
    Ok(())
}

impl Probe for Qcow2Probe {
    fn name(&self) -> &'static str {
        "qcow2"
    }
    fn feed(&mut self, pos: u64, chunk: &[u8]) {
        if pos != self.buf.len() as u64 {
            return;
        }
        let n = chunk.len().min(QCOW2_WINDOW - self.buf.len());
        self.buf.extend_from_slice(&chunk[..n]);
        self.evaluate(None);
    }
    fn finish(&mut self, total: u64) {
        if self.state == State::Pending {
            self.evaluate(Some(total));
        }
        if self.state == State::Pending {
            self.state = State::Match(Err("qcow2 header is truncated".into()));
        }
    }
    fn state(&self) -> State {
        self.state.clone()
    }
    fn virtual_size(&self) -> Option<u64> {
        self.size
    }
    fn held(&self) -> usize {
        self.buf.capacity()
    }
}

/// A probe that decides from one fixed region.
macro_rules! fixed_probe {
    ($name:ident, $fmt:literal, $off:expr, $len:expr) => {
        #[derive(Debug)]
        pub(crate) struct $name {
            r: Region,
            total: Option<u64>,
        }
        impl Default for $name {
            fn default() -> Self {
                $name {
                    r: Region::new($off, $len),
                    total: None,
                }
            }
        }
    };
}

fixed_probe!(Vhd, "vhd", 0, 512);
fixed_probe!(Vdi, "vdi", 0, 512);
fixed_probe!(Qed, "qed", 0, 64);
fixed_probe!(Luks, "luks", 0, 592);
fixed_probe!(Iso, "iso", 32768, 2048);
fixed_probe!(Gpt, "gpt", 0, 512);

/// Implements the `Probe` plumbing for a fixed probe given its
/// `matches(&[u8]) -> bool`, `verdict` and `size` functions.
macro_rules! fixed_impl {
    ($name:ident, $fmt:literal, $needs_end:expr) => {
        impl Probe for $name {
            fn name(&self) -> &'static str {
                $fmt
            }
            fn feed(&mut self, pos: u64, chunk: &[u8]) {
                self.r.feed(pos, chunk);
                if self.r.complete() && !self.is_match() {
                    self.r.release();
                    self.r.missed = true;
                }
            }
            fn finish(&mut self, total: u64) {
                self.total = Some(total);
            }
            fn state(&self) -> State {
                if self.r.missed {
                    return State::NoMatch;
                }
                if !self.r.complete() {
                    return if self.total.is_some() {
                        State::NoMatch
                    } else {
                        State::Pending
                    };
                }
                State::Match(self.verdict())
            }
            fn needs_end(&self) -> bool {
                $needs_end && self.total.is_none() && self.r.complete() && !self.r.missed
            }
            fn virtual_size(&self) -> Option<u64> {
                self.size()
            }
            fn held(&self) -> usize {
                self.r.held()
            }
        }
    };
}

fixed_impl!(Vhd, "vhd", false);
impl Vhd {
    fn is_match(&self) -> bool {
        self.r.data.starts_with(b"conectix")
    }
    fn verdict(&self) -> Result<(), String> {
        Ok(())
    }
    /// QEMU's rule (block/vpc.c): the CHS geometry, unless the creator is
    /// known to use the current-size field or the geometry is maxed out.
    fn size(&self) -> Option<u64> {
        let d = &self.r.data;
        let current = be64(d, 48);
        let creator = &d[28..32];
        if matches!(creator, b"win " | b"qem2" | b"d2v " | b"CTXS") || creator.starts_with(b"tap") {
            return Some(current);
        }
        let sectors =
            u64::from(u16::from_be_bytes([d[56], d[57]])) * u64::from(d[58]) * u64::from(d[59]);
        if sectors == 65535 * 16 * 255 {
            Some(current)
        } else {
            Some(sectors * 512)
        }
    }
}

fixed_impl!(Vdi, "vdi", false);
impl Vdi {
    fn is_match(&self) -> bool {
        le32(&self.r.data, 0x40) == 0xBEDA_107F
    }
    fn verdict(&self) -> Result<(), String> {
        Ok(())
    }
    fn size(&self) -> Option<u64> {
        Some(le64(&self.r.data, 0x170))
    }
}

fixed_impl!(Qed, "qed", false);
impl Qed {
    fn is_match(&self) -> bool {
        self.r.data.starts_with(b"QED\0")
    }
    fn verdict(&self) -> Result<(), String> {
        Err("QED images are not allowed".into())
    }
    fn size(&self) -> Option<u64> {
        Some(le64(&self.r.data, 48))
    }
}

fixed_impl!(Luks, "luks", true);
impl Luks {
    fn is_match(&self) -> bool {
        self.r.data.starts_with(b"LUKS\xba\xbe")
    }
    fn verdict(&self) -> Result<(), String> {
        let version = u16::from_be_bytes([self.r.data[6], self.r.data[7]]);
        if version != 1 {
            return Err(format!("LUKS version {version} is not supported"));
        }
        Ok(())
    }
    fn size(&self) -> Option<u64> {
        let payload = u64::from(u32::from_be_bytes([
            self.r.data[104],
            self.r.data[105],
            self.r.data[106],
            self.r.data[107],
        ]));
        self.total.and_then(|t| t.checked_sub(payload * 512))
    }
}

fixed_impl!(Iso, "iso", true);
impl Iso {
    fn is_match(&self) -> bool {
        matches!(&self.r.data[1..6], b"CD001" | b"NSR02" | b"NSR03")
    }
    fn verdict(&self) -> Result<(), String> {
        Ok(())
    }
    fn size(&self) -> Option<u64> {
        if self.r.data[0] == 1 && &self.r.data[1..6] == b"CD001" {
            Some(le32(&self.r.data, 80) * le16(&self.r.data, 128))
        } else {
            self.total
        }
    }
}

fixed_impl!(Gpt, "gpt", true);
impl Gpt {
    fn is_match(&self) -> bool {
        let d = &self.r.data;
        let is_fat = d[0x10] == 2 && d[0x15] == 0xF8;
        d[510] == 0x55 && d[511] == 0xAA && !is_fat
    }
    fn verdict(&self) -> Result<(), String> {
        let d = &self.r.data;
        let mut used = Vec::new();
        let mut gpt = false;
        for i in 0..4 {
            let p = &d[446 + 16 * i..446 + 16 * (i + 1)];
            if p[0] != 0 && p[0] != 0x80 {
                return Err(format!("MBR partition {i} has an invalid boot flag"));
            }
            if p[4] != 0 {
                used.push(i);
            }
            if p[4] == 0xEE {
                gpt = true;
                if (p[1], p[2], p[3]) != (0, 2, 0) {
                    return Err("protective MBR has an invalid start CHS".into());
                }
                if le32(p, 8) != 1 {
                    return Err("protective MBR has an invalid start LBA".into());
                }
            }
        }
        if gpt && used != [0] {
            return Err("protective MBR defines extra partitions".into());
        }
        if used.is_empty() {
            return Err("MBR defines no partitions".into());
        }
        Ok(())
    }
    fn size(&self) -> Option<u64> {
        self.total
    }
}

const VHDX_META_GUID: [u8; 16] = [
    0x06, 0xA2, 0x7C, 0x8B, 0x90, 0x47, 0x9A, 0x4B, 0xB8, 0xFE, 0x57, 0x5F, 0x05, 0x0F, 0x88, 0x6E,
];
const VHDX_VDS_GUID: [u8; 16] = [
    0x24, 0x42, 0xA5, 0x2F, 0x1B, 0xCD, 0x76, 0x48, 0xB2, 0x11, 0x5D, 0xBE, 0xD8, 0x3B, 0xF4, 0xB8,
];
const VHDX_TABLE: usize = 64 << 10;

/// VHDX: identifier, region table at 192 KiB, metadata table, then the
/// virtual-disk-size item.
#[derive(Debug)]
pub(crate) struct Vhdx {
    ident: Region,
    regions: Region,
    meta: Option<Region>,
    vds: Option<Region>,
    error: Option<String>,
    size: Option<u64>,
    ended: bool,
}

impl Default for Vhdx {
    fn default() -> Self {
        Vhdx {
            ident: Region::new(0, 8),
            regions: Region::new(192 << 10, VHDX_TABLE),
            meta: None,
            vds: None,
            error: None,
            size: None,
            ended: false,
        }
    }
}

impl Vhdx {
    fn is_match(&self) -> bool {
        self.ident.complete() && self.ident.data == b"vhdxfile"
    }

    fn fail(&mut self, why: &str) {
        self.error = Some(why.to_string());
        self.regions.release();
        self.meta = None;
        self.vds = None;
    }

    fn step(&mut self, pos: u64, chunk: &[u8]) {
        if self.regions.complete() && self.meta.is_none() {
            let d = &self.regions.data;
            if le32(d, 0) != 0x6967_6572 {
                return self.fail("VHDX region table signature not found");
            }
            let count = le32(d, 8) as usize;
            if count >= 2048 {
                return self.fail("VHDX region table has too many entries");
            }
            let found = (0..count)
                .map(|i| &d[16 + i * 32..16 + (i + 1) * 32])
                .find(|e| e[..16] == VHDX_META_GUID)
                .map(|e| le64(e, 16));
            let Some(off) = found else {
                return self.fail("VHDX metadata region not found");
            };
            self.regions.release();
            let mut r = Region::new(off, VHDX_TABLE);
            r.feed(pos, chunk);
            self.meta = Some(r);
        }
        if let (Some(m), None) = (&self.meta, &self.vds) {
            if m.missed {
                return self.fail("VHDX metadata region lies before the region table");
            }
            if m.data.len() < 32 {
                return;
            }
            if &m.data[..8] != b"metadata" {
                return self.fail("VHDX metadata table signature not found");
            }
            let count = le16(&m.data, 10) as usize;
            if count >= 2048 {
                return self.fail("VHDX metadata table has too many entries");
            }
            if m.data.len() < 32 + count * 32 {
                return;
            }
            let found = (0..count)
                .map(|i| &m.data[32 + i * 32..32 + (i + 1) * 32])
                .find(|e| e[..16] == VHDX_VDS_GUID)
                .map(|e| le32(e, 16));
            let Some(item) = found else {
                return self.fail("VHDX virtual disk size item not found");
            };
            let mut r = Region::new(m.offset + item, 8);
            r.feed(pos, chunk);
            self.vds = Some(r);
            if let Some(m) = &mut self.meta {
                m.release();
                m.missed = true;
            }
        }
        if let Some(v) = &self.vds {
            if v.missed {
                return self.fail("VHDX virtual disk size lies before the metadata table");
            }
            if v.complete() {
                self.size = Some(le64(&v.data, 0));
                self.vds = None;
                self.meta = None;
            }
        }
    }

    fn done(&self) -> bool {
        self.error.is_some() || self.size.is_some()
    }
}

impl Probe for Vhdx {
    fn name(&self) -> &'static str {
        "vhdx"
    }
    fn feed(&mut self, pos: u64, chunk: &[u8]) {
        self.ident.feed(pos, chunk);
        if self.ident.complete() && !self.is_match() {
            return;
        }
        if self.done() {
            return;
        }
        self.regions.feed(pos, chunk);
        if let Some(m) = &mut self.meta {
            m.feed(pos, chunk);
        }
        if let Some(v) = &mut self.vds {
            v.feed(pos, chunk);
        }
        self.step(pos, chunk);
    }
    fn finish(&mut self, _total: u64) {
        self.ended = true;
        if self.is_match() && !self.done() {
            self.fail("VHDX file ends before its virtual size is known");
        }
    }
    fn state(&self) -> State {
        if !self.ident.complete() {
            return if self.ended {
                State::NoMatch
            } else {
                State::Pending
            };
        }
        if !self.is_match() {
            return State::NoMatch;
        }
        match (&self.error, self.size) {
            (Some(e), _) => State::Match(Err(e.clone())),
            (None, Some(_)) => State::Match(Ok(())),
            (None, None) => State::Pending,
        }
    }
    fn virtual_size(&self) -> Option<u64> {
        self.size
    }
    fn held(&self) -> usize {
        self.ident.held()
            + self.regions.held()
            + self.meta.as_ref().map_or(0, Region::held)
            + self.vds.as_ref().map_or(0, Region::held)
    }
}
