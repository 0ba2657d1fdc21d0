//! Guest paths: absolute, normalised, and never able to name anything
//! outside the guest's root.

use crate::{Error, ErrorKind, Result};

/// The longest guest path accepted (Linux's PATH_MAX).
pub const MAX_PATH_BYTES: usize = 4096;
/// The longest single name in a directory.
pub const MAX_NAME_BYTES: usize = 255;

/// The components of the absolute guest path `path`.
///
/// `..` is refused outright rather than resolved: nova's own fix for
/// CVE-2012-3447 canonicalises and rejects any path that escapes the root,
/// and no legitimate injected path needs it. `.` and repeated slashes are
/// dropped.
pub fn components(path: &str) -> Result<Vec<Vec<u8>>> {
    let invalid =
        |message: &str| Error::new(ErrorKind::InvalidInput, "path", message).with_path(path);
    if !path.starts_with('/') {
        return Err(invalid("guest paths must be absolute"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(invalid("path is longer than 4096 bytes"));
    }
    if path.contains('\0') {
        return Err(invalid("path contains a NUL byte"));
    }
    let mut out = Vec::new();
    for name in path.split('/') {
        match name {
            "" | "." => {}
            ".." => return Err(invalid("path contains '..'")),
            name if name.len() > MAX_NAME_BYTES => {
                return Err(invalid("a path component is longer than 255 bytes"));
            }
            name => out.push(name.as_bytes().to_vec()),
        }
    }
    Ok(out)
}

/// Splits a symlink target; `..` is kept, to be resolved (and clamped at
/// the guest root) by the walker.
pub fn link_components(target: &[u8]) -> Vec<Vec<u8>> {
    target
        .split(|&b| b == b'/')
        .filter(|n| !n.is_empty() && *n != b".")
        .map(<[u8]>::to_vec)
        .collect()
}

/// `/a/b/c` from components.
pub fn join(names: &[Vec<u8>]) -> Vec<u8> {
    if names.is_empty() {
        return b"/".to_vec();
    }
    let mut out = Vec::new();
    for name in names {
        out.push(b'/');
        out.extend_from_slice(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_refuses_escapes() {
        assert_eq!(
            components("//etc/./passwd").unwrap(),
            vec![b"etc".to_vec(), b"passwd".to_vec()]
        );
        assert!(components("/").unwrap().is_empty());
        for bad in ["etc/passwd", "/etc/../../../../etc/passwd", "/a\0b", ""] {
            assert_eq!(
                components(bad).unwrap_err().kind,
                ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
        assert!(components(&format!("/{}", "a".repeat(256))).is_err());
    }

    #[test]
    fn link_targets_keep_dotdot() {
        assert_eq!(
            link_components(b"../x/./y"),
            vec![b"..".to_vec(), b"x".to_vec(), b"y".to_vec()]
        );
        assert_eq!(join(&[b"a".to_vec(), b"b".to_vec()]), b"/a/b");
    }
}
