//! The metadata tree, as nova's `InstanceMetadata` (`nova/api/metadata/base.py`) lays it out.
//!
//! One value answers both consumers: [`InstanceMetadata::config_drive_files`] lists the files of
//! a config drive (`metadata_for_config_drive`), and [`InstanceMetadata::lookup`] answers one
//! path of the metadata service (`lookup` + `ec2_md_print`).

use base64::Engine as _;
use rand::RngCore as _;

use crate::ec2;
use crate::error::{Error, ErrorKind, Result};
use crate::instance::{Device, Instance};
use crate::netdata::{self, Ec2IpInfo};
use crate::pyjson::Json;

/// EC2 metadata versions (`VERSIONS`).
pub const EC2_VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
];

/// OpenStack metadata versions (`OPENSTACK_VERSIONS`).
pub const OPENSTACK_VERSIONS: &[&str] = &[
    FOLSOM, GRIZZLY, HAVANA, LIBERTY, NEWTON_ONE, NEWTON_TWO, OCATA, ROCKY, VICTORIA, EPOXY,
];

const FOLSOM: &str = "2012-08-10";
const GRIZZLY: &str = "2013-04-04";
const HAVANA: &str = "2013-10-17";
const LIBERTY: &str = "2015-10-15";
const NEWTON_ONE: &str = "2016-06-30";
const NEWTON_TWO: &str = "2016-10-06";
const OCATA: &str = "2017-02-22";
const ROCKY: &str = "2018-08-27";
const VICTORIA: &str = "2020-10-14";
const EPOXY: &str = "2025-04-04";

/// Content type of JSON documents.
pub const MIME_JSON: &str = "application/json";
/// Content type of everything else (nova's default `md_mimetype`).
pub const MIME_TEXT: &str = "text/plain";

/// Operator options nova reads while rendering (`[api]` in nova.conf).
#[derive(Debug, Clone)]
pub struct MetadataConfig {
    /// `dhcp_domain`: appended to the hostname when set.
    pub dhcp_domain: Option<String>,
    /// `config_drive_skip_versions`: EC2 versions left off a config drive.
    pub config_drive_skip_versions: Vec<String>,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            dhcp_domain: None,
            config_drive_skip_versions: EC2_VERSIONS[..EC2_VERSIONS.len() - 1]
                .iter()
                .map(|v| v.to_string())
                .collect(),
        }
    }
}

/// Who the tree is rendered for: they see different data, as in nova.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// A config drive: nova's driver passes the injected files and `admin_pass` (as `extra_md`).
    ConfigDrive,
    /// The metadata service: nova has neither (files are not stored), but knows the request's
    /// source address (`local-ipv4` falls back to it) and the password the guest posted.
    Service {
        /// The requester's address.
        address: Option<String>,
        /// The password the guest stored through `/openstack/latest/password`, if any.
        password: Option<String>,
    },
}

/// What a metadata path resolves to.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// A document to return as is.
    Data {
        /// Response body.
        body: Vec<u8>,
        /// `text/plain` or `application/json`.
        content_type: &'static str,
    },
    /// `/openstack/<version>/password`: GET reads, POST stores once (the service handles it).
    Password,
}

/// The rendered view of one instance.
#[derive(Debug, Clone)]
pub struct InstanceMetadata {
    instance: Instance,
    config: MetadataConfig,
    /// `openstack/content/NNNN` files, in key order.
    content: Vec<(String, Vec<u8>)>,
    /// `files` entries of meta_data.json: (guest path, content_path).
    files: Vec<(String, String)>,
    extra_admin_pass: Option<String>,
    address: Option<String>,
    password: Option<String>,
    network_metadata: Option<Json>,
    ip_info: Ec2IpInfo,
    random_seed: Option<Vec<u8>>,
}

impl InstanceMetadata {
    /// Prepares the tree of `instance` for `purpose`.
    pub fn new(instance: Instance, config: MetadataConfig, purpose: Purpose) -> Self {
        let network_metadata = netdata::network_metadata(&instance.network_info);
        let ip_info = netdata::ec2_ip_info(&instance.network_info);
        let mut md = InstanceMetadata {
            config,
            content: Vec::new(),
            files: Vec::new(),
            extra_admin_pass: None,
            address: None,
            password: None,
            network_metadata,
            ip_info,
            random_seed: None,
            instance,
        };
        match purpose {
            Purpose::ConfigDrive => {
                for file in &md.instance.files {
                    let key = format!("{:04}", md.content.len());
                    md.files
                        .push((file.path.clone(), format!("/content/{key}")));
                    md.content.push((key, file.contents.clone()));
                }
                md.extra_admin_pass = md.instance.admin_pass.clone().filter(|p| !p.is_empty());
            }
            Purpose::Service { address, password } => {
                md.address = address;
                md.password = password.filter(|p| !p.is_empty());
            }
        }
        md
    }

