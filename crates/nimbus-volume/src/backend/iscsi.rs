//! `iscsi`: the local files, exported by `tgtd` on the configured portal,
//! one target per volume, configured exactly as Cinder's `TgtAdm` helper
//! does: a file `volume-<id>` in `volumes_dir` holding
//!
//! ```text
//! <target iqn.2010-10.org.openstack:volume-<id>>
//!     backing-store /path/to/volume-<id>
//!     driver iscsi
//!     incominguser <user> <password>
//!     write-cache on
//! </target>
//! ```
//!
//! applied with `tgt-admin --update <iqn>`, withdrawn with
//! `tgt-admin --force --delete <iqn>`. CHAP credentials are generated per
//! volume and kept in `provider_auth` (`CHAP user password`), as Cinder does.
//! tgtd is started (listening only on the portal address) when no tgtd
//! answers; it is left running for the targets it serves.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use rand::Rng;
use serde_json::{Value, json};

use super::local::LocalDriver;
use super::{DataFormat, Driver, DriverSnapshot, DriverVolume, ModelUpdate};
use crate::config::VolumeConfig;
use crate::error::VolumeError;

/// The LUN tgt gives the backing store (LUN 0 is the target's controller).
pub const TARGET_LUN: u64 = 1;

/// Runs tgt's tools (Cinder's `TgtAdm` target helper).
#[derive(Debug)]
pub struct TgtAdm {
    volumes_dir: PathBuf,
    portal_ip: String,
    portal_port: u16,
    target_prefix: String,
    /// tgt-admin picks the next free tid by reading tgtd's state: one
    /// change at a time from this process.
    lock: Mutex<()>,
}

