//! The vfat config drive (`config_drive_format = vfat`): FAT16 labelled `config-2`, 64 MiB like
//! nova's (`CONFIGDRIVESIZE_BYTES`), larger only when the files need it.
//!
//! The whole tree is known before writing, so the layout is computed first and the image written
//! front to back: boot sector, two FATs, root directory, directory clusters, file clusters. Each
//! directory and file is contiguous. Names get a long-name (VFAT) entry unless they are a valid
//! upper-case 8.3 name. Every time stamp is the FAT epoch (1980-01-01).

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom, Write};

use crate::error::{Error, ErrorKind, Result};
use crate::tree::{DirNode, Tree};

/// nova's config drive size.
pub const DEFAULT_SIZE: u64 = 64 * 1024 * 1024;

const SECTOR: u64 = 512;
const ENTRY: usize = 32;
const MAX_CLUSTERS: u64 = 65_524;
const MIN_CLUSTERS: u64 = 4_085;
const ATTR_DIR: u8 = 0x10;
const ATTR_ARCHIVE: u8 = 0x20;
const ATTR_VOLUME: u8 = 0x08;
const ATTR_LFN: u8 = 0x0F;
/// 1980-01-01 in the FAT date format.
const FAT_DATE: u16 = (1 << 5) | 1;

/// Options of the vfat image.
#[derive(Debug, Clone)]
pub struct VfatOptions {
    /// Volume label (at most 11 bytes); nova uses `config-2`.
    pub label: String,
    /// Volume serial number; random when `None`, as mkfs.vfat does.
    pub volume_id: Option<u32>,
}

impl Default for VfatOptions {
    fn default() -> Self {
        VfatOptions {
            label: "config-2".into(),
            volume_id: None,
        }
    }
}

fn unsupported(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unsupported, "write vfat", msg)
}

/// FAT geometry for an image of `total_sectors`.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    total_sectors: u64,
    sectors_per_cluster: u64,
    sectors_per_fat: u64,
    root_entries: u64,
    clusters: u64,
}

impl Geometry {
    fn new(size: u64, root_entries: u64) -> Result<Geometry> {
        let total_sectors = size / SECTOR;
        let root_sectors = (root_entries * ENTRY as u64).div_ceil(SECTOR);
        let mut spc = 4;
        while spc <= 64 {
            let mut spf = 1;
            loop {
                let data = total_sectors.saturating_sub(1 + root_sectors + 2 * spf);
                let clusters = data / spc;
                let need = ((clusters + 2) * 2).div_ceil(SECTOR);
                if need <= spf {
                    if (MIN_CLUSTERS..=MAX_CLUSTERS).contains(&clusters) {
                        return Ok(Geometry {
                            total_sectors,
                            sectors_per_cluster: spc,
                            sectors_per_fat: spf,
                            root_entries,
                            clusters,
                        });
                    }
                    break;
                }
                spf = need;
            }
            spc *= 2;
        }
        Err(unsupported(
            "the files do not fit a FAT16 volume (about 2 GiB)",
        ))
    }

    fn cluster_bytes(&self) -> u64 {
        self.sectors_per_cluster * SECTOR
    }

    fn data_start(&self) -> u64 {
        (1 + 2 * self.sectors_per_fat + (self.root_entries * ENTRY as u64).div_ceil(SECTOR))
            * SECTOR
    }
}

/// One directory entry to write: its long name (if needed) and short entry fields.
struct Entry {
    short: [u8; 11],
    long: Option<Vec<u16>>,
    attr: u8,
    cluster: u16,
    size: u32,
}

/// A directory's layout.
struct DirPlan<'a> {
    node: &'a DirNode,
    parent: usize,
    first_cluster: u16,
    clusters: u64,
}