    /// Fixes `random_seed` (512 bytes in nova, fresh per document) so output is reproducible.
    pub fn with_random_seed(mut self, seed: Vec<u8>) -> Self {
        self.random_seed = Some(seed);
        self
    }

    /// The instance this tree describes.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// The stored guest password (`password` of the service), if any.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// `_get_hostname`.
    fn hostname(&self) -> String {
        match self.config.dhcp_domain.as_deref().filter(|d| !d.is_empty()) {
            Some(domain) => format!("{}.{domain}", self.instance.hostname),
            None => self.instance.hostname.clone(),
        }
    }

    fn random_seed(&self) -> String {
        let seed = match &self.random_seed {
            Some(s) => s.clone(),
            None => {
                let mut buf = vec![0u8; 512];
                rand::rng().fill_bytes(&mut buf);
                buf
            }
        };
        base64::engine::general_purpose::STANDARD.encode(seed)
    }

    /// `meta_data.json` for an OpenStack `version` (already resolved from `latest`).
    pub fn meta_data(&self, version: &str) -> Json {
        let i = &self.instance;
        let mut md = Json::object();
        md.set("uuid", i.uuid.as_str());
        if !i.metadata.is_empty() {
            let meta = i
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), Json::from(v.as_str())));
            md.set("meta", Json::Object(meta.collect()));
        }
        if !self.files.is_empty() {
            let files = self.files.iter().map(|(path, content_path)| {
                let mut f = Json::object();
                f.set("path", path.as_str());
                f.set("content_path", content_path.as_str());
                f
            });
            md.set("files", Json::Array(files.collect()));
        }
        if let Some(pass) = &self.extra_admin_pass {
            md.set("admin_pass", pass.as_str());
        }
        if let Some(kp) = i.keypairs.first() {
            let mut public_keys = Json::object();
            public_keys.set(&kp.name, kp.public_key.as_str());
            md.set("public_keys", public_keys);
            let mut key = Json::object();
            key.set("name", kp.name.as_str());
            key.set("type", kp.key_type.as_str());
            key.set("data", kp.public_key.as_str());
            md.set("keys", Json::Array(vec![key]));
        }
        md.set("hostname", self.hostname());
        md.set("name", i.name.as_str());
        md.set("launch_index", i.launch_index);
        md.set("availability_zone", i.availability_zone.clone());
        if os_at_least(GRIZZLY, version) {
            md.set("random_seed", self.random_seed());
        }
        if os_at_least(LIBERTY, version) {
            md.set("project_id", i.project_id.as_str());
        }
        if os_at_least(NEWTON_ONE, version) {
            md.set("devices", self.devices(version));
        }
        if os_at_least(VICTORIA, version) {
            let mut cpus = i.dedicated_cpus.clone();
            cpus.sort_unstable();
            md.set("dedicated_cpus", cpus);
        }
        md
    }

    /// `_get_device_metadata`.
    fn devices(&self, version: &str) -> Json {
        let vlans = os_at_least(OCATA, version);
        let trusted = os_at_least(ROCKY, version);
        let mut list = Vec::new();
        for device in &self.instance.devices {
            let mut d = Json::object();
            let (bus, address, tags) = match device {
                Device::Nic {
                    bus,
                    address,
                    mac,
                    vlan,
                    vf_trusted,
                    tags,
                } => {
                    if let Some(vlan) = vlan.filter(|_| vlans) {
                        d.set("vlan", vlan);
                    }
                    if trusted {
                        d.set("vf_trusted", vf_trusted.unwrap_or(false));
                    }
                    d.set("type", "nic");
                    d.set("mac", mac.as_str());
                    // nova hides a NIC with neither tags, vlan nor vf_trusted.
                    if tags.is_none() && d.get("vlan").is_none() && d.get("vf_trusted").is_none() {
                        continue;
                    }
                    (bus, address, tags)
                }
                Device::Disk {
                    bus,
                    address,
                    serial,
                    path,
                    tags,
                } => {
                    d.set("type", "disk");
                    if let Some(serial) = serial {
                        d.set("serial", serial.as_str());
                    }
                    if let Some(path) = path {
                        d.set("path", path.as_str());
                    }
                    (bus, address, tags)
                }
                Device::Share { share_id, tag } => {
                    if !os_at_least(EPOXY, version) {
                        continue;
                    }
                    d.set("type", "share");
                    d.set("share_id", share_id.as_str());
                    d.set("tag", tag.as_str());
                    d.set("bus", "none");
                    d.set("address", "none");
                    list.push(d);
                    continue;
                }
            };
            d.set("bus", bus.as_str());
            d.set("address", address.as_str());
            if let Some(tags) = tags {
                d.set(
                    "tags",
                    tags.iter()
                        .map(|t| Json::from(t.as_str()))
                        .collect::<Vec<_>>(),
                );
            }
            list.push(d);
        }
        Json::Array(list)
    }

    /// `vendor_data.json`: the StaticJSON document, `{}` without one.
    pub fn vendor_data(&self) -> Json {
        self.instance
            .vendor_data
            .static_json
            .as_ref()
            .map_or_else(Json::object, Json::from)
    }

    /// `vendor_data2.json`: `static` plus each dynamic target's answer.
    pub fn vendor_data2(&self) -> Json {
        let mut j = Json::object();
        j.set("static", self.vendor_data());
        for (name, value) in &self.instance.vendor_data.dynamic {
            if j.get(name).is_none() {
                j.set(name, Json::from(value));
            }
        }
        j
    }

    /// `network_data.json` (`{}` without network info).
    pub fn network_data(&self) -> Json {
        self.network_metadata.clone().unwrap_or_else(Json::object)
    }

    /// `get_ec2_metadata(version)['meta-data']` (version already resolved from `latest`).
    pub fn ec2_meta_data(&self, version: &str) -> Json {
        ec2::meta_data(self, version)
    }

    pub(crate) fn ec2_parts(&self) -> (&Instance, &Ec2IpInfo, Option<&str>, String) {
        (
            &self.instance,
            &self.ip_info,
            self.address.as_deref(),
            self.hostname(),
        )
    }

    /// `_handle_version`: what `openstack/<version>/` lists.
    fn version_listing(&self, version: &str) -> Vec<String> {
        let mut ret = vec!["meta_data.json".to_string()];
        if self.instance.user_data.is_some() {
            ret.push("user_data".into());
        }
        for (since, name) in [
            (GRIZZLY, "password"),
            (HAVANA, "vendor_data.json"),
            (LIBERTY, "network_data.json"),
            (NEWTON_TWO, "vendor_data2.json"),
        ] {
            if os_at_least(since, version) {
                ret.push(name.into());
            }
        }
        ret
    }

    /// The files of a config drive, in nova's order (`metadata_for_config_drive`).
    pub fn config_drive_files(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for version in EC2_VERSIONS.iter().copied().chain(["latest"]) {
            if self
                .config
                .config_drive_skip_versions
                .iter()
                .any(|v| v == version)
            {
                continue;
            }
            let resolved = if version == "latest" {
                ec2::LATEST
            } else {
                version
            };
            if let Some(ud) = &self.instance.user_data {
                out.push((format!("ec2/{version}/user-data"), ud.clone()));
            }
            let meta = ec2::strip_names(self.ec2_meta_data(resolved));
            out.push((format!("ec2/{version}/meta-data.json"), meta.dump_bytes()));
        }
        for version in OPENSTACK_VERSIONS.iter().copied().chain(["latest"]) {
            let resolved = resolve_os_version(version).unwrap_or(EPOXY);
            let dir = format!("openstack/{version}");
            out.push((
                format!("{dir}/meta_data.json"),
                self.meta_data(resolved).dump_bytes(),
            ));
            if let Some(ud) = &self.instance.user_data {
                out.push((format!("{dir}/user_data"), ud.clone()));
            }
            if os_at_least(HAVANA, resolved) {
                out.push((
                    format!("{dir}/vendor_data.json"),
                    self.vendor_data().dump_bytes(),
                ));
            }
            if os_at_least(LIBERTY, resolved) {
                out.push((
                    format!("{dir}/network_data.json"),
                    self.network_data().dump_bytes(),
                ));
            }
            if os_at_least(NEWTON_TWO, resolved) {
                out.push((
                    format!("{dir}/vendor_data2.json"),
                    self.vendor_data2().dump_bytes(),
                ));
            }
        }
        for (key, data) in &self.content {
            out.push((format!("openstack/content/{key}"), data.clone()));
        }
        out
    }

    /// Resolves one metadata service path, as nova's `lookup` followed by `ec2_md_print`.
    pub fn lookup(&self, path: &str) -> Result<Lookup> {
        self.lookup_on(path, &today())
    }

    /// [`Self::lookup`] with the date that hides future versions from `/openstack`.
    pub fn lookup_on(&self, path: &str, today: &str) -> Result<Lookup> {
        let normalized = normpath(path);
        let mut tokens: Vec<&str> = normalized.split('/').skip(1).collect();
        if tokens
            .first()
            .is_some_and(|t| *t != "ec2" && *t != "openstack")
        {
            if tokens == [""] {
                tokens = vec!["ec2"];
            } else {
                tokens.insert(0, "ec2");
            }
        }
        if tokens.len() == 1 {
            let versions: Vec<String> = if tokens[0] == "openstack" {
                OPENSTACK_VERSIONS
                    .iter()
                    .filter(|v| **v <= today)
                    .map(|v| v.to_string())
                    .collect()
            } else {
                EC2_VERSIONS.iter().map(|v| v.to_string()).collect()
            };
            let mut listing = versions;
            listing.push("latest".into());
            return Ok(text(listing.join("\n")));
        }
        let not_found = || Error::new(ErrorKind::NotFound, "lookup", normalized.clone());
        if tokens[0] == "openstack" {
            self.openstack_item(&tokens[1..]).ok_or_else(not_found)
        } else {
            ec2::item(self, &tokens[1..]).ok_or_else(not_found)
        }
    }

    fn openstack_item(&self, tokens: &[&str]) -> Option<Lookup> {
        if tokens[0] == "content" {
            if tokens.len() != 2 {
                return None;
            }
            let (_, data) = self.content.iter().find(|(k, _)| k == tokens[1])?;
            return Some(Lookup::Data {
                body: data.clone(),
                content_type: MIME_TEXT,
            });
        }
        let version = resolve_os_version(tokens[0])?;
        let path = if tokens.len() == 1 {
            "version".to_string()
        } else {
            tokens[1..].join("/")
        };
        let json = |j: Json| Lookup::Data {
            body: j.dump_bytes(),
            content_type: MIME_JSON,
        };
        match path.as_str() {
            "version" => Some(text(self.version_listing(version).join("\n"))),
            "meta_data.json" => Some(json(self.meta_data(version))),
            "user_data" => {
                let ud = self.instance.user_data.clone()?;
                Some(Lookup::Data {
                    body: ud,
                    content_type: MIME_TEXT,
                })
            }
            "password" if os_at_least(GRIZZLY, version) => Some(Lookup::Password),
            "vendor_data.json" if os_at_least(HAVANA, version) => Some(json(self.vendor_data())),
            "vendor_data2.json" if os_at_least(NEWTON_TWO, version) => {
                Some(json(self.vendor_data2()))
            }
            // nova serves it for every version and leaves the default text/plain type.
            "network_data.json" => Some(Lookup::Data {
                body: self.network_data().dump_bytes(),
                content_type: MIME_TEXT,
            }),
            _ => None,
        }
    }
}