fn run(program: &str, args: &[&str]) -> Result<String, VolumeError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| VolumeError::backend(format!("cannot run {program}")).with_source(e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(VolumeError::backend(format!(
            "{program} {} failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Random text from an alphabet without look-alikes, as Cinder's
/// `generate_password`.
pub fn generate_secret(len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl TgtAdm {
    /// The helper for `config`; starts tgtd if none answers.
    pub fn new(config: &VolumeConfig) -> Result<TgtAdm, VolumeError> {
        std::fs::create_dir_all(&config.volumes_dir).map_err(|e| {
            VolumeError::backend(format!("cannot create {}", config.volumes_dir.display()))
                .with_source(e)
        })?;
        let tgt = TgtAdm {
            volumes_dir: config.volumes_dir.clone(),
            portal_ip: config.target_ip_address.clone(),
            portal_port: config.target_port,
            target_prefix: config.target_prefix.clone(),
            lock: Mutex::new(()),
        };
        tgt.ensure_tgtd()?;
        Ok(tgt)
    }

    /// Whether a tgtd answers on its control socket.
    pub fn tgtd_running() -> bool {
        run(
            "tgtadm",
            &["--lld", "iscsi", "--op", "show", "--mode", "target"],
        )
        .is_ok()
    }

    /// Starts tgtd, listening only on the portal, unless one answers.
    pub fn ensure_tgtd(&self) -> Result<(), VolumeError> {
        if TgtAdm::tgtd_running() {
            return Ok(());
        }
        let portal = format!("portal={}:{}", self.portal_ip, self.portal_port);
        // tgtd daemonizes itself (its parent exits at once). No pipes: the
        // daemon would hold them open; its own process group, so a signal
        // to ours does not stop the targets it serves.
        use std::os::unix::process::CommandExt;
        let status = Command::new("tgtd")
            .args(["--iscsi", &portal])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .status()
            .map_err(|e| VolumeError::backend("cannot run tgtd").with_source(e))?;
        if !status.success() {
            return Err(VolumeError::backend(format!("tgtd exited with {status}")));
        }
        for _ in 0..100 {
            if TgtAdm::tgtd_running() {
                tracing::info!(%portal, "started tgtd");
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Err(VolumeError::backend("tgtd did not start"))
    }

    /// The target name of a volume.
    pub fn iqn(&self, volume_id: &str) -> String {
        format!("{}volume-{volume_id}", self.target_prefix)
    }

    /// `ip:port`.
    pub fn portal(&self) -> String {
        format!("{}:{}", self.portal_ip, self.portal_port)
    }

    fn conf_path(&self, volume_id: &str) -> PathBuf {
        self.volumes_dir.join(format!("volume-{volume_id}"))
    }

    /// Cinder's `TgtAdm.VOLUME_CONF` for one target.
    pub fn target_conf(iqn: &str, backing: &Path, user: &str, password: &str) -> String {
        format!(
            "\n<target {iqn}>\n    backing-store {}\n    driver iscsi\n    incominguser {user} {password}\n    \n    write-cache on\n</target>\n",
            backing.display()
        )
    }

    /// Writes the target's file and makes tgtd serve it.
    pub fn create_target(
        &self,
        volume_id: &str,
        backing: &Path,
        user: &str,
        password: &str,
    ) -> Result<String, VolumeError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.ensure_tgtd()?;
        let iqn = self.iqn(volume_id);
        let conf = self.conf_path(volume_id);
        std::fs::write(&conf, TgtAdm::target_conf(&iqn, backing, user, password)).map_err(|e| {
            VolumeError::backend(format!("cannot write {}", conf.display())).with_source(e)
        })?;
        let conf_arg = conf.to_string_lossy().into_owned();
        run("tgt-admin", &["--conf", &conf_arg, "--update", &iqn])?;
        // tgt-admin exits 0 even when tgtadm refused a step: check.
        let shown = run(
            "tgtadm",
            &["--lld", "iscsi", "--op", "show", "--mode", "target"],
        )?;
        if !shown.contains(&format!(": {iqn}\n")) {
            return Err(VolumeError::backend(format!(
                "tgtd does not serve {iqn} after tgt-admin --update"
            )));
        }
        Ok(iqn)
    }

    /// Withdraws the target and deletes its file.
    pub fn remove_target(&self, volume_id: &str) -> Result<(), VolumeError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let iqn = self.iqn(volume_id);
        let shown = run(
            "tgtadm",
            &["--lld", "iscsi", "--op", "show", "--mode", "target"],
        )?;
        if shown.contains(&format!(": {iqn}\n")) {
            run("tgt-admin", &["--force", "--delete", &iqn])?;
        }
        match std::fs::remove_file(self.conf_path(volume_id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(VolumeError::backend("cannot remove the target file").with_source(e)),
        }
    }
}

/// The iSCSI backend: local files plus tgt targets.
#[derive(Debug)]
pub struct IscsiDriver {
    files: LocalDriver,
    tgt: TgtAdm,
}

impl IscsiDriver {
    /// Files from `files`, exported by `tgt`.
    pub fn new(files: LocalDriver, tgt: TgtAdm) -> Result<IscsiDriver, VolumeError> {
        Ok(IscsiDriver { files, tgt })
    }
}

/// Splits `CHAP user password`.
fn chap(auth: Option<&str>) -> Option<(String, String)> {
    let mut words = auth?.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("CHAP"), Some(user), Some(password)) => Some((user.into(), password.into())),
        _ => None,
    }
}

impl Driver for IscsiDriver {
    fn name(&self) -> &'static str {
        "iscsi"
    }
    fn create_volume(&self, volume: &DriverVolume) -> Result<(), VolumeError> {
        self.files.create_volume(volume)
    }
    fn create_volume_from_snapshot(
        &self,
        volume: &DriverVolume,
        snapshot: &DriverSnapshot,
    ) -> Result<(), VolumeError> {
        self.files.create_volume_from_snapshot(volume, snapshot)
    }
    fn create_cloned_volume(
        &self,
        volume: &DriverVolume,
        source: &DriverVolume,
    ) -> Result<(), VolumeError> {
        self.files.create_cloned_volume(volume, source)
    }
    fn delete_volume(&self, volume: &DriverVolume) -> Result<(), VolumeError> {
        self.tgt.remove_target(&volume.id)?;
        self.files.delete_volume(volume)
    }

    fn create_export(
        &self,
        volume: &DriverVolume,
        _connector: &Value,
    ) -> Result<ModelUpdate, VolumeError> {
        // Credentials are made once per volume and reused (Cinder keeps them
        // in provider_auth across exports).
        let (user, password) = chap(volume.provider_auth.as_deref())
            .unwrap_or_else(|| (generate_secret(20), generate_secret(16)));
        let backing = self.files.volume_path(&volume.id)?;
        let iqn = self
            .tgt
            .create_target(&volume.id, &backing, &user, &password)?;
        Ok(ModelUpdate {
            provider_location: Some(format!("{},1 {iqn} {TARGET_LUN}", self.tgt.portal())),
            provider_auth: Some(format!("CHAP {user} {password}")),
        })
    }

    fn remove_export(&self, volume: &DriverVolume) -> Result<(), VolumeError> {
        self.tgt.remove_target(&volume.id)
    }

    fn initialize_connection(
        &self,
        volume: &DriverVolume,
        _connector: &Value,
    ) -> Result<Value, VolumeError> {
        let location = volume
            .provider_location
            .as_deref()
            .ok_or_else(|| VolumeError::backend("the volume is not exported"))?;
        let mut parts = location.split_whitespace();
        let (Some(portal), Some(iqn), Some(lun)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(VolumeError::corrupt(format!(
                "provider_location {location}"
            )));
        };
        let portal = portal.split(',').next().unwrap_or(portal);
        let lun: u64 = lun
            .parse()
            .map_err(|_| VolumeError::corrupt("provider_location lun"))?;
        let (user, password) = chap(volume.provider_auth.as_deref())
            .ok_or_else(|| VolumeError::backend("the volume has no CHAP credentials"))?;
        Ok(json!({
            "driver_volume_type": "iscsi",
            "data": {
                "target_discovered": false,
                "target_iqn": iqn,
                "target_portal": portal,
                "target_lun": lun,
                "volume_id": volume.id,
                "auth_method": "CHAP",
                "auth_username": user,
                "auth_password": password,
                "encrypted": false,
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
        self.files.extend_volume(volume, new_size_gib)
    }
    fn create_snapshot(
        &self,
        snapshot: &DriverSnapshot,
        volume: &DriverVolume,
    ) -> Result<(), VolumeError> {
        self.files.create_snapshot(snapshot, volume)
    }
    fn delete_snapshot(&self, snapshot: &DriverSnapshot) -> Result<(), VolumeError> {
        self.files.delete_snapshot(snapshot)
    }
    fn copy_image_to_volume(
        &self,
        volume: &DriverVolume,
        image: &Path,
        format: DataFormat,
    ) -> Result<(), VolumeError> {
        self.files.copy_image_to_volume(volume, image, format)
    }
    fn copy_volume_to_image(
        &self,
        volume: &DriverVolume,
        dest: &Path,
        format: DataFormat,
    ) -> Result<(), VolumeError> {
        self.files.copy_volume_to_image(volume, dest, format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_conf_is_cinders_template() {
        let conf = TgtAdm::target_conf("iqn.x:volume-1", Path::new("/v/volume-1"), "u", "p");
        assert!(conf.contains("<target iqn.x:volume-1>\n"));
        assert!(conf.contains("    backing-store /v/volume-1\n"));
        assert!(conf.contains("    incominguser u p\n"));
        assert!(conf.contains("    write-cache on\n</target>"));
        assert_eq!(chap(Some("CHAP a b")), Some(("a".into(), "b".into())));
        assert_eq!(chap(Some("x")), None);
        let s = generate_secret(16);
        assert_eq!(s.len(), 16);
        assert_ne!(s, generate_secret(16));
    }
}
