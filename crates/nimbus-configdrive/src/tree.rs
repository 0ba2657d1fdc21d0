//! The file tree a config drive is packed from: built from the metadata in memory, or read
//! from a directory on the host (`nimbus configdrive make`).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// Longest name a component may have (Rock Ridge NM and FAT long names allow 255).
pub const MAX_NAME_BYTES: usize = 255;
/// Deepest directory nesting accepted.
pub const MAX_DEPTH: usize = 64;
/// Most entries (files plus directories) accepted in one tree.
pub const MAX_ENTRIES: usize = 65_000;

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum Content {
    /// Bytes in memory.
    Bytes(Vec<u8>),
    /// A host file read while the image is written; its length is checked again then.
    Host {
        /// The file.
        path: PathBuf,
        /// Length seen when the tree was read.
        len: u64,
    },
}

impl Content {
    /// The file's length.
    pub fn len(&self) -> u64 {
        match self {
            Content::Bytes(b) => b.len() as u64,
            Content::Host { len, .. } => *len,
        }
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens the bytes for reading, refusing a host file whose length changed.
    pub fn open(&self) -> Result<Box<dyn Read + '_>> {
        match self {
            Content::Bytes(b) => Ok(Box::new(b.as_slice())),
            Content::Host { path, len } => {
                let file = File::open(path)
                    .map_err(|e| Error::io("open source file", e).with_path(path))?;
                let now = file
                    .metadata()
                    .map_err(|e| Error::io("stat source file", e).with_path(path))?
                    .len();
                if now != *len {
                    return Err(Error::new(
                        ErrorKind::Invalid,
                        "read source file",
                        "file changed size while packing",
                    )
                    .with_path(path));
                }
                Ok(Box::new(file.take(*len)))
            }
        }
    }
}

/// A regular file in the tree.
#[derive(Debug, Clone)]
pub struct FileNode {
    /// Name within its directory.
    pub name: String,
    /// Its bytes.
    pub content: Content,
    /// Whether any execute bit was set on the source (Rock Ridge then shows r-x for all, as `-r`).
    pub executable: bool,
}

/// A directory in the tree; children keep insertion order (writers sort as their format needs).
#[derive(Debug, Clone, Default)]
pub struct DirNode {
    /// Name within its parent (empty for the root).
    pub name: String,
    /// Subdirectories.
    pub dirs: Vec<DirNode>,
    /// Files.
    pub files: Vec<FileNode>,
}

impl DirNode {
    fn has(&self, name: &str) -> bool {
        self.dirs.iter().any(|d| d.name == name) || self.files.iter().any(|f| f.name == name)
    }
}

/// A whole tree.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// The root directory.
    pub root: DirNode,
    entries: usize,
}

/// Checks one path component.
pub fn check_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::new(
            ErrorKind::Invalid,
            "check name",
            format!("{name:?}: {why}"),
        ))
    };
    if name.is_empty() || name == "." || name == ".." {
        return bad("not a file name");
    }
    if name.contains('/') || name.contains('\0') {
        return bad("contains '/' or NUL");
    }
    if name.len() > MAX_NAME_BYTES {
        return bad("longer than 255 bytes");
    }
    Ok(())
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Tree::default()
    }

    /// Number of files and directories (without the root).
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Adds a file at a relative `/`-separated path, creating parent directories.
    pub fn add_file(&mut self, path: &str, content: Content, executable: bool) -> Result<()> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let Some((name, parents)) = parts.split_last() else {
            return Err(Error::new(ErrorKind::Invalid, "add file", "empty path"));
        };
        if parts.len() > MAX_DEPTH {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "add file",
                format!("{path}: deeper than {MAX_DEPTH}"),
            ));
        }
        let mut dir = &mut self.root;
        for part in parents {
            check_name(part)?;
            if dir.files.iter().any(|f| f.name == *part) {
                return Err(Error::new(
                    ErrorKind::Invalid,
                    "add file",
                    format!("{path}: {part} is a file"),
                ));
            }
            let idx = match dir.dirs.iter().position(|d| d.name == *part) {
                Some(i) => i,
                None => {
                    self.entries += 1;
                    dir.dirs.push(DirNode {
                        name: part.to_string(),
                        ..Default::default()
                    });
                    dir.dirs.len() - 1
                }
            };
            dir = &mut dir.dirs[idx];
        }
        check_name(name)?;
        if dir.has(name) {
            return Err(Error::new(
                ErrorKind::Invalid,
                "add file",
                format!("{path}: already present"),
            ));
        }
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "add file",
                format!("more than {MAX_ENTRIES} entries"),
            ));
        }
        dir.files.push(FileNode {
            name: name.to_string(),
            content,
            executable,
        });
        Ok(())
    }

    /// Reads a host directory. Symlinks, devices, sockets and non-UTF-8 names are refused, so
    /// packing never reaches outside `src` nor blocks on a FIFO.
    pub fn from_dir(src: &Path) -> Result<Tree> {
        let meta = std::fs::symlink_metadata(src)
            .map_err(|e| Error::io("read source tree", e).with_path(src))?;
        if !meta.is_dir() {
            return Err(
                Error::new(ErrorKind::Invalid, "read source tree", "not a directory")
                    .with_path(src),
            );
        }
        let mut tree = Tree::new();
        let mut root = DirNode::default();
        read_dir_into(src, &mut root, 1, &mut tree.entries)?;
        tree.root = root;
        Ok(tree)
    }

    /// Writes the tree under `out` (created if missing; existing files are not overwritten).
    pub fn write_to_dir(&self, out: &Path) -> Result<()> {
        std::fs::create_dir_all(out)
            .map_err(|e| Error::io("create output directory", e).with_path(out))?;
        write_dir(&self.root, out)
    }
}

