//! The EC2-compatible tree: `get_ec2_metadata`, `find_path_in_tree` and `ec2_md_print`.

use crate::metadata::{EC2_VERSIONS, InstanceMetadata, Lookup, MIME_TEXT, text};
use crate::pyjson::Json;

/// What `latest` means for EC2 paths.
pub const LATEST: &str = "2009-04-04";

/// The key nova uses to print `0=keyname` for a public key directory.
const NAME_KEY: &str = "_name";

fn at_least(required: &str, requested: &str) -> bool {
    let idx = |v: &str| EC2_VERSIONS.iter().position(|k| *k == v);
    matches!((idx(requested), idx(required)), (Some(a), Some(b)) if a >= b)
}

/// nova's `block_device.strip_dev`.
fn strip_dev(name: &str) -> &str {
    name.strip_prefix("/dev/").unwrap_or(name)
}

/// `instance_block_mapping` for the devices the instance description carries.
fn block_device_mapping(md: &InstanceMetadata) -> Json {
    let ec2 = &md.instance().ec2;
    let mut m = Json::object();
    let Some(root) = ec2.root_device_name.as_deref() else {
        // nova's _DEFAULT_MAPPINGS when the root device name is unknown.
        m.set("ami", "sda1");
        m.set("ephemeral0", "sda2");
        m.set("root", "/dev/sda1");
        m.set("swap", "sda3");
        return m;
    };
    m.set("ami", strip_dev(root));
    m.set("root", root);
    if let Some(eph) = ec2.ephemeral_device.as_deref().filter(|d| !d.is_empty()) {
        m.set("ephemeral0", eph);
    }
    if let Some(swap) = ec2.swap_device.as_deref().filter(|d| !d.is_empty()) {
        m.set("swap", swap);
    }
    let mut ebs: Vec<&String> = ec2.volume_devices.iter().collect();
    ebs.sort();
    for (n, dev) in ebs.into_iter().enumerate() {
        m.set(&format!("ebs{n}"), dev.as_str());
    }
    m
}

/// `get_ec2_metadata(version)['meta-data']`, `version` resolved from `latest`.
pub fn meta_data(md: &InstanceMetadata, version: &str) -> Json {
    let (instance, ip_info, address, hostname) = md.ec2_parts();
    let ec2 = &instance.ec2;
    let floating_ip = ip_info.floating_ips.first().cloned().unwrap_or_default();
    let fixed_ip = ip_info.fixed_ips.first().cloned().unwrap_or_default();
    let local_ipv4: Json = if fixed_ip.is_empty() {
        address.map(str::to_string).into()
    } else {
        fixed_ip.into()
    };

    let mut m = Json::object();
    m.set("ami-id", ec2.ami_id.as_str());
    m.set("ami-launch-index", instance.launch_index);
    m.set("ami-manifest-path", "FIXME");
    m.set("instance-id", ec2.instance_id.as_str());
    m.set("hostname", hostname.as_str());
    m.set("local-ipv4", local_ipv4);
    m.set("reservation-id", ec2.reservation_id.as_str());
    let groups: Vec<Json> = ec2
        .security_groups
        .iter()
        .map(|g| Json::from(g.as_str()))
        .collect();
    m.set("security-groups", Json::Array(groups));
    if let Some(kp) = instance.keypairs.first() {
        let mut key0 = Json::object();
        key0.set(NAME_KEY, format!("0={}", kp.name));
        key0.set("openssh-key", kp.public_key.as_str());
        let mut keys = Json::object();
        keys.set("0", key0);
        m.set("public-keys", keys);
    }
    if at_least("2007-01-19", version) {
        m.set("local-hostname", hostname.as_str());
        m.set("public-hostname", hostname.as_str());
        m.set("public-ipv4", floating_ip);
    }
    if at_least("2007-08-29", version) {
        m.set("instance-type", ec2.instance_type.as_str());
    }
    if at_least("2007-12-15", version) {
        m.set("block-device-mapping", block_device_mapping(md));
        if let Some(k) = ec2.kernel_id.as_deref().filter(|k| !k.is_empty()) {
            m.set("kernel-id", k);
        }
        if let Some(r) = ec2.ramdisk_id.as_deref().filter(|r| !r.is_empty()) {
            m.set("ramdisk-id", r);
        }
    }
    if at_least("2008-02-01", version) {
        let mut placement = Json::object();
        placement.set("availability-zone", instance.availability_zone.clone());
        m.set("placement", placement);
    }
    if at_least("2008-09-01", version) {
        m.set("instance-action", "none");
    }
    m
}

/// The config drive's `meta-data.json` drops the `_name` helper (`del data['public-keys']['0']['_name']`).
pub fn strip_names(mut meta: Json) -> Json {
    if let Json::Object(entries) = &mut meta
        && let Some((_, Json::Object(keys))) = entries.iter_mut().find(|(k, _)| k == "public-keys")
        && let Some((_, Json::Object(key0))) = keys.iter_mut().find(|(k, _)| k == "0")
    {
        key0.retain(|(k, _)| k != NAME_KEY);
    }
    meta
}

/// `get_ec2_item`: tokens after `ec2/`, starting with the version.
pub fn item(md: &InstanceMetadata, tokens: &[&str]) -> Option<Lookup> {
    let version = match tokens[0] {
        "latest" => LATEST,
        v => EC2_VERSIONS.iter().copied().find(|k| *k == v)?,
    };
    let user_data = md.instance().user_data.as_ref();
    match tokens.get(1) {
        None => {
            // The version directory: a dict of meta-data (a dict) and user-data (bytes).
            let mut listing = vec!["meta-data/"];
            if user_data.is_some() {
                listing.push("user-data");
            }
            Some(text(listing.join("\n")))
        }
        Some(&"user-data") if tokens.len() == 2 => Some(Lookup::Data {
            body: user_data?.clone(),
            content_type: MIME_TEXT,
        }),
        Some(&"meta-data") => {
            let mut node = meta_data(md, version);
            for token in &tokens[2..] {
                node = match node {
                    Json::Object(entries) => entries.into_iter().find(|(k, _)| k == token)?.1,
                    _ => return None,
                };
            }
            Some(text(md_print(&node)))
        }
        _ => None,
    }
}

/// `ec2_md_print`.
pub fn md_print(node: &Json) -> String {
    match node {
        Json::Object(entries) => {
            let mut sorted: Vec<&(String, Json)> =
                entries.iter().filter(|(k, _)| k != NAME_KEY).collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            let lines: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| match v {
                    Json::Object(_) => match v.get(NAME_KEY) {
                        Some(name) => md_print(name),
                        None => format!("{k}/"),
                    },
                    _ => k.clone(),
                })
                .collect();
            lines.join("\n")
        }
        Json::Array(items) => items.iter().map(md_print).collect::<Vec<_>>().join("\n"),
        Json::Str(s) => s.clone(),
        // Python's str() of the value.
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::Int(n) => n.to_string(),
        Json::Float(f) => f.to_string(),
    }
}