/// Writes `tree` as a FAT16 image to `disk`; returns the image size in bytes.
pub fn write_vfat<T: Read + Write + Seek>(
    tree: &Tree,
    options: &VfatOptions,
    mut disk: T,
) -> Result<u64> {
    if options.label.len() > 11 || !options.label.is_ascii() {
        return Err(Error::new(
            ErrorKind::Invalid,
            "write vfat",
            "label must be at most 11 ASCII characters",
        ));
    }
    let mut label = [b' '; 11];
    label[..options.label.len()].copy_from_slice(options.label.as_bytes());
    let volume_id = options.volume_id.unwrap_or_else(rand::random);

    // Directories in breadth-first order; the root (index 0) lives in the fixed root region.
    let mut dirs = vec![DirPlan {
        node: &tree.root,
        parent: 0,
        first_cluster: 0,
        clusters: 0,
    }];
    let mut i = 0;
    while i < dirs.len() {
        let node = dirs[i].node;
        for d in sorted_dirs(node) {
            dirs.push(DirPlan {
                node: d,
                parent: i,
                first_cluster: 0,
                clusters: 0,
            });
        }
        i += 1;
    }
    let root_slots = entry_slots(&tree.root, true)?;
    let root_entries = (root_slots as u64).max(512).div_ceil(16) * 16;

    let mut size = DEFAULT_SIZE;
    let geo = loop {
        let geo = Geometry::new(size, root_entries)?;
        let needed = clusters_needed(&dirs, geo.cluster_bytes())?;
        if needed <= geo.clusters {
            break geo;
        }
        size = (geo.data_start() + needed * geo.cluster_bytes() + needed * 4 + 1024 * 1024)
            .div_ceil(1024 * 1024)
            * 1024
            * 1024;
    };

    // Allocate clusters: directories first, then files, each contiguous.
    let mut next: u64 = 2;
    for d in dirs.iter_mut().skip(1) {
        d.clusters = (entry_slots(d.node, false)? as u64 * ENTRY as u64)
            .div_ceil(geo.cluster_bytes())
            .max(1);
        d.first_cluster = next as u16;
        next += d.clusters;
    }
    let mut file_clusters: Vec<Vec<(u16, u64)>> = Vec::new();
    for d in &dirs {
        let mut v = Vec::new();
        for f in sorted_files(d.node) {
            let n = f.content.len().div_ceil(geo.cluster_bytes());
            v.push((if n == 0 { 0 } else { next as u16 }, n));
            next += n;
        }
        file_clusters.push(v);
    }

    // FAT: media marker, end-of-chain marker, then one chain per allocation.
    let mut fat = vec![0u8; (geo.sectors_per_fat * SECTOR) as usize];
    let mut set = |cluster: u64, value: u16| {
        let at = cluster as usize * 2;
        fat[at..at + 2].copy_from_slice(&value.to_le_bytes());
    };
    set(0, 0xFFF8);
    set(1, 0xFFFF);
    let chains = dirs
        .iter()
        .skip(1)
        .map(|d| (u64::from(d.first_cluster), d.clusters));
    let file_chains = file_clusters
        .iter()
        .flatten()
        .filter(|(_, n)| *n > 0)
        .map(|(c, n)| (u64::from(*c), *n));
    for (start, n) in chains.chain(file_chains) {
        for c in start..start + n {
            set(
                c,
                if c + 1 == start + n {
                    0xFFFF
                } else {
                    (c + 1) as u16
                },
            );
        }
    }

    let io = |e| Error::io("write vfat", e);
    disk.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut out = std::io::BufWriter::new(&mut disk);
    out.write_all(&boot_sector(&geo, volume_id, &label))
        .map_err(io)?;
    out.write_all(&fat).map_err(io)?;
    out.write_all(&fat).map_err(io)?;

    // Directory contents.
    let entries_of = |idx: usize| -> Result<Vec<u8>> {
        let d = &dirs[idx];
        let mut list = Vec::new();
        if idx == 0 {
            list.push(Entry {
                short: label,
                long: None,
                attr: ATTR_VOLUME,
                cluster: 0,
                size: 0,
            });
        } else {
            let parent = if d.parent == 0 {
                0
            } else {
                dirs[d.parent].first_cluster
            };
            list.push(Entry {
                short: *b".          ",
                long: None,
                attr: ATTR_DIR,
                cluster: d.first_cluster,
                size: 0,
            });
            list.push(Entry {
                short: *b"..         ",
                long: None,
                attr: ATTR_DIR,
                cluster: parent,
                size: 0,
            });
        }
        let mut taken = HashSet::new();
        let children = dirs
            .iter()
            .filter(|c| c.parent == idx && !std::ptr::eq(c.node, d.node));
        for (c, sub) in children.zip(sorted_dirs(d.node)) {
            let (short, long) = fat_names(&sub.name, &mut taken)?;
            list.push(Entry {
                short,
                long,
                attr: ATTR_DIR,
                cluster: c.first_cluster,
                size: 0,
            });
        }
        for (f, (cluster, _)) in sorted_files(d.node).into_iter().zip(&file_clusters[idx]) {
            let (short, long) = fat_names(&f.name, &mut taken)?;
            let size = u32::try_from(f.content.len())
                .map_err(|_| unsupported(format!("{}: 4 GiB or more", f.name)))?;
            list.push(Entry {
                short,
                long,
                attr: ATTR_ARCHIVE,
                cluster: *cluster,
                size,
            });
        }
        Ok(list.iter().flat_map(encode_entry).collect())
    };
    let mut root = entries_of(0)?;
    root.resize((root_entries * ENTRY as u64) as usize, 0);
    out.write_all(&root).map_err(io)?;
    for (idx, d) in dirs.iter().enumerate().skip(1) {
        let mut bytes = entries_of(idx)?;
        bytes.resize((d.clusters * geo.cluster_bytes()) as usize, 0);
        out.write_all(&bytes).map_err(io)?;
    }
    for d in &dirs {
        for f in sorted_files(d.node) {
            let len = f.content.len();
            if len == 0 {
                continue;
            }
            let copied = std::io::copy(&mut f.content.open()?.take(len), &mut out).map_err(io)?;
            if copied != len {
                return Err(Error::new(
                    ErrorKind::Invalid,
                    "write vfat",
                    format!("{}: file shrank while packing", f.name),
                ));
            }
            let pad = copied.div_ceil(geo.cluster_bytes()) * geo.cluster_bytes() - copied;
            out.write_all(&vec![0u8; pad as usize]).map_err(io)?;
        }
    }
    out.flush().map_err(io)?;
    drop(out);
    // The rest is free space: extend to full size without writing it (sparse on files).
    let total = geo.total_sectors * SECTOR;
    let end = disk.stream_position().map_err(io)?;
    if end < total {
        disk.seek(SeekFrom::Start(total - 1)).map_err(io)?;
        disk.write_all(&[0]).map_err(io)?;
    }
    disk.flush().map_err(io)?;
    Ok(total)
}

