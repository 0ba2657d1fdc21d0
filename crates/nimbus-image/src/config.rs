//! Image service settings, named as in glance-api.conf where it has one.

use std::path::PathBuf;

use crate::app::web_download::ImportFiltering;

/// Settings of the image service.
#[derive(Debug, Clone)]
pub struct ImageConfig {
    /// `filesystem_store_datadir`: where the file store keeps data.
    pub filesystem_store_datadir: PathBuf,
    /// `node_staging_uri`: where uploads are hashed and inspected before a
    /// store gets them, and where `stage` keeps data until `import`.
    pub staging_dir: PathBuf,
    /// `image_size_cap`: largest image in bytes (Glance's default is 1 TiB).
    pub image_size_cap: u64,
    /// `user_storage_quota`: bytes of image data one project may own; 0 is
    /// unlimited.
    pub user_storage_quota: u64,
    /// `default_backend`: the store new data goes to (`file` or `s3`).
    pub default_backend: String,
    /// The S3-compatible store, if configured.
    pub s3: Option<crate::backend::s3::S3Config>,
    /// `limit_param_default`: page size when the client gives none.
    pub limit_param_default: usize,
    /// `api_limit_max`: largest page.
    pub api_limit_max: usize,
    /// `[import_filtering_opts]`: which URLs `web-download` may fetch.
    pub import_filtering: ImportFiltering,
}

impl ImageConfig {
    /// Defaults under `data_dir` (`<data_dir>/images`, `<data_dir>/images-staging`).
    pub fn under(data_dir: &std::path::Path) -> ImageConfig {
        ImageConfig {
            filesystem_store_datadir: data_dir.join("images"),
            staging_dir: data_dir.join("images-staging"),
            image_size_cap: 1 << 40,
            user_storage_quota: 0,
            default_backend: "file".into(),
            s3: None,
            limit_param_default: 25,
            api_limit_max: 1000,
            import_filtering: Default::default(),
        }
    }
}

/// The `[glance_store]` section of the config file (glance-api.conf's
/// names). `image_size_cap` and `user_storage_quota` live in glance's
/// `[DEFAULT]`; here they sit in this section so the image service owns
/// all of its settings.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlanceStoreSection {
    /// `file` (default) or `s3`.
    pub default_store: Option<String>,
    /// Where the file store keeps data [default: `<state_path>/images`].
    pub filesystem_store_datadir: Option<PathBuf>,
    /// S3 endpoint URL (`http://127.0.0.1:9000`); setting it enables the S3 store.
    pub s3_store_host: Option<String>,
    /// S3 access key id.
    pub s3_store_access_key: Option<String>,
    /// S3 secret access key.
    pub s3_store_secret_key: Option<String>,
    /// S3 bucket (must exist).
    pub s3_store_bucket: Option<String>,
    /// S3 region [default: us-east-1].
    pub s3_store_region: Option<String>,
    /// Largest image in bytes [default: 1 TiB].
    pub image_size_cap: Option<u64>,
    /// Image data per project, bytes or with glance's units (`10GB`:
    /// `B`, `KB`, `MB`, `GB`, `TB`, powers of 1024); 0 is unlimited [default: 0].
    pub user_storage_quota: Option<StorageQuota>,
}

impl GlanceStoreSection {
    /// The image service's settings for data dir `data_dir`.
    pub fn resolve(&self, data_dir: &std::path::Path) -> ImageConfig {
        let mut config = ImageConfig::under(data_dir);
        if let Some(dir) = &self.filesystem_store_datadir {
            config.filesystem_store_datadir = dir.clone();
        }
        if let Some(store) = &self.default_store {
            config.default_backend = store.clone();
        }
        if let Some(cap) = self.image_size_cap {
            config.image_size_cap = cap;
        }
        if let Some(quota) = self.user_storage_quota {
            config.user_storage_quota = quota.0;
        }
        if let Some(host) = &self.s3_store_host {
            config.s3 = Some(crate::backend::s3::S3Config {
                endpoint: Some(host.clone()),
                bucket: self
                    .s3_store_bucket
                    .clone()
                    .unwrap_or_else(|| "glance".into()),
                region: self
                    .s3_store_region
                    .clone()
                    .unwrap_or_else(|| "us-east-1".into()),
                access_key_id: self.s3_store_access_key.clone().unwrap_or_default(),
                secret_access_key: self.s3_store_secret_key.clone().unwrap_or_default(),
            });
        }
        config
    }
}

