//! `local`: one raw file per volume (`volume-<id>`) and per snapshot
//! (`snapshot-<id>`) under the data dir. Guests open the file directly:
//! `connection_info` is `{"driver_volume_type": "local", "data":
//! {"device_path": ..., "format": "raw"}}`. Copies are sparse (zero regions
//! are not written), through the disk engine, never `qemu-img`.

use std::path::{Path, PathBuf};

use nimbus_disk::{BackingPolicy, ConvertOptions, Format, SizeChange};
use serde_json::{Value, json};

use super::{DataFormat, Driver, DriverSnapshot, DriverVolume, ModelUpdate};
use crate::error::{VolumeError, VolumeErrorKind};

/// The local-file backend.
#[derive(Debug, Clone)]
pub struct LocalDriver {
    dir: PathBuf,
}

fn gib(n: u64) -> Result<u64, VolumeError> {
    n.checked_mul(1 << 30)
        .ok_or_else(|| VolumeError::new(VolumeErrorKind::Invalid, "size out of range"))
}

/// Ids become file names: only a UUID's characters are allowed.
fn check_id(id: &str) -> Result<&str, VolumeError> {
    if !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        Ok(id)
    } else {
        Err(VolumeError::new(
            VolumeErrorKind::Invalid,
            format!("invalid id {id:?}"),
        ))
    }
}

impl LocalDriver {
    /// Files under `dir` (created if missing).
    pub fn new(dir: &Path) -> Result<LocalDriver, VolumeError> {
        std::fs::create_dir_all(dir).map_err(|e| {
            VolumeError::backend(format!("cannot create {}", dir.display())).with_source(e)
        })?;
        Ok(LocalDriver {
            dir: dir.to_path_buf(),
        })
    }

    /// The file holding volume `id`.
    pub fn volume_path(&self, id: &str) -> Result<PathBuf, VolumeError> {
        Ok(self.dir.join(format!("volume-{}", check_id(id)?)))
    }

    /// The file holding snapshot `id`.
    pub fn snapshot_path(&self, id: &str) -> Result<PathBuf, VolumeError> {
        Ok(self.dir.join(format!("snapshot-{}", check_id(id)?)))
    }

