//! nova's `inject_data` / `inject_data_into_fs` (`nova/virt/disk/api.py`).

use std::sync::Arc;

use nimbus_disk::BlockDevice;

use crate::net::{NetworkInfo, render_interfaces};
use crate::{Error, ErrorKind, InjectPartition, Result, Vfs, password};

/// One kind of item nova injects; `mandatory` names these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Item {
    /// The ssh public key.
    Key,
    /// `/etc/network/interfaces`.
    Net,
    /// `/meta.js`.
    Metadata,
    /// root's password.
    AdminPassword,
    /// Personality files.
    Files,
}

impl Item {
    /// nova's name for the item (`key`, `net`, `metadata`, `admin_password`, `files`).
    pub fn name(self) -> &'static str {
        match self {
            Item::Key => "key",
            Item::Net => "net",
            Item::Metadata => "metadata",
            Item::AdminPassword => "admin_password",
            Item::Files => "files",
        }
    }

    /// The item nova calls `name`.
    pub fn from_name(name: &str) -> Option<Item> {
        all_items().find(|i| i.name() == name)
    }
}

/// What to inject; empty items are skipped, as nova skips falsy ones.
#[derive(Debug, Clone, Default)]
pub struct InjectRequest {
    /// An ssh public key for root.
    pub key: Option<String>,
    /// Network settings for `/etc/network/interfaces`.
    pub net: Option<NetworkInfo>,
    /// Key/value pairs for `/meta.js`, in order.
    pub metadata: Vec<(String, String)>,
    /// root's new password.
    pub admin_password: Option<String>,
    /// (absolute guest path, content) pairs.
    pub files: Vec<(String, Vec<u8>)>,
    /// Items whose failure aborts the injection instead of being skipped.
    pub mandatory: Vec<Item>,
    /// libvirt's `virt_type`; `lxc` changes the IPv6 stanza.
    pub libvirt_virt_type: Option<String>,
}

/// How an injection went.
#[derive(Debug, Default)]
pub struct InjectReport {
    /// Items written.
    pub injected: Vec<Item>,
    /// Optional items that failed, with why (nova logs these and boots on).
    pub skipped: Vec<(Item, Error)>,
    /// Where the filesystem was found, or `None` when injection was disabled
    /// or the image could not be opened and nothing was mandatory.
    pub location: Option<String>,
}

impl InjectReport {
    /// nova's return value: true when everything requested was injected.
    pub fn complete(&self) -> bool {
        self.skipped.is_empty() && (self.location.is_some() || self.injected.is_empty())
    }
}

/// nova's `inject_data`: opens the filesystem `partition` designates on
/// `disk`, injects, and tears down. When the filesystem cannot be opened the
/// error is returned only if a requested item is mandatory.
pub fn inject_data(
    disk: Arc<dyn BlockDevice>,
    partition: InjectPartition,
    request: &InjectRequest,
) -> Result<InjectReport> {
    if partition == InjectPartition::Disabled {
        return Ok(InjectReport::default());
    }
    let vfs = match Vfs::setup(disk, partition, true) {
        Ok(vfs) => vfs,
        Err(err) => {
            if request
                .mandatory
                .iter()
                .any(|&item| requested(request, item))
            {
                return Err(err);
            }
            tracing::warn!(error = %err, "ignoring error injecting data into image");
            let skipped = all_items()
                .filter(|&i| requested(request, i))
                .map(|i| (i, clone_err(&err)))
                .collect();
            return Ok(InjectReport {
                skipped,
                ..Default::default()
            });
        }
    };
    let result = inject_data_into_fs(&vfs, request);
    let location = vfs.location().to_string();
    let teardown = vfs.teardown();
    let mut report = result?;
    teardown?;
    report.location = Some(location);
    Ok(report)
}

/// nova's `inject_data_into_fs`: each requested item in nova's order; a
/// failing mandatory item aborts with its error, others are logged and
/// reported as skipped.
pub fn inject_data_into_fs(vfs: &Vfs, request: &InjectRequest) -> Result<InjectReport> {
    let mut report = InjectReport {
        location: Some(vfs.location().to_string()),
        ..Default::default()
    };
    for item in all_items().filter(|&i| requested(request, i)) {
        let result = match item {
            Item::Key => request
                .key
                .as_deref()
                .map_or(Ok(()), |k| inject_key(vfs, k)),
            Item::Net => request.net.as_ref().map_or(Ok(()), |n| {
                inject_net(vfs, n, request.libvirt_virt_type.as_deref())
            }),
            Item::Metadata => inject_metadata(vfs, &request.metadata),
            Item::AdminPassword => request
                .admin_password
                .as_deref()
                .map_or(Ok(()), |p| inject_admin_password(vfs, p)),
            Item::Files => inject_files(vfs, &request.files),
        };
        match result {
            Ok(()) => report.injected.push(item),
            Err(err) if request.mandatory.contains(&item) => return Err(err),
            Err(err) => {
                tracing::warn!(item = item.name(), error = %err, "ignoring error injecting into image");
                report.skipped.push((item, err));
            }
        }
    }
    Ok(report)
}

