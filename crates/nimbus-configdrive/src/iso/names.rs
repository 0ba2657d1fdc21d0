//! File identifiers for the ISO 9660 and Joliet hierarchies.

use std::collections::HashSet;

/// Longest ISO 9660 identifier with `-l` (without `;1`).
const ISO_MAX: usize = 31;
/// Longest Joliet name in UCS-2 units (genisoimage's `-joliet-long`; the record limit).
pub const JOLIET_MAX: usize = 103;

/// ISO 9660 identifier as genisoimage writes it with `-l -allow-lowercase -allow-multidot
/// -ldots`: case and dots kept, other non-d-characters as `_`, at most 31 characters; files get
/// `;1` (and a `.` when they have no extension). Rock Ridge carries the real name.
pub fn iso_ident(name: &str, is_dir: bool, taken: &mut HashSet<Vec<u8>>) -> Vec<u8> {
    let mapped: String = name
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '_' => c,
            '.' if !is_dir => '.',
            _ => '_',
        })
        .collect();
    let base = if mapped.len() > ISO_MAX {
        // Keep the extension, as genisoimage does, when it is short.
        match mapped.rfind('.') {
            Some(dot) if mapped.len() - dot <= 8 && dot > 0 => {
                let ext = &mapped[dot..];
                format!("{}{}", &mapped[..ISO_MAX - ext.len()], ext)
            }
            _ => mapped[..ISO_MAX].to_string(),
        }
    } else {
        mapped
    };
    let mut candidate = base.clone();
    let mut n = 0u32;
    while taken.contains(&full(&candidate, is_dir)) {
        n += 1;
        let suffix = format!("{n:03}");
        let (stem, ext) = match base.rfind('.') {
            Some(dot) if !is_dir && dot > 0 => (&base[..dot], &base[dot..]),
            _ => (base.as_str(), ""),
        };
        let room = ISO_MAX.saturating_sub(ext.len() + suffix.len());
        let stem: String = stem.chars().take(room).collect();
        candidate = format!("{stem}{suffix}{ext}");
    }
    let ident = full(&candidate, is_dir);
    taken.insert(ident.clone());
    ident
}

fn full(name: &str, is_dir: bool) -> Vec<u8> {
    if is_dir {
        name.as_bytes().to_vec()
    } else if name.contains('.') {
        format!("{name};1").into_bytes()
    } else {
        format!("{name}.;1").into_bytes()
    }
}

/// Joliet identifier: the name in UCS-2 big-endian, with the characters Joliet forbids as `_`
/// and names past 103 units shortened (made unique with a numeric suffix).
pub fn joliet_ident(name: &str, taken: &mut HashSet<Vec<u8>>) -> Vec<u8> {
    let units: Vec<u16> = name
        .chars()
        .map(|c| match c {
            '*' | '/' | ':' | ';' | '?' | '\\' => '_',
            c => c,
        })
        .collect::<String>()
        .encode_utf16()
        .collect();
    let mut base = units;
    if base.len() > JOLIET_MAX {
        base.truncate(JOLIET_MAX);
        // Do not split a surrogate pair.
        if base.last().is_some_and(|u| (0xD800..0xDC00).contains(u)) {
            base.pop();
        }
    }
    let mut candidate = base.clone();
    let mut n = 0u32;
    while taken.contains(&be(&candidate)) {
        n += 1;
        let suffix: Vec<u16> = format!("~{n}").encode_utf16().collect();
        let mut stem = base.clone();
        stem.truncate(JOLIET_MAX - suffix.len());
        stem.extend(suffix);
        candidate = stem;
    }
    let ident = be(&candidate);
    taken.insert(ident.clone());
    ident
}

fn be(units: &[u16]) -> Vec<u8> {
    units.iter().flat_map(|u| u.to_be_bytes()).collect()
}

/// A string in UCS-2 big-endian, padded with UCS-2 spaces to `len` bytes.
pub fn ucs2_field(s: &str, len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = s
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .take(len & !1)
        .collect();
    while out.len() + 1 < len {
        out.extend_from_slice(&[0x00, 0x20]);
    }
    out.resize(len, 0);
    out
}

/// An ASCII string padded with spaces to `len` bytes.
pub fn ascii_field(s: &str, len: usize) -> Vec<u8> {
    let mut out: Vec<u8> = s.bytes().take(len).collect();
    out.resize(len, b' ');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_names_follow_genisoimage_relaxed_rules() {
        let mut t = HashSet::new();
        assert_eq!(
            iso_ident("meta_data.json", false, &mut t),
            b"meta_data.json;1"
        );
        assert_eq!(iso_ident("user_data", false, &mut t), b"user_data.;1");
        assert_eq!(iso_ident("2012-08-10", true, &mut t), b"2012_08_10");
        // The same truncation genisoimage printed for this name in a manual check.
        let long = "ThisIsAVeryLongFileNameThatExceedsThirtyOneCharacters.txt";
        assert_eq!(
            iso_ident(long, false, &mut t),
            b"ThisIsAVeryLongFileNameThat.txt;1"
        );
        let again = iso_ident("ThisIsAVeryLongFileNameThatExceedsItAll.txt", false, &mut t);
        assert_eq!(again, b"ThisIsAVeryLongFileNameT001.txt;1");
    }

    #[test]
    fn joliet_names_are_ucs2_and_unique() {
        let mut t = HashSet::new();
        assert_eq!(joliet_ident("a:b", &mut t), vec![0, b'a', 0, b'_', 0, b'b']);
        let long = "x".repeat(150);
        let a = joliet_ident(&long, &mut t);
        let b = joliet_ident(&format!("{long}y"), &mut t);
        assert_eq!(a.len(), JOLIET_MAX * 2);
        assert_ne!(a, b);
    }

    #[test]
    fn fields_are_padded() {
        assert_eq!(ascii_field("config-2", 10), b"config-2  ");
        assert_eq!(ucs2_field("ab", 6), vec![0, b'a', 0, b'b', 0, 0x20]);
    }
}
