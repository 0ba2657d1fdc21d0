//! ISO 9660 writer with Joliet and Rock Ridge, laid out as genisoimage does for nova's call
//! (`-ldots -allow-lowercase -allow-multidot -l -J -r -V config-2`).
//!
//! Layout: system area (16 sectors), primary volume descriptor, Joliet supplementary volume
//! descriptor, terminator, the four path tables, the ISO 9660 directories (with Rock Ridge
//! entries), their continuation areas, the Joliet directories, then file data. Both
//! hierarchies point at the same file extents. Every time stamp is the one given in
//! [`IsoOptions`], so the same tree and options give the same bytes.
//!
//! Directories deeper than ISO 9660's eight levels are written in place rather than relocated
//! to `rr_moved` (what libisofs does when Rock Ridge is on): Linux, isoinfo and Windows read
//! them, and the guest sees no extra directory.

mod names;
mod records;

use std::collections::HashSet;
use std::io::{self, Read, Write};

use crate::error::{Error, ErrorKind, Result};
use crate::tree::{DirNode, FileNode, Tree};
use records::{SECTOR, Stamp};

/// Options of the ISO image.
#[derive(Debug, Clone)]
pub struct IsoOptions {
    /// Volume identifier; cloud-init finds the drive by `config-2`.
    pub volume_id: String,
    /// Publisher identifier (nova writes its product and version).
    pub publisher: String,
    /// Every time stamp in the image, seconds since the Unix epoch.
    pub timestamp: i64,
}

impl Default for IsoOptions {
    fn default() -> Self {
        IsoOptions {
            volume_id: "config-2".into(),
            publisher: String::new(),
            timestamp: 0,
        }
    }
}

const MODE_DIR: u32 = 0o040_555;
const MODE_FILE: u32 = 0o100_444;
const MODE_EXEC: u32 = 0o100_555;

struct Dir<'a> {
    node: &'a DirNode,
    parent: usize,
    iso_ident: Vec<u8>,
    joliet_ident: Vec<u8>,
    subdirs: Vec<usize>,
    files: Vec<usize>,
    iso_lba: u32,
    iso_size: u32,
    joliet_lba: u32,
    joliet_size: u32,
    iso_num: u16,
    joliet_num: u16,
}

struct FileEntry<'a> {
    node: &'a FileNode,
    iso_ident: Vec<u8>,
    joliet_ident: Vec<u8>,
    lba: u32,
    size: u32,
}

#[derive(Clone, Copy)]
enum Target {
    Dot,
    DotDot,
    Dir(usize),
    File(usize),
}

struct Plan<'a> {
    dirs: Vec<Dir<'a>>,
    files: Vec<FileEntry<'a>>,
    iso_order: Vec<usize>,
    joliet_order: Vec<usize>,
    stamp: Stamp,
    /// Where each continuation piece lives, in the order directories/records are written.
    ce_slots: Vec<(u32, u32)>,
    ce_lba: u32,
    ce_sectors: u32,
    pt_iso: [u32; 2],
    pt_joliet: [u32; 2],
    pt_iso_len: u32,
    pt_joliet_len: u32,
    total_sectors: u32,
}

fn unsupported(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unsupported, "write iso", msg)
}

fn sectors(bytes: u64) -> u64 {
    bytes.div_ceil(SECTOR as u64)
}

