//! Byte encodings: directory records, SUSP/Rock Ridge entries, dates, path table records.

/// Logical sector size.
pub const SECTOR: usize = 2048;
/// Fixed part of a directory record before the identifier.
pub const RECORD_BASE: usize = 33;
/// Size of a CE (continuation) entry.
pub const CE_LEN: usize = 28;
/// Rock Ridge flags of the RR entry.
pub const RR_PX: u8 = 0x01;
/// RR flag: NM present.
pub const RR_NM: u8 = 0x08;
/// RR flag: TF present.
pub const RR_TF: u8 = 0x80;

/// Little-endian then big-endian u32 (ISO 9660 "both-byte order").
pub fn both32(v: u32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&v.to_le_bytes());
    b[4..].copy_from_slice(&v.to_be_bytes());
    b
}

/// Both-byte order u16.
pub fn both16(v: u16) -> [u8; 4] {
    let mut b = [0u8; 4];
    b[..2].copy_from_slice(&v.to_le_bytes());
    b[2..].copy_from_slice(&v.to_be_bytes());
    b
}

/// A UTC time broken down once and encoded in both ISO 9660 date forms.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
}

impl Stamp {
    /// From seconds since the Unix epoch, clamped to what the 7-byte form holds (1970..=2155).
    pub fn from_unix(secs: i64) -> Stamp {
        let max = 5_806_080_000; // 2153-12-31, safely inside the 1900+255 range
        let secs = secs.clamp(0, max);
        let (year, month, day) = crate::metadata::civil_from_days(secs / 86_400);
        let rem = (secs % 86_400) as u32;
        Stamp {
            year,
            month,
            day,
            hour: rem / 3600,
            min: rem / 60 % 60,
            sec: rem % 60,
        }
    }

    /// The 7-byte directory record form (years since 1900, ..., GMT offset 0).
    pub fn short(&self) -> [u8; 7] {
        [
            (self.year - 1900) as u8,
            self.month as u8,
            self.day as u8,
            self.hour as u8,
            self.min as u8,
            self.sec as u8,
            0,
        ]
    }

    /// The 17-byte volume descriptor form (`YYYYMMDDHHMMSScc` + GMT offset 0).
    pub fn long(&self) -> [u8; 17] {
        let s = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}00",
            self.year, self.month, self.day, self.hour, self.min, self.sec
        );
        let mut b = [0u8; 17];
        b[..16].copy_from_slice(&s.as_bytes()[..16]);
        b
    }
}

/// "Not specified" in the 17-byte form.
pub fn unset_long() -> [u8; 17] {
    let mut b = [b'0'; 17];
    b[16] = 0;
    b
}

/// One directory record; `susp` is the inline System Use area.
pub fn dir_record(
    extent: u32,
    size: u32,
    is_dir: bool,
    ident: &[u8],
    stamp: &Stamp,
    susp: &[u8],
) -> Vec<u8> {
    let pad = usize::from(ident.len().is_multiple_of(2));
    let mut len = RECORD_BASE + ident.len() + pad + susp.len();
    len += len % 2;
    let mut r = Vec::with_capacity(len);
    r.push(len as u8);
    r.push(0);
    r.extend_from_slice(&both32(extent));
    r.extend_from_slice(&both32(size));
    r.extend_from_slice(&stamp.short());
    r.push(if is_dir { 0x02 } else { 0x00 });
    r.push(0);
    r.push(0);
    r.extend_from_slice(&both16(1));
    r.push(ident.len() as u8);
    r.extend_from_slice(ident);
    if pad == 1 {
        r.push(0);
    }
    r.extend_from_slice(susp);
    r.resize(len, 0);
    r
}

fn entry(sig: &[u8; 2], body: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(4 + body.len());
    e.extend_from_slice(sig);
    e.push((4 + body.len()) as u8);
    e.push(1);
    e.extend_from_slice(body);
    e
}

/// SP: the SUSP indicator, first in the root's `.` record.
pub fn sp() -> Vec<u8> {
    entry(b"SP", &[0xBE, 0xEF, 0])
}

/// RR: the RRIP 1.09 flags entry Linux reads to decide which entries follow.
pub fn rr(flags: u8) -> Vec<u8> {
    entry(b"RR", &[flags])
}

