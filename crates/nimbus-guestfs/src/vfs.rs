//! nova's VFS (`nova/virt/disk/vfs/api.py`) over an ext2/3/4 filesystem
//! read and written in-process: no mount, no loop device, no appliance.
//!
//! Every path is resolved here, one directory entry at a time, so guest
//! symlinks are followed inside the guest root only (at most 40 hops) and
//! the library never walks a path containing a symlink.

use std::collections::VecDeque;
use std::sync::Arc;

use fs_ext4::Filesystem;
use nimbus_disk::BlockDevice;

use crate::device::Window;
use crate::path::{self, join, link_components};
use crate::{Error, ErrorKind, InjectPartition, Result, partition};

/// The largest file the VFS reads or writes in one piece; guest files and
/// injected content beyond it are refused rather than held in memory.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Symlinks followed in one resolution before giving up (Linux's limit).
const MAX_SYMLINK_HOPS: u32 = 40;
const ROOT_INO: u32 = 2;
const EXT_MAGIC: u16 = 0xef53;
const INCOMPAT_RECOVER: u32 = 0x4;

/// An open guest filesystem: nova's `VFS` with `setup` done.
pub struct Vfs {
    fs: Filesystem,
    disk: Arc<dyn BlockDevice>,
    /// Where the filesystem lives on the disk, for reports.
    location: String,
}

impl std::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vfs")
            .field("location", &self.location)
            .finish()
    }
}

/// What [`Vfs::stat`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    /// `st_mode`: file type and permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
}

/// A path resolved to its inode, with the symlink-free path that names it.
struct Resolved {
    ino: u32,
    canonical: Vec<Vec<u8>>,
}

