//! Server responses in nova's shape for each microversion
//! (`nova/api/openstack/compute/views/servers.py`).

use nimbus_common::RequestContext;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha224};

use super::Microversion;
use crate::app::servers::status_of;
use crate::store::instances::Instance;

/// Where links point: the public URL the router was given.
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl BaseUrl {
    /// `{base}/compute/v2.1/{path}`.
    pub fn versioned(&self, path: &str) -> String {
        format!("{}/compute/v2.1/{path}", self.0)
    }

    /// `{base}/compute/{path}` (nova's bookmark links).
    pub fn bookmark(&self, path: &str) -> String {
        format!("{}/compute/{path}", self.0)
    }

    /// The self and bookmark links of `collection/id`.
    pub fn links(&self, collection: &str, id: &str) -> Value {
        json!([
            {"rel": "self", "href": self.versioned(&format!("{collection}/{id}"))},
            {"rel": "bookmark", "href": self.bookmark(&format!("{collection}/{id}"))},
        ])
    }
}

/// nova's `isotime`: `2012-08-20T21:11:09Z`.
pub fn isotime(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A naive datetime as nova's JSON encoder writes it (`launched_at`).
pub fn naive_time(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

/// nova's `generate_hostid`: sha224 of project id and host.
pub fn host_id(project_id: &str, host: &str) -> String {
    if host.is_empty() {
        return String::new();
    }
    hex::encode(Sha224::digest(format!("{project_id}{host}").as_bytes()))
}

/// Which variant of the show view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// `GET /servers/{id}` (and update/rebuild from 2.75).
    Show,
    /// An item of `GET /servers/detail` (no server_groups).
    Detail,
    /// `PUT /servers/{id}` before 2.75 (and rebuild before 2.75).
    Update,
}

/// The detailed server of `view` at `mv`.
pub fn server(
    i: &Instance,
    mv: Microversion,
    ctx: &RequestContext,
    base: &BaseUrl,
    view: View,
) -> Value {
    let status = status_of(i);
    let mut s = Map::new();
    s.insert("id".into(), json!(i.uuid));
    s.insert("name".into(), json!(i.display_name));
    s.insert("status".into(), json!(status));
    s.insert("tenant_id".into(), json!(i.project_id));
    s.insert("user_id".into(), json!(i.user_id));
    s.insert("metadata".into(), json!(i.metadata));
    s.insert("hostId".into(), json!(host_id(&i.project_id, &i.host)));
    s.insert(
        "image".into(),
        if i.image_ref.is_empty() {
            json!("")
        } else {
            json!({"id": i.image_ref, "links": [
                {"rel": "bookmark", "href": base.bookmark(&format!("images/{}", i.image_ref))}
            ]})
        },
    );
    s.insert(
        "flavor".into(),
        if mv.at_least(2, 47) {
            let mut f = json!({
                "vcpus": i.vcpus,
                "ram": i.memory_mb,
                "disk": i.root_gb,
                "ephemeral": i.ephemeral_gb,
                "swap": i.swap_mb,
                "original_name": i.flavor_name,
            });
            // Flavor extra specs are readable by every project member (nova's
            // default os_compute_api:os-flavor-extra-specs:index policy).
            f["extra_specs"] = json!(i.flavor_extra_specs);
            f
        } else {
            json!({"id": i.flavor_id, "links": [
                {"rel": "bookmark", "href": base.bookmark(&format!("flavors/{}", i.flavor_id))}
            ]})
        },
    );
    s.insert("created".into(), json!(isotime(i.created_at)));
    s.insert("updated".into(), json!(isotime(i.updated_at)));
    s.insert("addresses".into(), json!({}));
    s.insert(
        "accessIPv4".into(),
        json!(i.access_ip_v4.clone().unwrap_or_default()),
    );
    s.insert(
        "accessIPv6".into(),
        json!(i.access_ip_v6.clone().unwrap_or_default()),
    );
    s.insert("links".into(), base.links("servers", &i.uuid));
    s.insert("OS-DCF:diskConfig".into(), json!(i.disk_config));
    if matches!(status, "ERROR" | "DELETED")
        && let Some(f) = &i.fault
    {
        let mut fault = json!({
            "code": f.code,
            "created": isotime(f.created_at),
            "message": f.message,
        });
        if !f.details.is_empty() && (ctx.is_admin() || f.code != 500) {
            fault["details"] = json!(f.details);
        }
        s.insert("fault".into(), fault);
    }
    if matches!(status, "ACTIVE" | "BUILD" | "REBUILD") {
        s.insert("progress".into(), json!(0));
    }
    let full = view != View::Update;
    if full {
        s.insert(
            "OS-EXT-AZ:availability_zone".into(),
            json!(i.availability_zone),
        );
        s.insert("config_drive".into(), json!(i.config_drive));
        s.insert("key_name".into(), json!(i.key_name));
        s.insert(
            "OS-SRV-USG:launched_at".into(),
            json!(i.launched_at.map(naive_time)),
        );
        s.insert(
            "OS-SRV-USG:terminated_at".into(),
            json!(i.terminated_at.map(naive_time)),
        );
        if ctx.is_admin() {
            // An instance that never found a host has none (nova's null).
            let host = Some(&i.host).filter(|h| !h.is_empty());
            s.insert("OS-EXT-SRV-ATTR:host".into(), json!(host));
            s.insert(
                "OS-EXT-SRV-ATTR:instance_name".into(),
                json!(format!("instance-{}", &i.uuid[..8.min(i.uuid.len())])),
            );
            s.insert("OS-EXT-SRV-ATTR:hypervisor_hostname".into(), json!(host));
            if mv.at_least(2, 3) {
                s.insert(
                    "OS-EXT-SRV-ATTR:reservation_id".into(),
                    json!(i.reservation_id),
                );
                s.insert("OS-EXT-SRV-ATTR:launch_index".into(), json!(i.launch_index));
                s.insert("OS-EXT-SRV-ATTR:hostname".into(), json!(i.hostname));
                s.insert("OS-EXT-SRV-ATTR:kernel_id".into(), json!(i.kernel_id));
                s.insert("OS-EXT-SRV-ATTR:ramdisk_id".into(), json!(i.ramdisk_id));
                s.insert("OS-EXT-SRV-ATTR:root_device_name".into(), json!("/dev/vda"));
                s.insert("OS-EXT-SRV-ATTR:user_data".into(), json!(i.user_data));
            }
        } else if mv.at_least(2, 90) {
            s.insert("OS-EXT-SRV-ATTR:hostname".into(), json!(i.hostname));
        }
        s.insert("OS-EXT-STS:task_state".into(), json!(i.task_state));
        s.insert("OS-EXT-STS:vm_state".into(), json!(i.vm_state));
        s.insert("OS-EXT-STS:power_state".into(), json!(i.power_state));
        s.insert("os-extended-volumes:volumes_attached".into(), json!([]));
        if mv.at_least(2, 16) && ctx.is_admin() {
            s.insert("host_status".into(), json!("UP"));
        }
    }
    if mv.at_least(2, 9) {
        s.insert("locked".into(), json!(i.extras.locked()));
    }
    if mv.at_least(2, 19) {
        s.insert("description".into(), json!(i.display_description));
    }
    if mv.at_least(2, 26) {
        s.insert("tags".into(), json!(i.extras.tags));
    }
    if mv.at_least(2, 63) {
        s.insert("trusted_image_certificates".into(), Value::Null);
    }
    if mv.at_least(2, 71) && view != View::Detail {
        s.insert("server_groups".into(), json!(i.extras.server_groups));
    }
    if mv.at_least(2, 73) {
        s.insert("locked_reason".into(), json!(i.extras.locked_reason));
    }
    if mv.at_least(2, 96) {
        s.insert("pinned_availability_zone".into(), Value::Null);
    }
    Value::Object(s)
}

/// An item of `GET /servers`.
pub fn server_brief(i: &Instance, base: &BaseUrl) -> Value {
    json!({"id": i.uuid, "name": i.display_name, "links": base.links("servers", &i.uuid)})
}
