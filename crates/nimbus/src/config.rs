//! `nimbus serve` configuration: a TOML file whose sections and option names
//! follow keystone.conf / nova.conf / glance-api.conf, overridden by flags.
//!
//! ```toml
//! [DEFAULT]
//! state_path = "/var/lib/nimbus"     # data dir (nova's state_path)
//! bind_host = "127.0.0.1"            # glance-api.conf
//! bind_port = 8774
//! public_endpoint = "http://203.0.113.5:8774"   # keystone.conf: what the catalog advertises
//! my_ip = "203.0.113.5"              # nova.conf: used for the catalog when bind_host is 0.0.0.0
//! debug = false
//!
//! [database]
//! connection = "postgres://nimbus@127.0.0.1/nimbus"   # default: sqlite in state_path
//! max_pool_size = 5
//!
//! [token]
//! expiration = 43200                 # seconds
//!
//! [fernet_tokens]
//! key_repository = "/var/lib/nimbus/fernet-keys"
//! max_active_keys = 3
//!
//! [oslo_middleware]
//! max_request_body_size = 114688     # bytes; larger bodies get 413
//!
//! [import_filtering_opts]            # glance-api.conf: what web-download may fetch
//! allowed_hosts = ["images.example.com"]   # also lets a listed host be loopback/link-local
//! allowed_ports = [80, 443]
//!
//! [backend_defaults]                 # cinder.conf: the volume backend
//! volume_driver = "iscsi"            # local (default) | iscsi (tgtd, CHAP)
//! target_ip_address = "127.0.0.1"    # portal tgtd listens on
//! target_prefix = "iqn.2010-10.org.openstack:"
//!
//! [network]                          # neutron.conf / ml2_conf.ini names
//! base_mac = "fa:16:3e:00:00:00"     # port MACs: these leading bytes fixed
//! global_physnet_mtu = 1500
//! tenant_network_type = "vxlan"      # vxlan | gre | vlan | local
//! vni_range = [1, 1000]
//! default_availability_zone = "nova" # ports of servers: device_owner compute:<az>
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// The whole file. Unknown sections or options are errors, so typos show.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `[DEFAULT]`
    #[serde(rename = "DEFAULT", default)]
    pub default: DefaultSection,
    /// `[database]`
    #[serde(default)]
    pub database: DatabaseSection,
    /// `[token]`
    #[serde(default)]
    pub token: TokenSection,
    /// `[fernet_tokens]`
    #[serde(default)]
    pub fernet_tokens: FernetSection,
    /// `[oslo_middleware]`
    #[serde(default)]
    pub oslo_middleware: MiddlewareSection,
    /// `[glance_store]`: the image service's stores and limits.
    #[serde(default)]
    pub glance_store: nimbus_image::config::GlanceStoreSection,
    /// `[import_filtering_opts]`: which URLs the image service's
    /// `web-download` may fetch (glance-api.conf's names and defaults).
    #[serde(default)]
    pub import_filtering_opts: nimbus_image::config::ImportFilteringSection,
    /// `[compute]`: nova.conf's compute options by their nova names.
    #[serde(default)]
    pub compute: nimbus_compute::config::ComputeSection,
    /// `[backend_defaults]`: the volume backend, by cinder.conf's option names.
    #[serde(default)]
    pub backend_defaults: nimbus_volume::config::BackendDefaultsSection,
    /// `[network]`: the network service, by neutron.conf's option names.
    #[serde(default)]
    pub network: nimbus_network::NetworkConfig,
}

/// `[DEFAULT]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultSection {
    /// Data directory.
    pub state_path: Option<PathBuf>,
    /// Address to listen on.
    pub bind_host: Option<String>,
    /// Port to listen on.
    pub bind_port: Option<u16>,
    /// Base URL the catalog advertises.
    pub public_endpoint: Option<String>,
    /// This host's IP, advertised when listening on all addresses.
    pub my_ip: Option<String>,
    /// Debug logging.
    pub debug: Option<bool>,
}

/// `[database]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSection {
    /// `sqlite://...` or `postgres://...`.
    pub connection: Option<String>,
    /// Pool size.
    pub max_pool_size: Option<u32>,
}

/// `[token]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSection {
    /// Token lifetime in seconds.
    pub expiration: Option<u64>,
}

/// `[fernet_tokens]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FernetSection {
    /// Key directory.
    pub key_repository: Option<PathBuf>,
    /// Keys kept.
    pub max_active_keys: Option<usize>,
}

/// `[oslo_middleware]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MiddlewareSection {
    /// Largest request body accepted, in bytes.
    pub max_request_body_size: Option<usize>,
}

impl ConfigFile {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> anyhow::Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

/// Default token lifetime: 12 hours.
pub const DEFAULT_TOKEN_EXPIRATION: u64 = 12 * 60 * 60;
/// oslo.middleware's default body limit (112 KiB).
pub const DEFAULT_MAX_BODY: usize = 114_688;
/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8774";
/// Default data directory, relative to where nimbus starts.
pub const DEFAULT_DATA_DIR: &str = ".nimbus";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openstack_style_sections_and_rejects_typos() {
        let c: ConfigFile = toml::from_str(
            "[DEFAULT]\nbind_port = 9000\nmy_ip = \"10.0.0.1\"\n[database]\nconnection = \"postgres://x/y\"\n[token]\nexpiration = 60\n",
        )
        .unwrap();
        assert_eq!(c.default.bind_port, Some(9000));
        assert_eq!(c.token.expiration, Some(60));
        assert_eq!(c.database.connection.as_deref(), Some("postgres://x/y"));
        assert!(toml::from_str::<ConfigFile>("[token]\nexpiry = 5\n").is_err());
        let c: ConfigFile = toml::from_str(
            "[import_filtering_opts]\nallowed_hosts = [\"Images.example.com\"]\nallowed_ports = [8080]\n",
        )
        .unwrap();
        let filter = c.import_filtering_opts.resolve();
        assert_eq!(filter.allowed_hosts, ["images.example.com"]);
        assert_eq!(filter.allowed_ports, [8080]);
        assert_eq!(filter.allowed_schemes, ["http", "https"]);
        assert!(
            toml::from_str::<ConfigFile>("[import_filtering_opts]\nallowed_host = []\n").is_err()
        );
        assert!(toml::from_str::<ConfigFile>("[nope]\n").is_err());
    }

    #[test]
    fn network_section_uses_neutron_names() {
        let c: ConfigFile = toml::from_str(
            "[network]\nbase_mac = \"fa:16:3f:00:00:00\"\nvni_range = [5, 9]\n[compute]\nflat_injected = false\n",
        )
        .unwrap();
        assert_eq!(c.network.base_mac, "fa:16:3f:00:00:00");
        assert_eq!(c.network.vni_range, (5, 9));
        assert_eq!(c.network.global_physnet_mtu, 1500);
        assert_eq!(c.compute.flat_injected, Some(false));
        assert!(toml::from_str::<ConfigFile>("[network]\nbase_mak = \"x\"\n").is_err());
    }
}