fn sorted_dirs(d: &DirNode) -> Vec<&DirNode> {
    let mut v: Vec<&DirNode> = d.dirs.iter().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

fn sorted_files(d: &DirNode) -> Vec<&crate::tree::FileNode> {
    let mut v: Vec<_> = d.files.iter().collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// Directory slots a directory needs (long-name entries included).
fn entry_slots(d: &DirNode, root: bool) -> Result<usize> {
    let mut n = if root { 1 } else { 2 };
    let names = d
        .dirs
        .iter()
        .map(|x| &x.name)
        .chain(d.files.iter().map(|x| &x.name));
    for name in names {
        check_fat_name(name)?;
        n += 1 + name.encode_utf16().count().div_ceil(13);
    }
    Ok(n)
}

fn clusters_needed(dirs: &[DirPlan], cluster: u64) -> Result<u64> {
    let mut n = 0;
    for d in dirs.iter().skip(1) {
        n += (entry_slots(d.node, false)? as u64 * ENTRY as u64)
            .div_ceil(cluster)
            .max(1);
    }
    for d in dirs {
        n += d
            .node
            .files
            .iter()
            .map(|f| f.content.len().div_ceil(cluster))
            .sum::<u64>();
    }
    Ok(n)
}

/// FAT long names cannot hold these characters; refuse rather than rename silently.
fn check_fat_name(name: &str) -> Result<()> {
    let bad = name.chars().any(|c| {
        matches!(c, '"' | '*' | '/' | ':' | '<' | '>' | '?' | '\\' | '|') || (c as u32) < 0x20
    });
    if bad || name.ends_with('.') || name.ends_with(' ') || name.encode_utf16().count() > 255 {
        return Err(unsupported(format!(
            "{name:?} is not a valid FAT long name"
        )));
    }
    Ok(())
}

/// The 8.3 name (unique in the directory) and the long name when the 8.3 one does not say it all.
fn fat_names(name: &str, taken: &mut HashSet<[u8; 11]>) -> Result<([u8; 11], Option<Vec<u16>>)> {
    check_fat_name(name)?;
    let valid =
        |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || "!#$%&'()-@^_`{}~".contains(c);
    let (base, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot + 1..]),
        _ => (name, ""),
    };
    let exact = !base.is_empty()
        && base.len() <= 8
        && ext.len() <= 3
        && base.chars().all(valid)
        && ext.chars().all(valid)
        && name.matches('.').count() <= 1;
    let clean = |s: &str, max: usize| -> Vec<u8> {
        s.chars()
            .filter(|c| *c != ' ' && *c != '.')
            .map(|c| {
                let u = c.to_ascii_uppercase();
                if valid(u) { u as u8 } else { b'_' }
            })
            .take(max)
            .collect()
    };
    let mut short = [b' '; 11];
    if exact {
        short[..base.len()].copy_from_slice(base.as_bytes());
        short[8..8 + ext.len()].copy_from_slice(ext.as_bytes());
        if taken.insert(short) {
            return Ok((short, None));
        }
    }
    let b = clean(base, 8);
    let e = clean(ext, 3);
    short[8..].fill(b' ');
    short[8..8 + e.len()].copy_from_slice(&e);
    for n in 1..1_000_000u32 {
        let tail = format!("~{n}");
        let keep = (8 - tail.len()).min(b.len());
        let mut s = short;
        s[..8].fill(b' ');
        s[..keep].copy_from_slice(&b[..keep]);
        if keep == 0 {
            s[0] = b'_';
        }
        let start = keep.max(1);
        s[start..start + tail.len()].copy_from_slice(tail.as_bytes());
        if taken.insert(s) {
            return Ok((s, Some(name.encode_utf16().collect())));
        }
    }
    Err(unsupported("too many similar names in one directory"))
}

