//! The `_base` image cache (nova's `imagecache` and the image backends'
//! `cache()`): one file per image at `_base/<sha1 of the image id>`,
//! fetched once however many builds ask at the same moment, verified by the
//! image client, converted to raw when `force_raw_images`; blank ephemeral
//! (`ephemeral_<gb>_<os_type>`) and swap (`swap_<mb>`) bases made the same
//! way; and the cache manager's removal of bases nobody uses.
//!
//! A base's format is written beside it (`<name>.format`) and never probed
//! from its bytes: a raw image whose data starts like a qcow2 header must
//! stay raw.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use nimbus_common::RequestContext;
use nimbus_disk::{BackingPolicy, ConvertOptions, Format};
use nimbus_image::client::{FetchErrorKind, ImageClient};
use sha1::{Digest, Sha1};

use crate::config::ComputeConfig;
use crate::error::{ComputeError, ComputeErrorKind};

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;
/// Larger ephemeral or swap disks than this are refused (a flavor typo
/// must not make a multi-terabyte file, even a sparse one).
const MAX_BLANK_BYTES: u64 = 64 << 40;
const FORMAT_SUFFIX: &str = ".format";
const TMP_PREFIX: &str = ".tmp-";
/// How old another writer's temporary file in `_base` must be before the
/// cache manager takes it for the leftover of a crash.
const FOREIGN_TMP_MIN_AGE: Duration = Duration::from_secs(24 * 3600);

/// A file in `_base`, ready to be a backing file or a copy source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedImage {
    /// `instances_path/_base/<name>`.
    pub path: PathBuf,
    /// Its format (raw after `force_raw_images`).
    pub format: Format,
    /// Its virtual size in bytes.
    pub virtual_size: u64,
}

/// The `_base` cache of one compute host.
#[derive(Debug)]
pub struct ImageCache {
    base_dir: PathBuf,
    instances_path: PathBuf,
    force_raw: bool,
    max_age: Duration,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    downloads: AtomicU64,
}

impl ImageCache {
    /// The cache under `config.instances_path/_base` (created on first use).
    pub fn new(config: &ComputeConfig) -> ImageCache {
        ImageCache {
            base_dir: config.instances_path.join("_base"),
            instances_path: config.instances_path.clone(),
            force_raw: config.force_raw_images,
            max_age: Duration::from_secs(config.remove_unused_original_minimum_age_seconds),
            locks: Mutex::new(HashMap::new()),
            downloads: AtomicU64::new(0),
        }
    }

    /// The `_base` directory.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// How many image downloads this cache has completed (a statistic:
    /// concurrent requests for one image count once).
    pub fn downloads(&self) -> u64 {
        self.downloads.load(Ordering::Relaxed)
    }

    /// The cache file name of image `image_id` (nova's `get_cache_fname`).
    pub fn name_for(image_id: &str) -> String {
        hex::encode(Sha1::digest(image_id.as_bytes()))
    }

    fn lock_for(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(name.to_string()).or_default().clone()
    }

    /// The cached copy of image `image_id` (a root, kernel or ramdisk
    /// image), fetched under the caller's visibility if not cached yet.
    pub async fn fetch(
        &self,
        images: &ImageClient,
        ctx: &RequestContext,
        image_id: &str,
    ) -> Result<CachedImage, ComputeError> {
        // Every caller must be allowed to see the image, cached or not.
        let image = images
            .image_get(ctx, image_id)
            .await
            .map_err(|e| image_error(image_id, e.kind, e.to_string()))?;
        let declared = image.disk_format.as_deref().unwrap_or("");
        let uploaded = match declared {
            "qcow2" => Format::Qcow2,
            "raw" | "ami" | "aki" | "ari" => Format::Raw,
            other => {
                return Err(ComputeError::new(
                    ComputeErrorKind::Image,
                    format!(
                        "Image {image_id} is unacceptable: disk format {other:?} is not supported \
                         (raw, qcow2, ami, aki and ari are)"
                    ),
                ));
            }
        };
        let name = Self::name_for(image_id);
        let lock = self.lock_for(&name);
        let _guard = lock.lock().await;
        let path = self.base_dir.join(&name);
        if let Some(cached) = self.reuse(&path).await? {
            return Ok(cached);
        }
        self.ensure_base_dir().await?;
        let download = self.base_dir.join(format!("{TMP_PREFIX}{name}.download"));
        let fetched = images
            .image_fetch_to(ctx, image_id, &download)
            .await
            .map_err(|e| image_error(image_id, e.kind, e.to_string()));
        if let Err(err) = fetched {
            let _ = tokio::fs::remove_file(&download).await;
            return Err(err);
        }
        self.downloads.fetch_add(1, Ordering::Relaxed);
        let target = if self.force_raw {
            Format::Raw
        } else {
            uploaded
        };
        let converting = self.base_dir.join(format!("{TMP_PREFIX}{name}.converted"));
        let (dl, conv, dest) = (download.clone(), converting.clone(), path.clone());
        let image_id_owned = image_id.to_string();
        let result =
            blocking(move || place_base(&dl, uploaded, &conv, target, &dest, &image_id_owned))
                .await;
        let _ = tokio::fs::remove_file(&download).await;
        let _ = tokio::fs::remove_file(&converting).await;
        let virtual_size = result?;
        write_format(&path, target).await?;
        Ok(CachedImage {
            path,
            format: target,
            virtual_size,
        })
    }