/// glance-api.conf's `[import_filtering_opts]`: which URLs `web-download`
/// may fetch. An option left out keeps glance's default.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFilteringSection {
    /// URL schemes allowed [default: http, https].
    pub allowed_schemes: Option<Vec<String>>,
    /// URL schemes refused when `allowed_schemes` is empty [default: none].
    pub disallowed_schemes: Option<Vec<String>>,
    /// Hosts allowed [default: any]. A host listed here may also resolve to
    /// a loopback or link-local address, which is refused otherwise.
    pub allowed_hosts: Option<Vec<String>>,
    /// Hosts refused when `allowed_hosts` is empty [default: none].
    pub disallowed_hosts: Option<Vec<String>>,
    /// Explicit ports allowed [default: 80, 443].
    pub allowed_ports: Option<Vec<u16>>,
    /// Ports refused when `allowed_ports` is empty [default: none].
    pub disallowed_ports: Option<Vec<u16>>,
}

impl ImportFilteringSection {
    /// The filter with glance's defaults for what is not set.
    pub fn resolve(&self) -> ImportFiltering {
        let mut filtering = ImportFiltering::default();
        for (value, target) in [
            (&self.allowed_schemes, &mut filtering.allowed_schemes),
            (&self.disallowed_schemes, &mut filtering.disallowed_schemes),
            (&self.allowed_hosts, &mut filtering.allowed_hosts),
            (&self.disallowed_hosts, &mut filtering.disallowed_hosts),
        ] {
            if let Some(value) = value {
                *target = value
                    .iter()
                    .map(|v| v.trim_end_matches('.').to_lowercase())
                    .collect();
            }
        }
        if let Some(ports) = &self.allowed_ports {
            filtering.allowed_ports = ports.clone();
        }
        if let Some(ports) = &self.disallowed_ports {
            filtering.disallowed_ports = ports.clone();
        }
        filtering
    }
}

/// `user_storage_quota` as glance reads it: an integer, or digits followed
/// directly by `B`, `KB`, `MB`, `GB` or `TB` (binary multiples).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "QuotaValue")]
pub struct StorageQuota(pub u64);

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum QuotaValue {
    Number(u64),
    Text(String),
}

impl TryFrom<QuotaValue> for StorageQuota {
    type Error = String;

    fn try_from(value: QuotaValue) -> Result<StorageQuota, String> {
        let text = match value {
            QuotaValue::Number(n) => return Ok(StorageQuota(n)),
            QuotaValue::Text(text) => text,
        };
        let invalid = || format!("invalid user_storage_quota {text:?} (e.g. 0, 1073741824, 10GB)");
        let digits_end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(digits_end);
        let shift = match unit {
            "" | "B" => 0,
            "KB" => 10,
            "MB" => 20,
            "GB" => 30,
            "TB" => 40,
            _ => return Err(invalid()),
        };
        let n: u64 = digits.parse().map_err(|_| invalid())?;
        n.checked_mul(1u64 << shift)
            .map(StorageQuota)
            .ok_or_else(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `json` (a JSON number or string) as a quota.
    fn quota(json: &str) -> Result<u64, String> {
        serde_json::from_str::<StorageQuota>(json)
            .map(|q| q.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn import_filtering_keeps_glances_defaults() {
        let none: ImportFilteringSection = serde_json::from_str("{}").unwrap();
        assert_eq!(none.resolve(), ImportFiltering::default());
        let set: ImportFilteringSection = serde_json::from_str(
            r#"{"allowed_hosts": ["Images.Example.COM."], "allowed_ports": [8080],
                "disallowed_schemes": ["ftp"]}"#,
        )
        .unwrap();
        let f = set.resolve();
        assert_eq!(f.allowed_hosts, ["images.example.com"]);
        assert_eq!(f.allowed_ports, [8080]);
        assert_eq!(f.disallowed_schemes, ["ftp"]);
        assert_eq!(f.allowed_schemes, ["http", "https"]);
        assert!(serde_json::from_str::<ImportFilteringSection>(r#"{"allowed_host": []}"#).is_err());
        assert!(
            serde_json::from_str::<ImportFilteringSection>(r#"{"allowed_ports": [70000]}"#)
                .is_err()
        );
    }

    #[test]
    fn storage_quota_takes_glances_units() {
        assert_eq!(quota("0"), Ok(0));
        assert_eq!(quota("1234"), Ok(1234));
        assert_eq!(quota("\"1234\""), Ok(1234));
        assert_eq!(quota("\"512B\""), Ok(512));
        assert_eq!(quota("\"10KB\""), Ok(10 << 10));
        assert_eq!(quota("\"3MB\""), Ok(3 << 20));
        assert_eq!(quota("\"10GB\""), Ok(10 << 30));
        assert_eq!(quota("\"2TB\""), Ok(2 << 40));
        for bad in [
            "\"10 GB\"",
            "\"10gb\"",
            "\"GB\"",
            "\"-1\"",
            "\"99999999TB\"",
            "-1",
        ] {
            assert!(quota(bad).is_err(), "{bad}");
        }
    }
}
