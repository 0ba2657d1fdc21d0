//! Which backing files an image may pull in.

use std::path::{Path, PathBuf};

use crate::{Error, ErrorKind, Result};

/// The directories backing files may live in. A backing file is opened
/// only if its canonical path lies inside one of them, and only with the
/// format its overlay records (never by probing).
#[derive(Debug, Clone, Default)]
pub struct BackingPolicy {
    dirs: Vec<PathBuf>,
}

impl BackingPolicy {
    /// No backing file is ever opened.
    pub fn deny_all() -> Self {
        BackingPolicy { dirs: Vec::new() }
    }

    /// Backing files are allowed inside `dirs` (canonicalised now; a
    /// directory that does not exist allows nothing).
    pub fn allow_dirs(dirs: impl IntoIterator<Item = PathBuf>) -> Self {
        let dirs = dirs
            .into_iter()
            .filter_map(|d| std::fs::canonicalize(d).ok())
            .collect();
        BackingPolicy { dirs }
    }

    /// Resolves `name` (as recorded in the overlay at `overlay`) and
    /// returns its canonical path if the policy allows it.
    pub(crate) fn resolve(&self, overlay: &Path, name: &str) -> Result<PathBuf> {
        let denied = |why: String| {
            Error::new(ErrorKind::NotAllowed, "open backing file", why).with_path(overlay)
        };
        if self.dirs.is_empty() {
            return Err(denied(format!(
                "backing file '{name}' refused: no backing files are allowed"
            )));
        }
        let joined = backing_path(overlay, name);
        let canonical = std::fs::canonicalize(&joined)
            .map_err(|e| Error::io("open backing file", e).with_path(&joined))?;
        if self.dirs.iter().any(|d| canonical.starts_with(d)) {
            Ok(canonical)
        } else {
            Err(denied(format!(
                "backing file '{}' lies outside the allowed directories",
                canonical.display()
            )))
        }
    }
}

/// The path QEMU would use for backing file `name` of the image at
/// `overlay`: relative names are relative to the overlay's directory.
pub fn backing_path(overlay: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    match overlay.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(p),
        _ => p.to_path_buf(),
    }
}