impl Vfs {
    /// nova's `setup`: finds the filesystem `partition` designates and opens
    /// it, writable or not.
    pub fn setup(
        disk: Arc<dyn BlockDevice>,
        partition: InjectPartition,
        writable: bool,
    ) -> Result<Vfs> {
        let (start, len, location) = match partition {
            InjectPartition::Disabled => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "setup",
                    "injection is disabled (inject_partition = -2)",
                ));
            }
            InjectPartition::WholeDisk => (0, disk.size(), "the whole disk".to_string()),
            InjectPartition::Number(n) => {
                let p = partition::find(disk.as_ref(), n)?;
                (p.start, p.size, format!("partition {n}"))
            }
            InjectPartition::Inspect => inspect(&disk)?,
        };
        let fs = mount(disk.clone(), start, len, writable)?;
        Ok(Vfs { fs, disk, location })
    }

    /// Where the filesystem was found ("partition 2", "the whole disk").
    pub fn location(&self) -> &str {
        &self.location
    }

    /// nova's `teardown`: releases the filesystem, leaving it clean, and
    /// makes every write durable (the only flush of the session).
    pub fn teardown(self) -> Result<()> {
        self.fs.finish().map_err(|e| Error::ext("teardown", e))?;
        self.disk.flush().map_err(|e| Error::disk("teardown", e))
    }

    /// nova's `make_path`: creates `path` and its missing parents (0755).
    pub fn make_path(&self, path: &str) -> Result<()> {
        let comps = path::components(path)?;
        let r = self
            .walk(comps, true, true)
            .map_err(|e| e.with_path(path))?;
        let inode = self.inode(r.ino, path)?;
        if !inode.is_dir() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "make_path",
                "exists and is not a directory",
            )
            .with_path(path));
        }
        Ok(())
    }

    /// nova's `append_file`: appends `content`, creating the file if needed.
    pub fn append_file(&self, path: &str, content: &[u8]) -> Result<()> {
        self.write_file(path, content, true)
    }

    /// nova's `replace_file`: replaces the file's content, creating it if needed.
    pub fn replace_file(&self, path: &str, content: &[u8]) -> Result<()> {
        self.write_file(path, content, false)
    }

    /// nova's `read_file`: the whole content of a regular file.
    pub fn read_file(&self, path: &str) -> Result<Vec<u8>> {
        let r = self
            .walk(path::components(path)?, true, false)
            .map_err(|e| e.with_path(path))?;
        self.read_ino(r.ino, path)
    }

    /// nova's `has_file`: whether `path` exists (following symlinks inside the guest).
    pub fn has_file(&self, path: &str) -> Result<bool> {
        match self.walk(path::components(path)?, true, false) {
            Ok(_) => Ok(true),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e.with_path(path)),
        }
    }

    /// nova's `set_permissions`: sets the permission bits (`0o7777` at most).
    pub fn set_permissions(&self, path: &str, mode: u32) -> Result<()> {
        if mode > 0o7777 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "set_permissions",
                format!("mode {mode:o} is not a permission mode"),
            ));
        }
        let r = self
            .walk(path::components(path)?, true, false)
            .map_err(|e| e.with_path(path))?;
        self.fs
            .apply_chmod_ino(r.ino, mode as u16)
            .map_err(|e| Error::ext("set_permissions", e).with_path(path))
    }

    /// nova's `set_ownership`: user and group names are looked up in the
    /// guest's own `/etc/passwd` and `/etc/group`; `None` keeps the current one.
    pub fn set_ownership(&self, path: &str, user: Option<&str>, group: Option<&str>) -> Result<()> {
        let uid = match user {
            Some(name) => self.lookup_id("/etc/passwd", name)?,
            None => u32::MAX,
        };
        let gid = match group {
            Some(name) => self.lookup_id("/etc/group", name)?,
            None => u32::MAX,
        };
        let r = self
            .walk(path::components(path)?, true, false)
            .map_err(|e| e.with_path(path))?;
        self.fs
            .apply_chown_ino(r.ino, uid, gid)
            .map_err(|e| Error::ext("set_ownership", e).with_path(path))
    }

    /// The type, mode, owner and size of `path` (following symlinks in the guest).
    pub fn stat(&self, path: &str) -> Result<FileStat> {
        let r = self
            .walk(path::components(path)?, true, false)
            .map_err(|e| e.with_path(path))?;
        let inode = self.inode(r.ino, path)?;
        Ok(FileStat {
            mode: inode.mode as u32,
            uid: inode.uid,
            gid: inode.gid,
            size: inode.size,
        })
    }

    fn inode(&self, ino: u32, path: &str) -> Result<fs_ext4::inode::Inode> {
        self.fs
            .stat_ino(ino)
            .map_err(|e| Error::ext("stat", e).with_path(path))
    }

    /// The numeric id of `name` in a passwd-format file (field 3).
    fn lookup_id(&self, file: &str, name: &str) -> Result<u32> {
        let data = self.read_file(file)?;
        let text = String::from_utf8_lossy(&data);
        for line in text.lines() {
            let mut fields = line.split(':');
            if fields.next() == Some(name) {
                if let Some(id) = fields.nth(1).and_then(|f| f.trim().parse::<u32>().ok()) {
                    return Ok(id);
                }
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    "set_ownership",
                    format!("malformed entry for {name}"),
                )
                .with_path(file));
            }
        }
        Err(Error::new(
            ErrorKind::NotFound,
            "set_ownership",
            format!("{name} is not in the guest's {file}"),
        ))
    }

    fn write_file(&self, path: &str, content: &[u8], append: bool) -> Result<()> {
        let op = if append {
            "append_file"
        } else {
            "replace_file"
        };
        let mut comps = path::components(path)?;
        let Some(name) = comps.pop() else {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                op,
                "cannot write to the root directory",
            )
            .with_path(path));
        };
        let parent = self
            .walk(comps, true, false)
            .map_err(|e| e.with_path(path))?;
        let existing = match self.fs.lookup_at(parent.ino, &name) {
            Ok(ino) => Some(ino),
            Err(fs_ext4::Error::NotFound) => None,
            Err(e) => return Err(Error::ext(op, e).with_path(path)),
        };
        let mut data = Vec::new();
        if let Some(ino) = existing {
            let inode = self.inode(ino, path)?;
            if inode.is_symlink() {
                // nova's fix for CVE-2012-3361: never write through a link.
                return Err(Error::new(
                    ErrorKind::NotAllowed,
                    op,
                    "refusing to write through a symlink",
                )
                .with_path(path));
            }
            if !inode.is_file() {
                return Err(
                    Error::new(ErrorKind::InvalidInput, op, "not a regular file").with_path(path),
                );
            }
            if append {
                data = self.read_ino(ino, path)?;
            }
        }
        let total = data.len() as u64 + content.len() as u64;
        if total > MAX_FILE_BYTES {
            return Err(Error::new(
                ErrorKind::NotAllowed,
                op,
                format!("the result would be {total} bytes, over the {MAX_FILE_BYTES}-byte cap"),
            )
            .with_path(path));
        }
        data.extend_from_slice(content);
        if existing.is_none() {
            self.fs
                .apply_create_at(parent.ino, &name, 0o644)
                .map_err(|e| Error::ext(op, e).with_path(path))?;
        }
        let mut canonical = parent.canonical;
        canonical.push(name);
        let target = join(&canonical);
        // The canonical path holds no symlink, so the library's own path
        // walk reaches exactly the inode resolved above.
        let target = String::from_utf8(target).map_err(|_| {
            Error::new(ErrorKind::Unsupported, op, "the guest path is not UTF-8").with_path(path)
        })?;
        self.fs
            .apply_replace_file_content(&target, &data)
            .map_err(|e| Error::ext(op, e).with_path(path))?;
        Ok(())
    }

    fn read_ino(&self, ino: u32, path: &str) -> Result<Vec<u8>> {
        let inode = self.inode(ino, path)?;
        if !inode.is_file() {
            return Err(
                Error::new(ErrorKind::InvalidInput, "read_file", "not a regular file")
                    .with_path(path),
            );
        }
        if inode.size > MAX_FILE_BYTES {
            return Err(Error::new(
                ErrorKind::NotAllowed,
                "read_file",
                format!("{} bytes is over the {MAX_FILE_BYTES}-byte cap", inode.size),
            )
            .with_path(path));
        }
        let mut buf = vec![0u8; inode.size as usize];
        let mut done = 0;
        while done < buf.len() {
            let n = self
                .fs
                .read_ino(ino, done as u64, &mut buf[done..])
                .map_err(|e| Error::ext("read_file", e).with_path(path))?;
            if n == 0 {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    "read_file",
                    "file shorter than its size",
                )
                .with_path(path));
            }
            done += n;
        }
        Ok(buf)
    }

    /// Resolves `comps` from the guest root. Symlinks are followed inside
    /// the guest (an absolute target restarts at the guest root, `..` stops
    /// there); the final one only when `follow_last`. With `create`, missing
    /// directories are made (0755), as `mkdir -p` would.
    fn walk(&self, comps: Vec<Vec<u8>>, follow_last: bool, create: bool) -> Result<Resolved> {
        let mut stack: Vec<(Vec<u8>, u32)> = Vec::new();
        let mut pending: VecDeque<Vec<u8>> = comps.into();
        let mut hops = 0;
        while let Some(name) = pending.pop_front() {
            if name == b".." {
                stack.pop();
                continue;
            }
            let dir = stack.last().map_or(ROOT_INO, |(_, ino)| *ino);
            let ino = match self.fs.lookup_at(dir, &name) {
                Ok(ino) => ino,
                Err(fs_ext4::Error::NotFound) if create => self
                    .fs
                    .apply_mkdir_at(dir, &name, 0o755)
                    .map_err(|e| Error::ext("make_path", e))?,
                Err(fs_ext4::Error::NotFound) => {
                    return Err(Error::new(
                        ErrorKind::NotFound,
                        "resolve",
                        "no such file or directory",
                    ));
                }
                Err(e) => return Err(Error::ext("resolve", e)),
            };
            let inode = self
                .fs
                .stat_ino(ino)
                .map_err(|e| Error::ext("resolve", e))?;
            if inode.is_symlink() && (follow_last || !pending.is_empty()) {
                hops += 1;
                if hops > MAX_SYMLINK_HOPS {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        "resolve",
                        "too many levels of symbolic links (ELOOP)",
                    ));
                }
                if inode.size > path::MAX_PATH_BYTES as u64 {
                    return Err(Error::new(
                        ErrorKind::Corrupt,
                        "resolve",
                        "symlink target longer than 4096 bytes",
                    ));
                }
                let target = self
                    .fs
                    .read_link_ino(ino)
                    .map_err(|e| Error::ext("resolve", e))?;
                if target.len() > path::MAX_PATH_BYTES || target.is_empty() {
                    return Err(Error::new(
                        ErrorKind::Corrupt,
                        "resolve",
                        "symlink target is empty or too long",
                    ));
                }
                if target.starts_with(b"/") {
                    stack.clear();
                }
                for comp in link_components(&target).into_iter().rev() {
                    pending.push_front(comp);
                }
                continue;
            }
            stack.push((name, ino));
        }
        let ino = stack.last().map_or(ROOT_INO, |(_, ino)| *ino);
        Ok(Resolved {
            ino,
            canonical: stack.into_iter().map(|(n, _)| n).collect(),
        })
    }
}