    /// The blank ext4 base `ephemeral_<gb>_<os_type>` (labelled
    /// `ephemeral0`, as nova's `_create_ephemeral`).
    pub async fn ephemeral(&self, gb: u64, os_type: &str) -> Result<CachedImage, ComputeError> {
        let os_type = fs_type_name(os_type);
        let size = blank_size(gb, GIB, "ephemeral disk")?;
        self.blank(format!("ephemeral_{gb}_{os_type}"), size, |dev| {
            nimbus_guestfs::create_ephemeral_ext4(dev, "ephemeral0")
        })
        .await
    }

    /// The swap base `swap_<mb>` (nova's `_create_swap`, `mkswap`).
    pub async fn swap(&self, mb: u64) -> Result<CachedImage, ComputeError> {
        let size = blank_size(mb, MIB, "swap disk")?;
        self.blank(format!("swap_{mb}"), size, |dev| {
            nimbus_guestfs::create_swap(dev.as_ref(), None)
        })
        .await
    }

    async fn blank(
        &self,
        name: String,
        size: u64,
        make: impl FnOnce(Arc<dyn nimbus_disk::BlockDevice>) -> nimbus_guestfs::Result<()>
        + Send
        + 'static,
    ) -> Result<CachedImage, ComputeError> {
        let lock = self.lock_for(&name);
        let _guard = lock.lock().await;
        let path = self.base_dir.join(&name);
        if let Some(cached) = self.reuse(&path).await? {
            return Ok(cached);
        }
        self.ensure_base_dir().await?;
        let tmp = self.base_dir.join(format!("{TMP_PREFIX}{name}"));
        let (t, dest) = (tmp.clone(), path.clone());
        let result = blocking(move || {
            nimbus_disk::create_raw(&t, size).map_err(|e| disk_error("creating", &t, e))?;
            let file =
                nimbus_disk::RawFile::open(&t, true).map_err(|e| disk_error("opening", &t, e))?;
            make(Arc::new(file)).map_err(|e| {
                ComputeError::new(
                    ComputeErrorKind::Build,
                    format!("formatting {}", t.display()),
                )
                .with_source(e)
            })?;
            std::fs::rename(&t, &dest).map_err(|e| io_error("renaming", &t, e))
        })
        .await;
        if let Err(err) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(err);
        }
        write_format(&path, Format::Raw).await?;
        Ok(CachedImage {
            path,
            format: Format::Raw,
            virtual_size: size,
        })
    }

    /// A complete cached file at `path`, touched so the cache manager sees
    /// it used; `None` when it is not there (or its format record is not).
    async fn reuse(&self, path: &Path) -> Result<Option<CachedImage>, ComputeError> {
        let Some(format) = read_format(path).await? else {
            return Ok(None);
        };
        let p = path.to_path_buf();
        let info = blocking(move || {
            touch(&p).map_err(|e| io_error("touching", &p, e))?;
            nimbus_disk::info(&p, Some(format)).map_err(|e| disk_error("reading", &p, e))
        })
        .await;
        match info {
            Ok(info) => Ok(Some(CachedImage {
                path: path.to_path_buf(),
                format,
                virtual_size: info.virtual_size,
            })),
            // The file went away (cleaned by hand): fetch it again.
            Err(_) if !path.exists() => Ok(None),
            Err(err) => Err(err),
        }
    }

    async fn ensure_base_dir(&self) -> Result<(), ComputeError> {
        tokio::fs::create_dir_all(&self.base_dir)
            .await
            .map_err(|e| io_error("creating", &self.base_dir, e))
    }

    /// nova's image cache manager pass: every file in `_base` that no
    /// instance uses and that was last used longer than
    /// `remove_unused_original_minimum_age_seconds` ago is removed; files in
    /// use are touched. A base is in use when `in_use_image_ids` names its
    /// image (root, kernel or ramdisk of an instance on this host) or when
    /// a disk in an instance directory has it as backing file. Returns the
    /// removed files.
    pub async fn remove_unused(
        &self,
        in_use_image_ids: &[String],
    ) -> Result<Vec<PathBuf>, ComputeError> {
        let mut in_use: HashSet<String> = in_use_image_ids
            .iter()
            .map(|id| Self::name_for(id))
            .collect();
        let (instances, base_dir) = (self.instances_path.clone(), self.base_dir.clone());
        let backing = blocking(move || Ok(backing_files_in_use(&instances, &base_dir))).await?;
        in_use.extend(backing);
        let names = match std::fs::read_dir(&self.base_dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.ends_with(FORMAT_SUFFIX))
                .collect::<Vec<_>>(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("listing", &self.base_dir, e)),
        };
        let mut removed = Vec::new();
        for name in names {
            // A temporary file's lock is its final name's.
            let final_name = name
                .strip_prefix(TMP_PREFIX)
                .map(|n| {
                    n.trim_end_matches(".download")
                        .trim_end_matches(".converted")
                })
                .unwrap_or(&name)
                .to_string();
            let lock = self.lock_for(&final_name);
            let _guard = lock.lock().await;
            let path = self.base_dir.join(&name);
            if in_use.contains(&name) {
                let p = path.clone();
                blocking(move || touch(&p).map_err(|e| io_error("touching", &p, e))).await?;
                continue;
            }
            let Ok(meta) = tokio::fs::metadata(&path).await else {
                continue;
            };
            let age = meta
                .modified()
                .ok()
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .unwrap_or_default();
            // Other writers' temporary files (the image client's `.fetch-*`
            // downloads) are in progress unless they are very old: only a
            // crash leaves one behind.
            let foreign_tmp = name.starts_with('.') && !name.starts_with(TMP_PREFIX);
            let min_age = if foreign_tmp {
                self.max_age.max(FOREIGN_TMP_MIN_AGE)
            } else {
                self.max_age
            };
            if age <= min_age {
                continue;
            }
            tracing::info!(path = %path.display(), "removing unused base file");
            tokio::fs::remove_file(&path)
                .await
                .map_err(|e| io_error("removing", &path, e))?;
            let _ = tokio::fs::remove_file(format_path(&path)).await;
            removed.push(path);
        }
        Ok(removed)
    }
}