impl<'a> Plan<'a> {
    fn new(tree: &'a Tree, stamp: Stamp) -> Result<Plan<'a>> {
        let mut plan = Plan {
            dirs: Vec::new(),
            files: Vec::new(),
            iso_order: Vec::new(),
            joliet_order: Vec::new(),
            stamp,
            ce_slots: Vec::new(),
            ce_lba: 0,
            ce_sectors: 0,
            pt_iso: [0; 2],
            pt_joliet: [0; 2],
            pt_iso_len: 0,
            pt_joliet_len: 0,
            total_sectors: 0,
        };
        plan.flatten(&tree.root, 0, vec![0], vec![0, 0])?;
        if plan.dirs.len() > usize::from(u16::MAX) {
            return Err(unsupported("more than 65535 directories"));
        }
        plan.iso_order = plan.bfs(false);
        plan.joliet_order = plan.bfs(true);
        for (n, &d) in plan.iso_order.clone().iter().enumerate() {
            plan.dirs[d].iso_num = (n + 1) as u16;
        }
        for (n, &d) in plan.joliet_order.clone().iter().enumerate() {
            plan.dirs[d].joliet_num = (n + 1) as u16;
        }
        plan.layout()?;
        Ok(plan)
    }

    fn flatten(
        &mut self,
        node: &'a DirNode,
        parent: usize,
        iso: Vec<u8>,
        joliet: Vec<u8>,
    ) -> Result<usize> {
        let idx = self.dirs.len();
        self.dirs.push(Dir {
            node,
            parent: if idx == 0 { 0 } else { parent },
            iso_ident: iso,
            joliet_ident: joliet,
            subdirs: Vec::new(),
            files: Vec::new(),
            iso_lba: 0,
            iso_size: 0,
            joliet_lba: 0,
            joliet_size: 0,
            iso_num: 0,
            joliet_num: 0,
        });
        let mut iso_taken = HashSet::new();
        let mut joliet_taken = HashSet::new();
        // Name order, not insertion order, decides names and extents: same tree, same bytes.
        let mut files: Vec<&'a FileNode> = node.files.iter().collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let mut subdirs: Vec<&'a DirNode> = node.dirs.iter().collect();
        subdirs.sort_by(|a, b| a.name.cmp(&b.name));
        for f in files {
            let size = u32::try_from(f.content.len()).map_err(|_| {
                unsupported(format!(
                    "{}: files of 4 GiB or more are not supported",
                    f.name
                ))
            })?;
            let iso_ident = names::iso_ident(&f.name, false, &mut iso_taken);
            let joliet_ident = names::joliet_ident(&f.name, &mut joliet_taken);
            self.dirs[idx].files.push(self.files.len());
            self.files.push(FileEntry {
                node: f,
                iso_ident,
                joliet_ident,
                lba: 0,
                size,
            });
        }
        for d in subdirs {
            let iso = names::iso_ident(&d.name, true, &mut iso_taken);
            let joliet = names::joliet_ident(&d.name, &mut joliet_taken);
            let child = self.flatten(d, idx, iso, joliet)?;
            self.dirs[idx].subdirs.push(child);
        }
        Ok(idx)
    }

    /// Directory numbering of a path table: by level, then parent number, then identifier.
    fn bfs(&self, joliet: bool) -> Vec<usize> {
        let key = |d: usize| {
            if joliet {
                &self.dirs[d].joliet_ident
            } else {
                &self.dirs[d].iso_ident
            }
        };
        let mut order = vec![0usize];
        let mut i = 0;
        while i < order.len() {
            let mut kids = self.dirs[order[i]].subdirs.clone();
            kids.sort_by(|a, b| key(*a).cmp(key(*b)));
            order.extend(kids);
            i += 1;
        }
        order
    }

    fn children(&self, d: usize, joliet: bool) -> Vec<(Vec<u8>, Target)> {
        let dir = &self.dirs[d];
        let mut kids: Vec<(Vec<u8>, Target)> = Vec::new();
        for &s in &dir.subdirs {
            let id = if joliet {
                &self.dirs[s].joliet_ident
            } else {
                &self.dirs[s].iso_ident
            };
            kids.push((id.clone(), Target::Dir(s)));
        }
        for &f in &dir.files {
            let id = if joliet {
                &self.files[f].joliet_ident
            } else {
                &self.files[f].iso_ident
            };
            kids.push((id.clone(), Target::File(f)));
        }
        kids.sort_by(|a, b| a.0.cmp(&b.0));
        let mut all = vec![(vec![0u8], Target::Dot), (vec![1u8], Target::DotDot)];
        all.extend(kids);
        all
    }

    fn nlink(&self, d: usize) -> u32 {
        2 + self.dirs[d].subdirs.len() as u32
    }

    /// Records of one ISO 9660 directory and its continuation pieces. `slot` gives the place
    /// of the next continuation piece (dummy while sizing).
    fn iso_records(
        &self,
        d: usize,
        slot: &mut dyn FnMut(usize) -> (u32, u32),
    ) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let mut records = Vec::new();
        let mut conts = Vec::new();
        for (ident, target) in self.children(d, false) {
            let (extent, size, is_dir, mode, nlink, name) = match target {
                Target::Dot => (
                    self.dirs[d].iso_lba,
                    self.dirs[d].iso_size,
                    true,
                    MODE_DIR,
                    self.nlink(d),
                    None,
                ),
                Target::DotDot => {
                    let p = self.dirs[d].parent;
                    (
                        self.dirs[p].iso_lba,
                        self.dirs[p].iso_size,
                        true,
                        MODE_DIR,
                        self.nlink(p),
                        None,
                    )
                }
                Target::Dir(s) => {
                    let sd = &self.dirs[s];
                    (
                        sd.iso_lba,
                        sd.iso_size,
                        true,
                        MODE_DIR,
                        self.nlink(s),
                        Some(sd.node.name.as_str()),
                    )
                }
                Target::File(f) => {
                    let fe = &self.files[f];
                    let mode = if fe.node.executable {
                        MODE_EXEC
                    } else {
                        MODE_FILE
                    };
                    (fe.lba, fe.size, false, mode, 1, Some(fe.node.name.as_str()))
                }
            };
            let mut entries = Vec::new();
            let root_dot = d == 0 && matches!(target, Target::Dot);
            if root_dot {
                entries.push(records::sp());
            }
            let flags =
                records::RR_PX | records::RR_TF | if name.is_some() { records::RR_NM } else { 0 };
            entries.push(records::rr(flags));
            entries.push(records::px(mode, nlink));
            entries.push(records::tf(&self.stamp));
            if let Some(name) = name {
                entries.extend(records::nm(name));
            }
            if root_dot {
                entries.push(records::er());
            }
            let room = 254
                - (records::RECORD_BASE + ident.len() + usize::from(ident.len().is_multiple_of(2)));
            let (mut inline, cont) = records::pack_susp(entries, room);
            if !cont.is_empty() {
                let (lba, off) = slot(cont.len());
                inline.push(records::ce(lba, off, cont.len() as u32));
                conts.push(cont);
            }
            let susp: Vec<u8> = inline.concat();
            records.push(records::dir_record(
                extent,
                size,
                is_dir,
                &ident,
                &self.stamp,
                &susp,
            ));
        }
        (records, conts)
    }