fn lfn_checksum(short: &[u8; 11]) -> u8 {
    short.iter().fold(0u8, |sum, b| {
        ((sum & 1) << 7).wrapping_add(sum >> 1).wrapping_add(*b)
    })
}

fn encode_entry(e: &Entry) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(long) = &e.long {
        let sum = lfn_checksum(&e.short);
        let pieces = long.len().div_ceil(13);
        for seq in (1..=pieces).rev() {
            let mut units = [0xFFFFu16; 13];
            let chunk = &long[(seq - 1) * 13..(seq * 13).min(long.len())];
            units[..chunk.len()].copy_from_slice(chunk);
            if chunk.len() < 13 {
                units[chunk.len()] = 0;
            }
            let mut r = [0u8; ENTRY];
            r[0] = seq as u8 | if seq == pieces { 0x40 } else { 0 };
            r[11] = ATTR_LFN;
            r[13] = sum;
            let slots = (1..11)
                .step_by(2)
                .chain((14..26).step_by(2))
                .chain((28..32).step_by(2));
            for (slot, unit) in slots.zip(units) {
                r[slot..slot + 2].copy_from_slice(&unit.to_le_bytes());
            }
            out.extend_from_slice(&r);
        }
    }
    let mut r = [0u8; ENTRY];
    r[..11].copy_from_slice(&e.short);
    r[11] = e.attr;
    if e.attr != ATTR_VOLUME {
        r[16..18].copy_from_slice(&FAT_DATE.to_le_bytes());
        r[18..20].copy_from_slice(&FAT_DATE.to_le_bytes());
    }
    r[24..26].copy_from_slice(&FAT_DATE.to_le_bytes());
    r[26..28].copy_from_slice(&e.cluster.to_le_bytes());
    r[28..32].copy_from_slice(&e.size.to_le_bytes());
    out.extend_from_slice(&r);
    out
}