/// PX: POSIX mode, link count, uid, gid (RRIP 1.10 form, as genisoimage).
pub fn px(mode: u32, nlink: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(32);
    body.extend_from_slice(&both32(mode));
    body.extend_from_slice(&both32(nlink));
    body.extend_from_slice(&both32(0));
    body.extend_from_slice(&both32(0));
    entry(b"PX", &body)
}

/// TF: modification, access and attribute-change times.
pub fn tf(stamp: &Stamp) -> Vec<u8> {
    let mut body = vec![0x0E];
    for _ in 0..3 {
        body.extend_from_slice(&stamp.short());
    }
    entry(b"TF", &body)
}

/// NM entries for `name`, split in pieces of at most 250 bytes with the CONTINUE flag.
pub fn nm(name: &str) -> Vec<Vec<u8>> {
    let bytes = name.as_bytes();
    let chunks: Vec<&[u8]> = bytes.chunks(250).collect();
    let last = chunks.len().saturating_sub(1);
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let mut body = vec![if i < last { 0x01 } else { 0x00 }];
            body.extend_from_slice(chunk);
            entry(b"NM", &body)
        })
        .collect()
}

/// ER: the extension reference naming RRIP_1991A, as genisoimage writes it.
pub fn er() -> Vec<u8> {
    let id = b"RRIP_1991A";
    let des =
        b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
    let src = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";
    let mut body = vec![id.len() as u8, des.len() as u8, src.len() as u8, 1];
    body.extend_from_slice(id);
    body.extend_from_slice(des);
    body.extend_from_slice(src);
    entry(b"ER", &body)
}

/// CE: where the rest of this record's System Use entries continue.
pub fn ce(lba: u32, offset: u32, len: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(24);
    body.extend_from_slice(&both32(lba));
    body.extend_from_slice(&both32(offset));
    body.extend_from_slice(&both32(len));
    entry(b"CE", &body)
}

/// Splits SUSP entries between the record (at most `room` bytes, a CE included when needed)
/// and a continuation area. Returns (inline entries, continuation bytes).
pub fn pack_susp(entries: Vec<Vec<u8>>, room: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
    let total: usize = entries.iter().map(Vec::len).sum();
    if total <= room {
        return (entries, Vec::new());
    }
    let mut inline = Vec::new();
    let mut used = 0;
    let mut rest = entries.into_iter().peekable();
    while let Some(e) = rest.peek() {
        if used + e.len() + CE_LEN > room {
            break;
        }
        used += e.len();
        inline.extend(rest.next());
    }
    let cont: Vec<u8> = rest.flatten().collect();
    (inline, cont)
}

/// A path table record; `le` picks the L (little-endian) or M table.
pub fn path_record(ident: &[u8], extent: u32, parent: u16, le: bool) -> Vec<u8> {
    let mut r = vec![ident.len() as u8, 0];
    if le {
        r.extend_from_slice(&extent.to_le_bytes());
        r.extend_from_slice(&parent.to_le_bytes());
    } else {
        r.extend_from_slice(&extent.to_be_bytes());
        r.extend_from_slice(&parent.to_be_bytes());
    }
    r.extend_from_slice(ident);
    if ident.len() % 2 == 1 {
        r.push(0);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let s = Stamp::from_unix(1_700_000_000); // 2023-11-14 22:13:20 UTC
        assert_eq!(s.short(), [123, 11, 14, 22, 13, 20, 0]);
        assert_eq!(&s.long()[..16], b"2023111422132000");
        assert_eq!(Stamp::from_unix(-5).short()[0], 70);
    }

    #[test]
    fn record_lengths_agree() {
        let st = Stamp::from_unix(0);
        for (ident, susp) in [(&b"a"[..], 0usize), (b"ab", 5), (b"\0", 36)] {
            let r = dir_record(1, 2, true, ident, &st, &vec![0; susp]);
            assert!(r.len() >= RECORD_BASE + ident.len() + susp);
            assert_eq!(r[0] as usize, r.len());
            assert_eq!(r.len() % 2, 0);
        }
    }

    #[test]
    fn long_names_continue() {
        let parts = nm(&"n".repeat(255));
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0][4], 1);
        assert_eq!(parts[0].len(), 255);
        assert_eq!(parts[1][4], 0);
        assert_eq!(er().len(), 237);
        let (inline, cont) = pack_susp(vec![vec![0; 100], vec![0; 100]], 150);
        assert_eq!(inline.len(), 1);
        assert_eq!(cont.len(), 100);
    }
}