    fn joliet_records(&self, d: usize) -> Vec<Vec<u8>> {
        self.children(d, true)
            .into_iter()
            .map(|(ident, target)| {
                let (extent, size, is_dir) = match target {
                    Target::Dot => (self.dirs[d].joliet_lba, self.dirs[d].joliet_size, true),
                    Target::DotDot => {
                        let p = &self.dirs[self.dirs[d].parent];
                        (p.joliet_lba, p.joliet_size, true)
                    }
                    Target::Dir(s) => (self.dirs[s].joliet_lba, self.dirs[s].joliet_size, true),
                    Target::File(f) => (self.files[f].lba, self.files[f].size, false),
                };
                records::dir_record(extent, size, is_dir, &ident, &self.stamp, &[])
            })
            .collect()
    }

    fn path_table(&self, joliet: bool, le: bool) -> Vec<u8> {
        let order = if joliet {
            &self.joliet_order
        } else {
            &self.iso_order
        };
        let mut out = Vec::new();
        for &d in order {
            let dir = &self.dirs[d];
            let parent = &self.dirs[dir.parent];
            let (ident, lba, pnum) = if joliet {
                (&dir.joliet_ident, dir.joliet_lba, parent.joliet_num)
            } else {
                (&dir.iso_ident, dir.iso_lba, parent.iso_num)
            };
            out.extend(records::path_record(ident, lba, pnum, le));
        }
        out
    }

    fn layout(&mut self) -> Result<()> {
        let mut cur: u64 = 19;
        self.pt_iso_len = self.path_table(false, true).len() as u32;
        self.pt_joliet_len = self.path_table(true, true).len() as u32;
        for (slot, len) in [
            (&mut self.pt_iso, self.pt_iso_len),
            (&mut self.pt_joliet, self.pt_joliet_len),
        ] {
            for s in slot.iter_mut() {
                *s = cur as u32;
                cur += sectors(u64::from(len));
            }
        }
        // ISO directories; sizes do not depend on extents, so they are measured with dummies.
        let mut piece_lens = Vec::new();
        for i in 0..self.iso_order.len() {
            let d = self.iso_order[i];
            let (recs, _) = self.iso_records(d, &mut |len| {
                piece_lens.push(len);
                (0, 0)
            });
            let size = packed_size(&recs);
            self.dirs[d].iso_lba =
                u32::try_from(cur).map_err(|_| unsupported("image too large"))?;
            self.dirs[d].iso_size = size;
            cur += sectors(u64::from(size));
        }
        self.ce_lba = u32::try_from(cur).map_err(|_| unsupported("image too large"))?;
        let (mut sector, mut offset) = (0u32, 0usize);
        for len in piece_lens {
            if offset + len > SECTOR {
                sector += 1;
                offset = 0;
            }
            self.ce_slots.push((self.ce_lba + sector, offset as u32));
            offset += len;
        }
        self.ce_sectors = if self.ce_slots.is_empty() {
            0
        } else {
            sector + 1
        };
        cur += u64::from(self.ce_sectors);
        for i in 0..self.joliet_order.len() {
            let d = self.joliet_order[i];
            let size = packed_size(&self.joliet_records(d));
            self.dirs[d].joliet_lba =
                u32::try_from(cur).map_err(|_| unsupported("image too large"))?;
            self.dirs[d].joliet_size = size;
            cur += sectors(u64::from(size));
        }
        for f in &mut self.files {
            f.lba = u32::try_from(cur).map_err(|_| unsupported("image too large"))?;
            cur += sectors(u64::from(f.size));
        }
        self.total_sectors = u32::try_from(cur).map_err(|_| unsupported("image too large"))?;
        Ok(())
    }
}