/// Opens the ext2/3/4 filesystem at `[start, start + len)` of `disk`.
fn mount(disk: Arc<dyn BlockDevice>, start: u64, len: u64, writable: bool) -> Result<Filesystem> {
    let window = Window::new(disk, start, len, writable).ok_or_else(|| {
        Error::new(
            ErrorKind::Corrupt,
            "setup",
            "the filesystem's extent lies outside the disk",
        )
    })?;
    check_superblock(&window)?;
    Filesystem::mount(Arc::new(window)).map_err(|e| Error::ext("setup", e))
}

/// Refuses, before the library sees it, what we will not write: something
/// that is not ext2/3/4, and a journal that still needs recovery.
fn check_superblock(window: &Window) -> Result<()> {
    use fs_ext4::block_io::BlockDevice as _;
    let mut sb = [0u8; 1024];
    window.read_at(1024, &mut sb).map_err(|_| {
        Error::new(
            ErrorKind::Unsupported,
            "setup",
            "too small to hold an ext2/3/4 filesystem",
        )
    })?;
    if u16::from_le_bytes([sb[0x38], sb[0x39]]) != EXT_MAGIC {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "setup",
            "not an ext2/3/4 filesystem (bad superblock magic)",
        ));
    }
    let incompat = u32::from_le_bytes([sb[0x60], sb[0x61], sb[0x62], sb[0x63]]);
    if incompat & INCOMPAT_RECOVER != 0 {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "setup",
            "the journal needs recovery (the guest was not shut down cleanly); refusing to write around it",
        ));
    }
    Ok(())
}