fn boot_sector(geo: &Geometry, volume_id: u32, label: &[u8; 11]) -> Vec<u8> {
    let mut b = vec![0u8; SECTOR as usize];
    b[0..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
    b[3..11].copy_from_slice(b"mkfs.fat");
    b[11..13].copy_from_slice(&(SECTOR as u16).to_le_bytes());
    b[13] = geo.sectors_per_cluster as u8;
    b[14..16].copy_from_slice(&1u16.to_le_bytes());
    b[16] = 2;
    b[17..19].copy_from_slice(&(geo.root_entries as u16).to_le_bytes());
    if geo.total_sectors < 65_536 {
        b[19..21].copy_from_slice(&(geo.total_sectors as u16).to_le_bytes());
    } else {
        b[32..36].copy_from_slice(&(geo.total_sectors as u32).to_le_bytes());
    }
    b[21] = 0xF8;
    b[22..24].copy_from_slice(&(geo.sectors_per_fat as u16).to_le_bytes());
    b[24..26].copy_from_slice(&32u16.to_le_bytes());
    b[26..28].copy_from_slice(&64u16.to_le_bytes());
    b[36] = 0x80;
    b[38] = 0x29;
    b[39..43].copy_from_slice(&volume_id.to_le_bytes());
    b[43..54].copy_from_slice(label);
    b[54..62].copy_from_slice(b"FAT16   ");
    // Boot code: print nothing and halt, for a firmware that tries to boot the drive.
    b[62..66].copy_from_slice(&[0xFA, 0xF4, 0xEB, 0xFD]);
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Content;

    #[test]
    fn geometry_for_64_mib_is_fat16_with_2k_clusters() {
        let g = Geometry::new(DEFAULT_SIZE, 512).unwrap();
        assert_eq!(g.sectors_per_cluster, 4);
        assert!((MIN_CLUSTERS..=MAX_CLUSTERS).contains(&g.clusters));
        assert!((g.clusters + 2) * 2 <= g.sectors_per_fat * SECTOR);
    }

    #[test]
    fn short_names() {
        let mut t = HashSet::new();
        assert_eq!(
            fat_names("README.TXT", &mut t).unwrap(),
            (*b"README  TXT", None)
        );
        let (s, l) = fat_names("meta_data.json", &mut t).unwrap();
        assert_eq!(&s, b"META_D~1JSO");
        assert_eq!(l.unwrap().len(), 14);
        let (s, _) = fat_names("meta_data.jsonx", &mut t).unwrap();
        assert_eq!(&s, b"META_D~2JSO");
        assert!(fat_names("a:b", &mut t).is_err());
    }

    #[test]
    fn deterministic_with_fixed_volume_id() {
        let mut t = Tree::new();
        t.add_file(
            "openstack/latest/meta_data.json",
            Content::Bytes(b"{}".to_vec()),
            false,
        )
        .unwrap();
        let opts = VfatOptions {
            volume_id: Some(1),
            ..VfatOptions::default()
        };
        let (mut a, mut b) = (
            std::io::Cursor::new(Vec::new()),
            std::io::Cursor::new(Vec::new()),
        );
        assert_eq!(write_vfat(&t, &opts, &mut a).unwrap(), DEFAULT_SIZE);
        write_vfat(&t, &opts, &mut b).unwrap();
        assert_eq!(a.get_ref().len() as u64, DEFAULT_SIZE);
        assert!(a.get_ref() == b.get_ref());
    }
}