/// Bytes a directory takes: records never straddle a sector.
fn packed_size(records: &[Vec<u8>]) -> u32 {
    let (mut sectors_used, mut off) = (1u32, 0usize);
    for r in records {
        if off + r.len() > SECTOR {
            sectors_used += 1;
            off = 0;
        }
        off += r.len();
    }
    sectors_used * SECTOR as u32
}

/// A writer that knows where it is, to check the layout while emitting.
struct Out<W: Write> {
    inner: W,
    pos: u64,
}

impl<W: Write> Out<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.inner
            .write_all(bytes)
            .map_err(|e| Error::io("write iso", e))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn pad_to_sector(&mut self) -> Result<()> {
        let rem = (self.pos % SECTOR as u64) as usize;
        if rem != 0 {
            self.put(&vec![0u8; SECTOR - rem])?;
        }
        Ok(())
    }

    fn expect(&self, lba: u32) -> Result<()> {
        if self.pos != u64::from(lba) * SECTOR as u64 {
            return Err(Error::new(
                ErrorKind::Io,
                "write iso",
                format!("layout mismatch at sector {lba}"),
            ));
        }
        Ok(())
    }
}

/// Writes `tree` as an ISO 9660 image to `out`; returns the image size in bytes.
pub fn write_iso<W: Write>(tree: &Tree, options: &IsoOptions, out: W) -> Result<u64> {
    if options.volume_id.len() > 32 || !options.volume_id.is_ascii() {
        return Err(Error::new(
            ErrorKind::Invalid,
            "write iso",
            "volume id must be at most 32 ASCII characters",
        ));
    }
    let plan = Plan::new(tree, Stamp::from_unix(options.timestamp))?;
    let mut out = Out { inner: out, pos: 0 };
    out.put(&vec![0u8; 16 * SECTOR])?;
    out.put(&volume_descriptor(&plan, options, false))?;
    out.put(&volume_descriptor(&plan, options, true))?;
    let mut term = vec![0u8; SECTOR];
    term[0] = 255;
    term[1..6].copy_from_slice(b"CD001");
    term[6] = 1;
    out.put(&term)?;

    for (joliet, lbas) in [(false, plan.pt_iso), (true, plan.pt_joliet)] {
        for (le, lba) in [(true, lbas[0]), (false, lbas[1])] {
            out.expect(lba)?;
            out.put(&plan.path_table(joliet, le))?;
            out.pad_to_sector()?;
        }
    }
    let mut slots = plan.ce_slots.iter().copied();
    let mut pieces = Vec::new();
    for &d in &plan.iso_order {
        out.expect(plan.dirs[d].iso_lba)?;
        let (recs, conts) = plan.iso_records(d, &mut |_| slots.next().unwrap_or((0, 0)));
        write_dir(&mut out, &recs)?;
        pieces.extend(conts);
    }
    if !pieces.is_empty() {
        out.expect(plan.ce_lba)?;
        for (piece, (lba, off)) in pieces.iter().zip(plan.ce_slots.iter()) {
            let at = u64::from(*lba) * SECTOR as u64 + u64::from(*off);
            if at > out.pos {
                out.put(&vec![0u8; (at - out.pos) as usize])?;
            }
            out.put(piece)?;
        }
        out.pad_to_sector()?;
    }
    for &d in &plan.joliet_order {
        out.expect(plan.dirs[d].joliet_lba)?;
        write_dir(&mut out, &plan.joliet_records(d))?;
    }
    for f in &plan.files {
        if f.size == 0 {
            continue;
        }
        out.expect(f.lba)?;
        let src = f.node.content.open()?;
        let copied = io::copy(&mut src.take(u64::from(f.size)), &mut out.inner)
            .map_err(|e| Error::io("write iso", e))?;
        if copied != u64::from(f.size) {
            return Err(Error::new(
                ErrorKind::Invalid,
                "write iso",
                format!("{}: file shrank while packing", f.node.name),
            ));
        }
        out.pos += copied;
        out.pad_to_sector()?;
    }
    out.expect(plan.total_sectors)?;
    out.inner.flush().map_err(|e| Error::io("write iso", e))?;
    Ok(out.pos)
}