/// libguestfs-style inspection: the one filesystem holding `/etc/passwd`
/// or `/etc/os-release`.
fn inspect(disk: &Arc<dyn BlockDevice>) -> Result<(u64, u64, String)> {
    let candidates: Vec<(u64, u64, String)> = match partition::partitions(disk.as_ref())? {
        None => vec![(0, disk.size(), "the whole disk".to_string())],
        Some((_, parts)) => parts
            .into_iter()
            .map(|p| (p.start, p.size, format!("partition {}", p.number)))
            .collect(),
    };
    let mut roots = Vec::new();
    for (start, len, location) in candidates {
        let Ok(fs) = mount(disk.clone(), start, len, false) else {
            continue;
        };
        let vfs = Vfs {
            fs,
            disk: disk.clone(),
            location: location.clone(),
        };
        let is_root = ["/etc/passwd", "/etc/os-release"]
            .iter()
            .any(|p| vfs.has_file(p).unwrap_or(false));
        if is_root {
            roots.push((start, len, location));
        }
    }
    match roots.len() {
        1 => Ok(roots.remove(0)),
        0 => Err(Error::new(
            ErrorKind::NotFound,
            "inspect",
            "no operating system found (no filesystem with /etc/passwd or /etc/os-release)",
        )),
        n => Err(Error::new(
            ErrorKind::Unsupported,
            "inspect",
            format!("{n} operating system roots found; multi-boot disks are not supported"),
        )),
    }
}