pub(crate) fn text(s: String) -> Lookup {
    Lookup::Data {
        body: s.into_bytes(),
        content_type: MIME_TEXT,
    }
}

fn resolve_os_version(v: &str) -> Option<&'static str> {
    if v == "latest" {
        return Some(EPOXY);
    }
    OPENSTACK_VERSIONS.iter().copied().find(|known| *known == v)
}

/// `_check_os_version(required, requested)`.
fn os_at_least(required: &str, requested: &str) -> bool {
    let idx = |v: &str| OPENSTACK_VERSIONS.iter().position(|k| *k == v);
    matches!((idx(requested), idx(required)), (Some(a), Some(b)) if a >= b)
}

/// `posixpath.normpath` of an absolute request path.
fn normpath(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Today's UTC date as `YYYY-MM-DD`.
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_like_posixpath() {
        assert_eq!(normpath("/"), "/");
        assert_eq!(normpath("/foo/../"), "/");
        assert_eq!(normpath("/openstack/"), "/openstack");
        assert_eq!(normpath("//a/./b/../c"), "/a/c");
        assert_eq!(normpath("/../../x"), "/x");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_089), (2025, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn version_order() {
        assert!(os_at_least(GRIZZLY, EPOXY));
        assert!(!os_at_least(LIBERTY, HAVANA));
        assert!(!os_at_least(LIBERTY, "bogus"));
    }
}