fn write_dir<W: Write>(out: &mut Out<W>, records: &[Vec<u8>]) -> Result<()> {
    let start = out.pos;
    for r in records {
        let off = ((out.pos - start) % SECTOR as u64) as usize;
        if off + r.len() > SECTOR {
            out.pad_to_sector()?;
        }
        out.put(r)?;
    }
    out.pad_to_sector()
}

fn volume_descriptor(plan: &Plan, options: &IsoOptions, joliet: bool) -> Vec<u8> {
    let field = |s: &str, len: usize| {
        if joliet {
            names::ucs2_field(s, len)
        } else {
            names::ascii_field(s, len)
        }
    };
    let root = &plan.dirs[0];
    let (root_lba, root_size, pt, pt_len) = if joliet {
        (
            root.joliet_lba,
            root.joliet_size,
            plan.pt_joliet,
            plan.pt_joliet_len,
        )
    } else {
        (root.iso_lba, root.iso_size, plan.pt_iso, plan.pt_iso_len)
    };
    let mut v = vec![0u8; SECTOR];
    v[0] = if joliet { 2 } else { 1 };
    v[1..6].copy_from_slice(b"CD001");
    v[6] = 1;
    v[8..40].copy_from_slice(&field("LINUX", 32));
    v[40..72].copy_from_slice(&field(&options.volume_id, 32));
    v[80..88].copy_from_slice(&records::both32(plan.total_sectors));
    if joliet {
        // UCS-2 Level 3.
        v[88..91].copy_from_slice(b"%/E");
    }
    v[120..124].copy_from_slice(&records::both16(1));
    v[124..128].copy_from_slice(&records::both16(1));
    v[128..132].copy_from_slice(&records::both16(SECTOR as u16));
    v[132..140].copy_from_slice(&records::both32(pt_len));
    v[140..144].copy_from_slice(&pt[0].to_le_bytes());
    v[148..152].copy_from_slice(&pt[1].to_be_bytes());
    let root_rec = records::dir_record(root_lba, root_size, true, &[0], &plan.stamp, &[]);
    v[156..190].copy_from_slice(&root_rec);
    v[190..318].copy_from_slice(&field("", 128));
    v[318..446].copy_from_slice(&field(&options.publisher, 128));
    v[446..574].copy_from_slice(&field("", 128));
    v[574..702].copy_from_slice(&field("NIMBUS CONFIG DRIVE WRITER", 128));
    v[702..739].copy_from_slice(&field("", 37));
    v[739..776].copy_from_slice(&field("", 37));
    v[776..813].copy_from_slice(&field("", 37));
    let stamp = plan.stamp.long();
    v[813..830].copy_from_slice(&stamp);
    v[830..847].copy_from_slice(&stamp);
    v[847..864].copy_from_slice(&records::unset_long());
    v[864..881].copy_from_slice(&stamp);
    v[881] = 1;
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Content;

    fn sample() -> Tree {
        let mut t = Tree::new();
        t.add_file(
            "openstack/latest/meta_data.json",
            Content::Bytes(b"{\"uuid\": \"x\"}".to_vec()),
            false,
        )
        .unwrap();
        t.add_file(
            "openstack/content/0000",
            Content::Bytes(vec![7; 5000]),
            false,
        )
        .unwrap();
        t.add_file("empty", Content::Bytes(vec![]), false).unwrap();
        t.add_file(&"n".repeat(255), Content::Bytes(b"long".to_vec()), false)
            .unwrap();
        t
    }

    #[test]
    fn same_input_same_bytes() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let opts = IsoOptions::default();
        write_iso(&sample(), &opts, &mut a).unwrap();
        write_iso(&sample(), &opts, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len() % SECTOR, 0);
        assert_eq!(&a[16 * SECTOR + 1..16 * SECTOR + 6], b"CD001");
        assert_eq!(&a[16 * SECTOR + 40..16 * SECTOR + 48], b"config-2");
        let size = u32::from_le_bytes(a[16 * SECTOR + 80..16 * SECTOR + 84].try_into().unwrap());
        assert_eq!(size as usize * SECTOR, a.len());
    }

    #[test]
    fn rejects_bad_volume_id() {
        let opts = IsoOptions {
            volume_id: "x".repeat(33),
            ..IsoOptions::default()
        };
        assert!(write_iso(&sample(), &opts, Vec::new()).is_err());
    }
}
