//! The instance description the metadata tree is rendered from.
//!
//! The compute service fills this in-process; `nimbus configdrive render` reads it from JSON.
//! Field names follow nova's `Instance` object and its network model (`nova/network/model.py`),
//! so a nova `network_info` cache entry deserializes as is. Unknown fields are ignored.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Everything nova's `InstanceMetadata` reads from an instance and its surroundings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Instance {
    /// The instance uuid.
    pub uuid: String,
    /// The display name (`display_name` in nova).
    pub name: String,
    /// The guest hostname (without `dhcp_domain`).
    pub hostname: String,
    /// Index within a multi-create request.
    pub launch_index: i64,
    /// Availability zone; `null` is rendered as nova renders `None`.
    pub availability_zone: Option<String>,
    /// Owning project.
    pub project_id: String,
    /// Key pairs; nova exposes the first one (`instance.keypairs[0]`).
    pub keypairs: Vec<KeyPair>,
    /// User metadata (`--property k=v`), exposed as `meta`.
    pub metadata: BTreeMap<String, String>,
    /// Raw user data (base64 in JSON), if given.
    #[serde(with = "b64_opt")]
    pub user_data: Option<Vec<u8>>,
    /// Injected files (personality), in request order.
    pub files: Vec<InjectedFile>,
    /// Admin password; nova passes it to the config drive as `extra_md`.
    pub admin_pass: Option<String>,
    /// Network model: one entry per VIF, as nova's `network_info`.
    pub network_info: Vec<Vif>,
    /// Tagged device metadata (`devices` in meta_data.json).
    pub devices: Vec<Device>,
    /// Host CPUs pinned to the guest (`dedicated_cpus`).
    pub dedicated_cpus: Vec<i64>,
    /// Vendor data: the StaticJSON provider's document and dynamic targets' answers.
    pub vendor_data: VendorData,
    /// Fields only the EC2-compatible tree shows.
    pub ec2: Ec2Info,
}

/// A key pair as nova's `KeyPair` object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyPair {
    /// Key pair name.
    pub name: String,
    /// `ssh` or `x509`.
    #[serde(rename = "type")]
    pub key_type: String,
    /// The public key text.
    pub public_key: String,
}

/// A personality file: its guest path and bytes (base64 in JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct InjectedFile {
    /// Absolute path in the guest.
    pub path: String,
    /// File contents.
    #[serde(with = "b64")]
    pub contents: Vec<u8>,
}

/// Vendor data sources (nova's `vendordata_providers`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct VendorData {
    /// The StaticJSON document (`vendordata_jsonfile_path`); `{}` when none, as nova.
    #[serde(rename = "static")]
    pub static_json: Option<serde_json::Value>,
    /// Answers of DynamicJSON targets, by target name (merged into vendor_data2.json).
    pub dynamic: BTreeMap<String, serde_json::Value>,
}

/// EC2-compatibility identifiers nova keeps per instance.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Ec2Info {
    /// `i-xxxxxxxx`.
    pub instance_id: String,
    /// `ami-xxxxxxxx` of the image.
    pub ami_id: String,
    /// `aki-...` if the image has a kernel.
    pub kernel_id: Option<String>,
    /// `ari-...` if the image has a ramdisk.
    pub ramdisk_id: Option<String>,
    /// `r-xxxxxxxx`.
    pub reservation_id: String,
    /// Flavor name.
    pub instance_type: String,
    /// Security group names.
    pub security_groups: Vec<String>,
    /// Root device name (e.g. `/dev/vda`), for `block-device-mapping`.
    pub root_device_name: Option<String>,
    /// `default_ephemeral_device`.
    pub ephemeral_device: Option<String>,
    /// `default_swap_device`.
    pub swap_device: Option<String>,
    /// Device names of attached volumes (`ebsN`).
    pub volume_devices: Vec<String>,
}

