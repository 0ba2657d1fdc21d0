//! VMDK: only monolithicSparse and streamOptimized images whose embedded
//! descriptor names no other file are safe.

use super::region::{Region, Tail};
use super::{Probe, State};

const DESC_OFFSET: u64 = 0x200;
/// The descriptor we keep at most; descriptors are a few hundred bytes, and
/// one claiming more is only accepted if its text ends (NUL) within this.
const DESC_CAP: usize = 128 << 10;
const GD_AT_END: u64 = u64::MAX;
const MARKER_FOOTER: u32 = 3;

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn le64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// The fields of a sparse header the checks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sparse {
    version: u32,
    capacity: u64,
    desc_sec: u64,
    desc_num: u64,
    gd_offset: u64,
}

fn sparse(b: &[u8]) -> Sparse {
    Sparse {
        version: le32(b, 4),
        capacity: le64(b, 12),
        desc_sec: le64(b, 28),
        desc_num: le64(b, 36),
        gd_offset: le64(b, 56),
    }
}

/// The VMDK probe.
#[derive(Debug)]
pub(crate) struct Vmdk {
    header: Region,
    desc: Option<Region>,
    desc_truncated: bool,
    tail: Option<Tail>,
    state: State,
    /// Verdict of the descriptor, pending the footer check.
    desc_verdict: Option<Result<(), String>>,
    capacity: Option<u64>,
    ended: bool,
}

impl Default for Vmdk {
    fn default() -> Self {
        Vmdk {
            header: Region::new(0, 512),
            desc: None,
            desc_truncated: false,
            tail: None,
            state: State::Pending,
            desc_verdict: None,
            capacity: None,
            ended: false,
        }
    }
}

fn is_text(b: &[u8]) -> bool {
    b.iter()
        .all(|&c| c == b'\n' || c == b'\r' || c == b'\t' || (0x20..0x7f).contains(&c))
}

impl Vmdk {
    fn decide_header(&mut self, pos: u64, chunk: &[u8]) {
        let h = &self.header.data;
        if h.len() < 64 {
            self.state = State::NoMatch;
            return;
        }
        if &h[..4] != b"KDMV" {
            let lower = String::from_utf8_lossy(h).to_ascii_lowercase();
            if is_text(h) && lower.contains("createtype=") {
                self.state = State::Match(Err(
                    "descriptor-only VMDK: its extents are separate files".to_string(),
                ));
            } else {
                self.state = State::NoMatch;
            }
            self.header.release();
            return;
        }
        let s = sparse(h);
        self.capacity = Some(s.capacity.saturating_mul(512));
        if !(1..=3).contains(&s.version) {
            self.state = State::Match(Err(format!("unsupported VMDK version {}", s.version)));
            return;
        }
        if s.desc_sec.checked_mul(512) != Some(DESC_OFFSET) {
            self.state = State::Match(Err(
                "VMDK descriptor is not at the expected location".to_string()
            ));
            return;
        }
        let size = s.desc_num.saturating_mul(512);
        self.desc_truncated = size > DESC_CAP as u64;
        let mut r = Region::new(DESC_OFFSET, size.min(DESC_CAP as u64) as usize);
        r.feed(pos, chunk);
        self.desc = Some(r);
        if s.gd_offset == GD_AT_END {
            let mut t = Tail::new(1536);
            t.feed(chunk);
            self.tail = Some(t);
        }
    }

    fn parse_descriptor(&mut self) {
        let Some(r) = &self.desc else { return };
        let data = &r.data;
        let text = match data.iter().position(|&b| b == 0) {
            Some(i) => &data[..i],
            None if self.desc_truncated => {
                self.desc_verdict = Some(Err("VMDK descriptor is too large".to_string()));
                return;
            }
            None => &data[..],
        };
        self.desc_verdict = Some(check_descriptor(text));
        self.desc = None;
    }