    /// Sparse copy of raw `src` into a new raw `dst`, then grown to `size`
    /// bytes; nothing is left at `dst` on failure.
    fn copy_into(
        &self,
        src: &Path,
        src_format: Format,
        dst: &Path,
        size: u64,
    ) -> Result<(), VolumeError> {
        let tmp = dst.with_extension("part");
        let result = (|| {
            nimbus_disk::convert(
                src,
                src_format,
                &BackingPolicy::deny_all(),
                &tmp,
                Format::Raw,
                &ConvertOptions::default(),
                &mut |_, _| {},
            )?;
            let now = std::fs::metadata(&tmp)
                .map_err(|e| VolumeError::backend("stat copy").with_source(e))?
                .len();
            if now > size {
                return Err(VolumeError::new(
                    VolumeErrorKind::Invalid,
                    format!("the data ({now} bytes) is larger than the volume ({size} bytes)"),
                ));
            }
            nimbus_disk::resize(
                &tmp,
                Format::Raw,
                &BackingPolicy::deny_all(),
                SizeChange::To(size),
                false,
            )?;
            std::fs::rename(&tmp, dst)
                .map_err(|e| VolumeError::backend("rename copy into place").with_source(e))
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

fn remove_if_present(path: &Path) -> Result<(), VolumeError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => {
            Err(VolumeError::backend(format!("cannot remove {}", path.display())).with_source(e))
        }
    }
}

impl Driver for LocalDriver {
    fn name(&self) -> &'static str {
        "local"
    }

    fn create_volume(&self, volume: &DriverVolume) -> Result<(), VolumeError> {
        let path = self.volume_path(&volume.id)?;
        nimbus_disk::create_raw(&path, gib(volume.size_gib)?)?;
        Ok(())
    }

    fn create_volume_from_snapshot(
        &self,
        volume: &DriverVolume,
        snapshot: &DriverSnapshot,
    ) -> Result<(), VolumeError> {
        self.copy_into(
            &self.snapshot_path(&snapshot.id)?,
            Format::Raw,
            &self.volume_path(&volume.id)?,
            gib(volume.size_gib)?,
        )
    }

    fn create_cloned_volume(
        &self,
        volume: &DriverVolume,
        source: &DriverVolume,
    ) -> Result<(), VolumeError> {
        self.copy_into(
            &self.volume_path(&source.id)?,
            Format::Raw,
            &self.volume_path(&volume.id)?,
            gib(volume.size_gib)?,
        )
    }

    fn delete_volume(&self, volume: &DriverVolume) -> Result<(), VolumeError> {
        remove_if_present(&self.volume_path(&volume.id)?)
    }

    fn create_export(
        &self,
        _volume: &DriverVolume,
        _connector: &Value,
    ) -> Result<ModelUpdate, VolumeError> {
        Ok(ModelUpdate::default())
    }

    fn remove_export(&self, _volume: &DriverVolume) -> Result<(), VolumeError> {
        Ok(())
    }

    fn initialize_connection(
        &self,
        volume: &DriverVolume,
        _connector: &Value,
    ) -> Result<Value, VolumeError> {
        let path = self.volume_path(&volume.id)?;
        if !path.exists() {
            return Err(VolumeError::backend(format!(
                "volume file {} is missing",
                path.display()
            )));
        }
        Ok(json!({
            "driver_volume_type": "local",
            "data": {
                "device_path": path.to_string_lossy(),
                "format": "raw",
                "volume_id": volume.id,
                "access_mode": "rw",
            },
        }))
    }

    fn terminate_connection(
        &self,
        _volume: &DriverVolume,
        _connector: Option<&Value>,
    ) -> Result<(), VolumeError> {
        Ok(())
    }

    fn extend_volume(&self, volume: &DriverVolume, new_size_gib: u64) -> Result<(), VolumeError> {
        nimbus_disk::resize(
            &self.volume_path(&volume.id)?,
            Format::Raw,
            &BackingPolicy::deny_all(),
            SizeChange::To(gib(new_size_gib)?),
            false,
        )?;
        Ok(())
    }

    fn create_snapshot(
        &self,
        snapshot: &DriverSnapshot,
        volume: &DriverVolume,
    ) -> Result<(), VolumeError> {
        self.copy_into(
            &self.volume_path(&volume.id)?,
            Format::Raw,
            &self.snapshot_path(&snapshot.id)?,
            gib(snapshot.size_gib)?,
        )
    }

    fn delete_snapshot(&self, snapshot: &DriverSnapshot) -> Result<(), VolumeError> {
        remove_if_present(&self.snapshot_path(&snapshot.id)?)
    }

    fn copy_image_to_volume(
        &self,
        volume: &DriverVolume,
        image: &Path,
        format: DataFormat,
    ) -> Result<(), VolumeError> {
        self.copy_into(
            image,
            format,
            &self.volume_path(&volume.id)?,
            gib(volume.size_gib)?,
        )
    }

    fn copy_volume_to_image(
        &self,
        volume: &DriverVolume,
        dest: &Path,
        format: DataFormat,
    ) -> Result<(), VolumeError> {
        nimbus_disk::convert(
            &self.volume_path(&volume.id)?,
            Format::Raw,
            &BackingPolicy::deny_all(),
            dest,
            format,
            &ConvertOptions::default(),
            &mut |_, _| {},
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(id: &str, gib: u64) -> DriverVolume {
        DriverVolume {
            id: id.into(),
            size_gib: gib,
            provider_location: None,
            provider_auth: None,
        }
    }

    #[test]
    fn snapshot_and_clone_keep_data_and_grow() {
        let dir = tempfile::tempdir().unwrap();
        let d = LocalDriver::new(dir.path()).unwrap();
        let a = vol("aaaa-1", 1);
        d.create_volume(&a).unwrap();
        let path = d.volume_path("aaaa-1").unwrap();
        {
            use std::io::{Seek, SeekFrom, Write};
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.seek(SeekFrom::Start(4096)).unwrap();
            f.write_all(b"hello volume").unwrap();
        }
        let snap = DriverSnapshot {
            id: "bbbb-2".into(),
            volume_id: a.id.clone(),
            size_gib: 1,
        };
        d.create_snapshot(&snap, &a).unwrap();
        let b = vol("cccc-3", 2);
        d.create_volume_from_snapshot(&b, &snap).unwrap();
        let copy = d.volume_path("cccc-3").unwrap();
        assert_eq!(std::fs::metadata(&copy).unwrap().len(), 2 << 30);
        {
            use std::io::{Read, Seek, SeekFrom};
            let mut f = std::fs::File::open(&copy).unwrap();
            f.seek(SeekFrom::Start(4096)).unwrap();
            let mut got = [0u8; 12];
            f.read_exact(&mut got).unwrap();
            assert_eq!(&got, b"hello volume");
        }
        d.extend_volume(&b, 3).unwrap();
        assert_eq!(
            std::fs::metadata(d.volume_path("cccc-3").unwrap())
                .unwrap()
                .len(),
            3 << 30
        );
        // Shrinking a copy below its data is refused, and leaves nothing.
        let small = vol("dddd-4", 1);
        assert!(d.create_cloned_volume(&small, &b).is_err());
        assert!(!d.volume_path("dddd-4").unwrap().exists());
        d.delete_volume(&b).unwrap();
        d.delete_volume(&b).unwrap();
        assert!(d.volume_path("../etc").is_err());
    }
}