/// Moves a verified download into place as `target`: kept as is, or
/// converted (which also flattens nothing: a backing file is refused).
/// Returns the virtual size.
fn place_base(
    download: &Path,
    uploaded: Format,
    converting: &Path,
    target: Format,
    dest: &Path,
    image_id: &str,
) -> Result<u64, ComputeError> {
    let info = nimbus_disk::info(download, Some(uploaded))
        .map_err(|e| unacceptable(image_id, "its data is not a valid image").with_source(e))?;
    if let Some(backing) = &info.backing_filename {
        return Err(unacceptable(
            image_id,
            &format!("it names a backing file ({backing:?})"),
        ));
    }
    if info.qcow2.as_ref().is_some_and(|q| q.data_file.is_some()) {
        return Err(unacceptable(image_id, "it names an external data file"));
    }
    if uploaded == target {
        std::fs::rename(download, dest).map_err(|e| io_error("renaming", download, e))?;
    } else {
        nimbus_disk::convert(
            download,
            uploaded,
            &BackingPolicy::deny_all(),
            converting,
            target,
            &ConvertOptions::default(),
            &mut |_, _| {},
        )
        .map_err(|e| unacceptable(image_id, "converting it failed").with_source(e))?;
        std::fs::rename(converting, dest).map_err(|e| io_error("renaming", converting, e))?;
    }
    Ok(info.virtual_size)
}

/// `_base` file names that a disk in an instance directory backs onto.
fn backing_files_in_use(instances: &Path, base_dir: &Path) -> HashSet<String> {
    let mut out = HashSet::new();
    let Ok(dirs) = std::fs::read_dir(instances) else {
        return out;
    };
    for dir in dirs.filter_map(|e| e.ok()) {
        if dir.file_name() == "_base" {
            continue;
        }
        let Ok(files) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for file in files.filter_map(|e| e.ok()) {
            let path = file.path();
            let is_disk = file
                .file_name()
                .to_str()
                .is_some_and(|n| n == "disk" || n.starts_with("disk."));
            if !is_disk || nimbus_disk::probe(&path).ok() != Some(Format::Qcow2) {
                continue;
            }
            // Header reads only; the recorded backing name is what matters.
            if let Ok(info) = nimbus_disk::info(&path, Some(Format::Qcow2))
                && let Some(full) = info.full_backing_filename
                && full.parent() == Some(base_dir)
                && let Some(name) = full.file_name().and_then(|n| n.to_str())
            {
                out.insert(name.to_string());
            }
        }
    }
    out
}

