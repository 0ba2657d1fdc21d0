//! The service catalog, built from configuration (the binary says which
//! services it serves and where), so tokens need no database to show it.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The region every endpoint is in.
pub const REGION: &str = "RegionOne";

/// One service in the catalog.
#[derive(Debug, Clone)]
pub struct CatalogService {
    /// Service type (`compute`, `block-storage`, ...).
    pub service_type: String,
    /// Service name (`nova`, `cinderv3`, ...).
    pub name: String,
    /// URL path under the public base, may contain `$(project_id)s`.
    pub path: String,
}

impl CatalogService {
    /// A catalog entry.
    pub fn new(service_type: &str, name: &str, path: &str) -> CatalogService {
        CatalogService {
            service_type: service_type.to_string(),
            name: name.to_string(),
            path: path.to_string(),
        }
    }
}

/// The whole catalog: a base URL and the services under it.
#[derive(Debug, Clone)]
pub struct Catalog {
    base_url: String,
    services: Vec<CatalogService>,
}

const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

impl Catalog {
    /// A catalog of `services` under `base_url` (`http://host:port`).
    pub fn new(base_url: &str, services: Vec<CatalogService>) -> Catalog {
        Catalog {
            base_url: base_url.trim_end_matches('/').to_string(),
            services,
        }
    }

    /// The base URL everything is under.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Keystone's token catalog for a token scoped to `project_id`. Endpoints
    /// whose URL needs a project id are left out without one, as Keystone does.
    pub fn render(&self, project_id: Option<&str>) -> Value {
        let entries: Vec<Value> = self
            .services
            .iter()
            .map(|service| {
                let endpoints: Vec<Value> = match self.url(service, project_id) {
                    Some(url) => INTERFACES
                        .iter()
                        .map(|interface| {
                            json!({
                                "id": stable_id(&[&service.service_type, &service.name, interface]),
                                "interface": interface,
                                "region": REGION,
                                "region_id": REGION,
                                "url": url,
                            })
                        })
                        .collect(),
                    None => Vec::new(),
                };
                json!({
                    "endpoints": endpoints,
                    "id": stable_id(&[&service.service_type, &service.name]),
                    "type": service.service_type,
                    "name": service.name,
                })
            })
            .collect();
        Value::Array(entries)
    }

    /// `/v3/services` entries.
    pub fn services_json(&self) -> Vec<Value> {
        self.services
            .iter()
            .map(|s| {
                let id = stable_id(&[&s.service_type, &s.name]);
                json!({
                    "id": id,
                    "type": s.service_type,
                    "name": s.name,
                    "enabled": true,
                    "description": "",
                    "links": {"self": format!("{}/identity/v3/services/{id}", self.base_url)},
                })
            })
            .collect()
    }

    /// `/v3/endpoints` entries (URLs unsubstituted, as Keystone stores them).
    pub fn endpoints_json(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for s in &self.services {
            for interface in INTERFACES {
                let id = stable_id(&[&s.service_type, &s.name, interface]);
                out.push(json!({
                    "id": id,
                    "interface": interface,
                    "region": REGION,
                    "region_id": REGION,
                    "service_id": stable_id(&[&s.service_type, &s.name]),
                    "url": format!("{}{}", self.base_url, s.path),
                    "enabled": true,
                    "links": {"self": format!("{}/identity/v3/endpoints/{id}", self.base_url)},
                }));
            }
        }
        out
    }

    fn url(&self, service: &CatalogService, project_id: Option<&str>) -> Option<String> {
        let url = format!("{}{}", self.base_url, service.path);
        if url.contains("$(project_id)s") {
            project_id.map(|p| url.replace("$(project_id)s", p))
        } else {
            Some(url)
        }
    }
}

/// Ids that stay the same across restarts for the same service.
fn stable_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_urls_are_substituted_or_left_out() {
        let catalog = Catalog::new(
            "http://h:1/",
            vec![
                CatalogService::new("identity", "keystone", "/identity"),
                CatalogService::new("block-storage", "cinder", "/volume/v3/$(project_id)s"),
            ],
        );
        let scoped = catalog.render(Some("p1"));
        assert_eq!(scoped[1]["endpoints"][0]["url"], "http://h:1/volume/v3/p1");
        assert_eq!(scoped[1]["endpoints"].as_array().unwrap().len(), 3);
        let unscoped = catalog.render(None);
        assert_eq!(unscoped[0]["endpoints"][0]["url"], "http://h:1/identity");
        assert!(unscoped[1]["endpoints"].as_array().unwrap().is_empty());
    }
}