fn read_dir_into(path: &Path, dir: &mut DirNode, depth: usize, entries: &mut usize) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "read source tree",
            format!("deeper than {MAX_DEPTH}"),
        )
        .with_path(path));
    }
    let iter =
        std::fs::read_dir(path).map_err(|e| Error::io("read source tree", e).with_path(path))?;
    let mut children = Vec::new();
    for entry in iter {
        let entry = entry.map_err(|e| Error::io("read source tree", e).with_path(path))?;
        children.push(entry.path());
    }
    // Directory order is arbitrary on the host; sorting keeps the image reproducible.
    children.sort();
    for child in children {
        let name = child
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| {
                Error::new(ErrorKind::Invalid, "read source tree", "name is not UTF-8")
                    .with_path(&child)
            })?
            .to_string();
        check_name(&name).map_err(|e| e.with_path(&child))?;
        *entries += 1;
        if *entries > MAX_ENTRIES {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "read source tree",
                format!("more than {MAX_ENTRIES} entries"),
            )
            .with_path(path));
        }
        let meta = std::fs::symlink_metadata(&child)
            .map_err(|e| Error::io("read source tree", e).with_path(&child))?;
        if meta.is_dir() {
            let mut sub = DirNode {
                name,
                ..Default::default()
            };
            read_dir_into(&child, &mut sub, depth + 1, entries)?;
            dir.dirs.push(sub);
        } else if meta.is_file() {
            dir.files.push(FileNode {
                name,
                content: Content::Host {
                    path: child.clone(),
                    len: meta.len(),
                },
                executable: is_executable(&meta),
            });
        } else {
            return Err(Error::new(
                ErrorKind::Invalid,
                "read source tree",
                "not a regular file or directory (symlinks are refused)",
            )
            .with_path(&child));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &std::fs::Metadata) -> bool {
    false
}

fn write_dir(dir: &DirNode, out: &Path) -> Result<()> {
    for sub in &dir.dirs {
        let p = out.join(&sub.name);
        match std::fs::create_dir(&p) {
            Ok(()) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::AlreadyExists
                    && p.is_dir()
                    && !p.is_symlink() => {}
            Err(e) => return Err(Error::io("create directory", e).with_path(&p)),
        }
        write_dir(sub, &p)?;
    }
    for file in &dir.files {
        let p = out.join(&file.name);
        // create_new: never follow or clobber something already at the path.
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(|e| Error::io("create file", e).with_path(&p))?;
        let mut src = file.content.open()?;
        std::io::copy(&mut src, &mut f).map_err(|e| Error::io("write file", e).with_path(&p))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_file_builds_parents_and_rejects_bad_names() {
        let mut t = Tree::new();
        t.add_file(
            "openstack/latest/meta_data.json",
            Content::Bytes(b"{}".to_vec()),
            false,
        )
        .unwrap();
        t.add_file("openstack/content/0000", Content::Bytes(vec![]), false)
            .unwrap();
        assert_eq!(t.root.dirs.len(), 1);
        assert_eq!(t.root.dirs[0].dirs.len(), 2);
        assert_eq!(t.entries(), 5);
        assert!(
            t.add_file(
                "openstack/latest/meta_data.json",
                Content::Bytes(vec![]),
                false
            )
            .is_err()
        );
        assert!(t.add_file("a/../b", Content::Bytes(vec![]), false).is_err());
        assert!(
            t.add_file(
                "openstack/latest/meta_data.json/x",
                Content::Bytes(vec![]),
                false
            )
            .is_err()
        );
        assert!(t.add_file("", Content::Bytes(vec![]), false).is_err());
        assert!(
            t.add_file(&"x".repeat(256), Content::Bytes(vec![]), false)
                .is_err()
        );
    }

    #[cfg(unix)]
    #[test]
    fn from_dir_refuses_symlinks() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("link")).unwrap();
        let err = Tree::from_dir(d.path()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(err.to_string().contains("link"), "{err}");
    }
}