/// One virtual interface, as nova's `VIF` model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Vif {
    /// Port id.
    pub id: String,
    /// MAC address.
    pub address: Option<String>,
    /// VIF type (`ovs`, `tap`, `bridge`, ...).
    #[serde(rename = "type")]
    pub vif_type: Option<String>,
    /// Host device name (`tapXXXX`); nova uses it as the link id.
    pub devname: Option<String>,
    /// The network this port is on.
    pub network: Option<Network>,
}

/// A network as nova's `Network` model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    /// Network id.
    pub id: String,
    /// Network name.
    pub label: Option<String>,
    /// Subnets with this port's addresses.
    pub subnets: Vec<Subnet>,
    /// `mtu`, `injected`, ...
    pub meta: NetworkMeta,
}

/// Network meta keys nova reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkMeta {
    /// Link MTU.
    pub mtu: Option<u32>,
    /// Whether the interfaces template would be injected.
    pub injected: Option<bool>,
}

/// A subnet as nova's `Subnet` model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Subnet {
    /// `10.0.0.0/24`.
    pub cidr: String,
    /// 4 or 6; derived from `cidr` when absent, as nova does.
    pub version: Option<u8>,
    /// DNS servers.
    pub dns: Vec<IpRef>,
    /// Gateway, if any.
    pub gateway: Option<IpRef>,
    /// This port's fixed IPs on the subnet.
    pub ips: Vec<FixedIp>,
    /// Host routes.
    pub routes: Vec<Route>,
    /// `dhcp_server`, `enable_dhcp`, `ipv6_address_mode`.
    pub meta: SubnetMeta,
}

/// Subnet meta keys nova reads.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SubnetMeta {
    /// Address of the DHCP server, when neutron runs one.
    pub dhcp_server: Option<String>,
    /// Neutron's `enable_dhcp`.
    pub enable_dhcp: Option<bool>,
    /// `slaac`, `dhcpv6-stateful`, `dhcpv6-stateless`.
    pub ipv6_address_mode: Option<String>,
}

/// An address (`IP` model).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct IpRef {
    /// The address.
    pub address: String,
}

/// A fixed IP with its floating IPs (`FixedIP` model).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct FixedIp {
    /// The address.
    pub address: String,
    /// Floating IPs associated with it.
    pub floating_ips: Vec<IpRef>,
}

/// A host route (`Route` model).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Route {
    /// Destination, `0.0.0.0/24`.
    pub cidr: String,
    /// Next hop.
    pub gateway: IpRef,
}

/// A tagged device (nova's `virt_device_metadata` objects, already flattened).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Device {
    /// A network interface.
    Nic {
        /// `pci`, `usb`, `scsi`, `ide`, `xen`, or `none`.
        #[serde(default = "none_str")]
        bus: String,
        /// Bus address, or `none`.
        #[serde(default = "none_str")]
        address: String,
        /// MAC address.
        mac: String,
        /// VLAN id, if any.
        #[serde(default)]
        vlan: Option<i64>,
        /// Whether the VF is trusted (`None`: not set).
        #[serde(default)]
        vf_trusted: Option<bool>,
        /// User tags, if the device was tagged.
        #[serde(default)]
        tags: Option<Vec<String>>,
    },
    /// A disk.
    Disk {
        /// Bus kind.
        #[serde(default = "none_str")]
        bus: String,
        /// Bus address.
        #[serde(default = "none_str")]
        address: String,
        /// Volume serial.
        #[serde(default)]
        serial: Option<String>,
        /// Guest device path.
        #[serde(default)]
        path: Option<String>,
        /// User tags.
        #[serde(default)]
        tags: Option<Vec<String>>,
    },
    /// A manila share.
    Share {
        /// Share id.
        share_id: String,
        /// Mount tag.
        tag: String,
    },
}

fn none_str() -> String {
    "none".to_string()
}

impl Subnet {
    /// The IP version, from `version` or else the cidr (nova's `Subnet.__init__`).
    pub fn ip_version(&self) -> Option<u8> {
        self.version
            .or_else(|| crate::netdata::Cidr::parse(&self.cidr).map(|c| c.version()))
    }
}

mod b64 {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}

mod b64_opt {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(b) => b64::serialize(b, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map(Some)
                .map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}"))),
        }
    }
}
