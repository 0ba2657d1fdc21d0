//! The Fernet key repository in the data dir, laid out as Keystone's
//! `fernet-keys/`: file `0` is the staged key, the highest number is the
//! primary (signs new tokens), the others only validate older tokens.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{IdentityError, IdentityErrorKind};

/// Keys kept at most, staged and primary included (Keystone's default).
pub const DEFAULT_MAX_ACTIVE_KEYS: usize = 3;

/// A directory of Fernet keys.
#[derive(Debug, Clone)]
pub struct KeyRepository {
    dir: PathBuf,
    max_active_keys: usize,
}

impl KeyRepository {
    /// Opens `dir`, creating it with a staged and a primary key if it has none.
    pub fn open(dir: &Path, max_active_keys: usize) -> Result<KeyRepository, IdentityError> {
        let repo = KeyRepository {
            dir: dir.to_path_buf(),
            max_active_keys: max_active_keys.max(3),
        };
        create_private_dir(dir)?;
        if repo.indexes()?.is_empty() {
            repo.write_key(0)?;
            repo.write_key(1)?;
        }
        Ok(repo)
    }

    /// Keys as text, primary first (it signs), then the others.
    pub fn load(&self) -> Result<Vec<String>, IdentityError> {
        let mut indexes = self.indexes()?;
        indexes.sort_unstable_by(|a, b| b.cmp(a));
        let mut keys = Vec::with_capacity(indexes.len());
        for index in indexes {
            let path = self.dir.join(index.to_string());
            let text =
                fs::read_to_string(&path).map_err(|e| io_error("read fernet key", &path, e))?;
            let key = text.trim().to_string();
            if fernet::Fernet::new(&key).is_none() {
                return Err(IdentityError::new(
                    IdentityErrorKind::Config,
                    format!("{} is not a valid Fernet key", path.display()),
                ));
            }
            keys.push(key);
        }
        if keys.len() < 2 {
            return Err(IdentityError::new(
                IdentityErrorKind::Config,
                format!("{} needs a staged and a primary key", self.dir.display()),
            ));
        }
        Ok(keys)
    }

    /// How long ago the primary key was made (from its file time).
    pub fn primary_age(&self) -> Result<Duration, IdentityError> {
        let primary = self.indexes()?.into_iter().max().unwrap_or(0);
        let path = self.dir.join(primary.to_string());
        let modified = fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_err(|e| io_error("stat fernet key", &path, e))?;
        Ok(SystemTime::now()
            .duration_since(modified)
            .unwrap_or_default())
    }

    /// Keystone's rotation: the staged key becomes the new primary, a new
    /// staged key is made, and the oldest secondaries beyond
    /// `max_active_keys` are removed.
    pub fn rotate(&self) -> Result<(), IdentityError> {
        let indexes = self.indexes()?;
        let next = indexes.iter().max().copied().unwrap_or(0) + 1;
        let staged = self.dir.join("0");
        let promoted = self.dir.join(next.to_string());
        fs::rename(&staged, &promoted).map_err(|e| io_error("promote staged key", &staged, e))?;
        self.write_key(0)?;
        let mut secondaries: Vec<u64> = self
            .indexes()?
            .into_iter()
            .filter(|&i| i != 0 && i != next)
            .collect();
        secondaries.sort_unstable();
        let keep = self.max_active_keys.saturating_sub(2);
        let excess = secondaries.len().saturating_sub(keep);
        for index in &secondaries[..excess] {
            let path = self.dir.join(index.to_string());
            fs::remove_file(&path).map_err(|e| io_error("remove old key", &path, e))?;
        }
        tracing::info!(primary = next, "rotated fernet keys");
        Ok(())
    }

    fn indexes(&self) -> Result<Vec<u64>, IdentityError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| io_error("list keys", &self.dir, e))?;
        let mut indexes = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| io_error("list keys", &self.dir, e))?;
            if let Some(index) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
            {
                indexes.push(index);
            }
        }
        Ok(indexes)
    }

    fn write_key(&self, index: u64) -> Result<(), IdentityError> {
        let path = self.dir.join(index.to_string());
        let tmp = self.dir.join(format!(".{index}.tmp"));
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&tmp)
            .map_err(|e| io_error("write key", &tmp, e))?;
        file.write_all(fernet::Fernet::generate_key().as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| io_error("write key", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| io_error("write key", &path, e))?;
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> Result<(), IdentityError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| io_error("create key repository", dir, e))
}

fn io_error(what: &str, path: &Path, err: std::io::Error) -> IdentityError {
    IdentityError::new(IdentityErrorKind::Io, format!("{what} {}", path.display())).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_promotes_staged_and_keeps_at_most_max() {
        let dir = tempfile::tempdir().unwrap();
        let repo = KeyRepository::open(&dir.path().join("keys"), 3).unwrap();
        let first = repo.load().unwrap();
        assert_eq!(first.len(), 2);
        let staged = fs::read_to_string(dir.path().join("keys/0")).unwrap();
        repo.rotate().unwrap();
        let second = repo.load().unwrap();
        assert_eq!(second.len(), 3);
        assert_eq!(second[0], staged.trim(), "the staged key became primary");
        assert!(
            second.contains(&first[0]),
            "the old primary still validates"
        );
        repo.rotate().unwrap();
        repo.rotate().unwrap();
        assert_eq!(repo.load().unwrap().len(), 3);
        assert!(!repo.load().unwrap().contains(&first[0]));
        // Reopening keeps the keys.
        let again = KeyRepository::open(&dir.path().join("keys"), 3).unwrap();
        assert_eq!(again.load().unwrap(), repo.load().unwrap());
    }

    #[test]
    fn a_corrupt_key_is_a_config_error() {
        let dir = tempfile::tempdir().unwrap();
        let repo = KeyRepository::open(dir.path(), 3).unwrap();
        fs::write(dir.path().join("1"), "not a key").unwrap();
        assert_eq!(repo.load().unwrap_err().kind(), IdentityErrorKind::Config);
    }
}