/// nova's `get_fs_type_for_os_type` name part: the image's `os_type`, or
/// `default`; anything that is not a plain word becomes `default` so it
/// cannot shape a path.
fn fs_type_name(os_type: &str) -> &str {
    let plain = !os_type.is_empty()
        && os_type.len() <= 32
        && os_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain { os_type } else { "default" }
}

fn blank_size(n: u64, unit: u64, what: &str) -> Result<u64, ComputeError> {
    n.checked_mul(unit)
        .filter(|&s| s > 0 && s <= MAX_BLANK_BYTES)
        .ok_or_else(|| {
            ComputeError::new(
                ComputeErrorKind::Build,
                format!("a {what} of {n} units of {unit} bytes is out of range"),
            )
        })
}

fn format_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(FORMAT_SUFFIX);
    PathBuf::from(s)
}

async fn read_format(path: &Path) -> Result<Option<Format>, ComputeError> {
    let record = format_path(path);
    let text = match tokio::fs::read_to_string(&record).await {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error("reading", &record, e)),
    };
    if !path.exists() {
        return Ok(None);
    }
    match text.trim() {
        "raw" => Ok(Some(Format::Raw)),
        "qcow2" => Ok(Some(Format::Qcow2)),
        other => Err(ComputeError::corrupt(format!(
            "{}: format {other:?}",
            record.display()
        ))),
    }
}

/// Records the format last: a base without its record is not complete and
/// is made again.
async fn write_format(path: &Path, format: Format) -> Result<(), ComputeError> {
    let record = format_path(path);
    tokio::fs::write(&record, format.as_str())
        .await
        .map_err(|e| io_error("writing", &record, e))
}

fn touch(path: &Path) -> std::io::Result<()> {
    std::fs::File::options()
        .write(true)
        .open(path)?
        .set_modified(SystemTime::now())
}

fn image_error(image_id: &str, kind: FetchErrorKind, message: String) -> ComputeError {
    let context = match kind {
        FetchErrorKind::NotFound => format!("Image {image_id} could not be found."),
        FetchErrorKind::Corrupt => format!("fetching image {image_id}: {message}"),
        _ => message,
    };
    ComputeError::new(ComputeErrorKind::Image, context)
}

fn unacceptable(image_id: &str, reason: &str) -> ComputeError {
    ComputeError::new(
        ComputeErrorKind::Image,
        format!("Image {image_id} is unacceptable: {reason}"),
    )
}

pub(crate) fn io_error(what: &str, path: &Path, e: std::io::Error) -> ComputeError {
    ComputeError::new(ComputeErrorKind::Io, format!("{what} {}", path.display())).with_source(e)
}

pub(crate) fn disk_error(what: &str, path: &Path, e: nimbus_disk::Error) -> ComputeError {
    ComputeError::new(
        ComputeErrorKind::Build,
        format!("{what} {}", path.display()),
    )
    .with_source(e)
}

/// Runs heavy synchronous disk work off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ComputeError> + Send + 'static,
) -> Result<T, ComputeError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ComputeError::new(ComputeErrorKind::Build, format!("disk work panicked: {e}"))
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            ImageCache::name_for("abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(fs_type_name("linux"), "linux");
        assert_eq!(fs_type_name(""), "default");
        assert_eq!(fs_type_name("../x"), "default");
        assert!(blank_size(0, GIB, "x").is_err());
        assert!(blank_size(u64::MAX, GIB, "x").is_err());
        assert_eq!(blank_size(2, MIB, "x").unwrap(), 2 << 20);
    }

    #[tokio::test]
    async fn the_manager_leaves_bases_in_use_and_other_writers_downloads() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ComputeConfig::under(dir.path());
        config.remove_unused_original_minimum_age_seconds = 0;
        let cache = ImageCache::new(&config);
        let base = cache.base_dir().to_path_buf();
        std::fs::create_dir_all(&base).unwrap();
        let used = ImageCache::name_for("used");
        let unused = ImageCache::name_for("unused");
        for name in [&used, &unused, &".fetch-a1b2c3".to_string()] {
            std::fs::write(base.join(name), b"data").unwrap();
        }
        std::fs::write(base.join(format!("{unused}{FORMAT_SUFFIX}")), b"raw").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        let removed = cache.remove_unused(&["used".to_string()]).await.unwrap();
        assert_eq!(removed, vec![base.join(&unused)]);
        assert!(base.join(&used).exists());
        assert!(!base.join(format!("{unused}{FORMAT_SUFFIX}")).exists());
        assert!(
            base.join(".fetch-a1b2c3").exists(),
            "a download in progress is not the cache's to remove"
        );
    }
}