/// Every item, in nova's injection order.
fn all_items() -> impl Iterator<Item = Item> {
    [
        Item::Key,
        Item::Net,
        Item::Metadata,
        Item::AdminPassword,
        Item::Files,
    ]
    .into_iter()
}

fn requested(request: &InjectRequest, item: Item) -> bool {
    match item {
        Item::Key => request.key.as_deref().is_some_and(|k| !k.is_empty()),
        Item::Net => request
            .net
            .as_ref()
            .is_some_and(|n| !n.interfaces.is_empty()),
        Item::Metadata => !request.metadata.is_empty(),
        Item::AdminPassword => request
            .admin_password
            .as_deref()
            .is_some_and(|p| !p.is_empty()),
        Item::Files => !request.files.is_empty(),
    }
}

fn clone_err(err: &Error) -> Error {
    Error {
        kind: err.kind,
        operation: err.operation,
        path: err.path.clone(),
        message: err.message.clone(),
    }
}

/// `_inject_key_into_fs`.
fn inject_key(vfs: &Vfs, key: &str) -> Result<()> {
    let sshdir = "/root/.ssh";
    vfs.make_path(sshdir)?;
    vfs.set_ownership(sshdir, Some("root"), Some("root"))?;
    vfs.set_permissions(sshdir, 0o700)?;
    let keyfile = "/root/.ssh/authorized_keys";
    let data = format!(
        "\n# The following ssh key was injected by Nova\n{}\n",
        key.trim()
    );
    vfs.append_file(keyfile, data.as_bytes())?;
    vfs.set_ownership(keyfile, Some("root"), Some("root"))?;
    vfs.set_permissions(keyfile, 0o600)?;
    setup_selinux_for_keys(vfs, sshdir)
}

/// `_setup_selinux_for_keys`: an SELinux guest relabels the injected keys at boot.
fn setup_selinux_for_keys(vfs: &Vfs, sshdir: &str) -> Result<()> {
    if !vfs.has_file("/etc/selinux")? {
        return Ok(());
    }
    let mut rclocal = "/etc/rc.local";
    if !vfs.has_file(rclocal)? && vfs.has_file("/etc/rc.d")? {
        rclocal = "/etc/rc.d/rc.local";
    }
    let mut lines = String::new();
    if !vfs.has_file(rclocal)? {
        lines.push_str("#!/bin/sh");
    }
    lines.push_str("\n# Added by Nova to ensure injected ssh keys have the right context\n");
    lines.push_str(&format!("restorecon -RF {sshdir} 2>/dev/null || :\n"));
    vfs.append_file(rclocal, lines.as_bytes())?;
    vfs.set_permissions(rclocal, 0o700)
}

/// `_inject_net_into_fs`.
fn inject_net(vfs: &Vfs, net: &NetworkInfo, virt_type: Option<&str>) -> Result<()> {
    let Some(text) = render_interfaces(net, virt_type)? else {
        return Ok(());
    };
    let netdir = "/etc/network";
    vfs.make_path(netdir)?;
    vfs.set_ownership(netdir, Some("root"), Some("root"))?;
    vfs.set_permissions(netdir, 0o744)?;
    vfs.replace_file("/etc/network/interfaces", text.as_bytes())
}

/// `_inject_metadata_into_fs`: `/meta.js`, formatted as Python's `json.dumps`.
fn inject_metadata(vfs: &Vfs, metadata: &[(String, String)]) -> Result<()> {
    let json = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let body: Vec<String> = metadata
        .iter()
        .map(|(k, v)| format!("{}: {}", json(k), json(v)))
        .collect();
    vfs.replace_file("/meta.js", format!("{{{}}}", body.join(", ")).as_bytes())
}

/// `_inject_admin_password_into_fs`.
fn inject_admin_password(vfs: &Vfs, password: &str) -> Result<()> {
    let passwd = vfs.read_file("/etc/passwd")?;
    let shadow = vfs.read_file("/etc/shadow")?;
    let hash = password::sha512_crypt(password)?;
    let new_shadow = password::set_passwd("root", &hash, &passwd, &shadow)?;
    vfs.replace_file("/etc/shadow", &new_shadow)
}

/// `_inject_files_into_fs`: a missing parent directory is made, owned by
/// root, mode 0744, as nova does.
fn inject_files(vfs: &Vfs, files: &[(String, Vec<u8>)]) -> Result<()> {
    for (path, content) in files {
        let comps = crate::path::components(path)?;
        if comps.is_empty() {
            return Err(
                Error::new(ErrorKind::InvalidInput, "files", "cannot write to /")
                    .with_path(path.clone()),
            );
        }
        let parent =
            String::from_utf8_lossy(&crate::path::join(&comps[..comps.len() - 1])).into_owned();
        if parent != "/" && !vfs.has_file(&parent)? {
            vfs.make_path(&parent)?;
            vfs.set_ownership(&parent, Some("root"), Some("root"))?;
            vfs.set_permissions(&parent, 0o744)?;
        }
        vfs.replace_file(path, content)?;
    }
    Ok(())
}