    fn check_footer(&self) -> Result<(), String> {
        let Some(t) = &self.tail else { return Ok(()) };
        if t.data.len() < 1536 || self.header.data.len() < 512 {
            return Err("VMDK stream ends before its footer".to_string());
        }
        let h = sparse(&self.header.data);
        let marker = &t.data[..512];
        let footer = &t.data[512..1024];
        let eos = &t.data[1024..];
        if &footer[..4] != b"KDMV" {
            return Err("VMDK header and footer signatures differ".to_string());
        }
        let f = sparse(footer);
        if f.version != h.version {
            return Err("VMDK header and footer versions differ".to_string());
        }
        if (f.desc_sec, f.desc_num) != (h.desc_sec, h.desc_num) {
            return Err("VMDK footer names a different descriptor".to_string());
        }
        if f.gd_offset == GD_AT_END {
            return Err("VMDK footer points to another footer".to_string());
        }
        if le32(marker, 8) != 0
            || le32(marker, 12) != MARKER_FOOTER
            || marker[16..].iter().any(|&b| b != 0)
        {
            return Err("VMDK footer marker is invalid".to_string());
        }
        if eos.iter().any(|&b| b != 0) {
            return Err("VMDK end-of-stream marker is invalid".to_string());
        }
        Ok(())
    }

    fn settle(&mut self) {
        if let Some(v) = &self.desc_verdict {
            if self.tail.is_none() || v.is_err() {
                self.state = State::Match(v.clone());
                self.tail = None;
            } else if self.ended {
                self.state = State::Match(self.check_footer());
                self.tail = None;
            }
        }
    }
}

fn check_descriptor(text: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(text)
        .ok()
        .filter(|t| t.is_ascii())
        .ok_or_else(|| "VMDK descriptor is not ASCII".to_string())?
        .to_ascii_lowercase();
    let kind = text
        .find("createtype=\"")
        .and_then(|i| {
            let rest = &text[i + 12..];
            rest.find('"')
                .filter(|e| *e < 64)
                .map(|e| rest[..e].to_string())
        })
        .unwrap_or_else(|| "formatnotfound".to_string());
    if kind != "monolithicsparse" && kind != "streamoptimized" {
        return Err(format!("unsupported VMDK subformat '{kind}'"));
    }
    let mut extents = 0;
    for line in text.split('\n').map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with("ddb") {
            continue;
        }
        if line
            .split('=')
            .next()
            .is_some_and(|k| line.contains('=') && !k.contains(' '))
        {
            continue;
        }
        if matches!(line.split(' ').next(), Some("rw" | "rdonly" | "noaccess")) {
            if line.contains('/') {
                return Err("VMDK extent names a path".to_string());
            }
            extents += 1;
            continue;
        }
        return Err("invalid line in the VMDK descriptor".to_string());
    }
    if extents == 0 {
        return Err("VMDK descriptor defines no extents".to_string());
    }
    Ok(())
}

impl Probe for Vmdk {
    fn name(&self) -> &'static str {
        "vmdk"
    }

    fn feed(&mut self, pos: u64, chunk: &[u8]) {
        if let Some(t) = &mut self.tail {
            t.feed(chunk);
        }
        if self.desc.is_none() && self.desc_verdict.is_none() && self.state == State::Pending {
            self.header.feed(pos, chunk);
            if self.header.complete() {
                self.decide_header(pos, chunk);
            }
        } else if let Some(r) = &mut self.desc {
            r.feed(pos, chunk);
        }
        if self.desc.as_ref().is_some_and(|r| r.complete()) {
            self.parse_descriptor();
        } else if self.desc.as_ref().is_some_and(|r| r.missed) {
            self.desc_verdict = Some(Err("VMDK descriptor was not found".to_string()));
            self.desc = None;
        }
        self.settle();
    }

    fn finish(&mut self, _total: u64) {
        self.ended = true;
        if self.state == State::Pending && self.desc.is_none() && self.desc_verdict.is_none() {
            if self.header.data.len() >= 64 {
                self.decide_header(u64::MAX, &[]);
            } else {
                self.state = State::NoMatch;
            }
        }
        if self.desc.is_some() {
            self.desc_verdict = Some(Err("VMDK stream ends inside its descriptor".to_string()));
            self.desc = None;
        }
        self.settle();
        if self.state == State::Pending && self.header.data.starts_with(b"KDMV") {
            self.state = State::Match(Err("VMDK stream is incomplete".to_string()));
        }
    }

    fn state(&self) -> State {
        self.state.clone()
    }

    fn needs_end(&self) -> bool {
        self.tail.is_some()
    }

    fn virtual_size(&self) -> Option<u64> {
        self.capacity.or(Some(0))
    }

    fn held(&self) -> usize {
        self.header.held()
            + self.desc.as_ref().map_or(0, Region::held)
            + self.tail.as_ref().map_or(0, Tail::held)
    }
}
