//! Response bodies, as Cinder's `api/v3/views` build them for a
//! microversion.

use nimbus_common::{ApiVersion, RequestContext};
use serde_json::{Value, json};

use crate::app::model::{AttachStatus, Attachment, Snapshot, Volume, VolumeType};

/// Cinder's timestamp format (ISO 8601, microseconds, no zone).
pub fn timestamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string())
        .unwrap_or_default()
}

fn opt_timestamp(micros: Option<i64>) -> Value {
    micros.map_or(Value::Null, |m| Value::String(timestamp(m)))
}

/// Links to a resource.
pub fn links(base: &str, project: &str, kind: &str, id: &str) -> Value {
    json!([
        {"href": format!("{base}/volume/v3/{project}/{kind}/{id}"), "rel": "self"},
        {"href": format!("{base}/volume/{project}/{kind}/{id}"), "rel": "bookmark"},
    ])
}

/// `{"id", "name", "links"}` (the list view).
pub fn volume_summary(base: &str, v: &Volume) -> Value {
    json!({"id": v.id, "name": v.name, "links": links(base, &v.project_id, "volumes", &v.id)})
}

/// The attributes Cinder's controller extensions add to `GET` replies only
/// (show, detail list): the create and update replies are the bare detail view.
const EXTENSION_ATTRIBUTES: [&str; 7] = [
    "os-vol-tenant-attr:tenant_id",
    "os-extended-snapshot-attributes:progress",
    "os-extended-snapshot-attributes:project_id",
    "os-vol-host-attr:host",
    "os-vol-mig-status-attr:migstat",
    "os-vol-mig-status-attr:name_id",
    "volume_image_metadata",
];

/// A volume or snapshot view without [`EXTENSION_ATTRIBUTES`] (create and update replies).
pub fn without_extension_attributes(mut body: Value) -> Value {
    if let Value::Object(map) = &mut body {
        for key in EXTENSION_ATTRIBUTES {
            map.remove(key);
        }
    }
    body
}

/// The detail view.
pub fn volume_detail(
    base: &str,
    ctx: &RequestContext,
    version: ApiVersion,
    v: &Volume,
    type_name: &str,
    attachments: &[Attachment],
) -> Value {
    let attached: Vec<Value> = attachments
        .iter()
        .filter(|a| a.attach_status == AttachStatus::Attached)
        .map(|a| {
            json!({
                "id": v.id,
                "attachment_id": a.id,
                "volume_id": v.id,
                "server_id": a.instance_uuid,
                "host_name": a.attached_host.clone().or_else(|| {
                    a.connector.as_ref().and_then(|c| c.get("host")).and_then(Value::as_str).map(str::to_string)
                }),
                "device": a.mountpoint,
                "attached_at": opt_timestamp(a.attached_at),
            })
        })
        .collect();
    let mut body = json!({
        "id": v.id,
        "status": v.status.as_str(),
        "size": v.size,
        "availability_zone": v.availability_zone,
        "created_at": timestamp(v.created_at),
        "updated_at": timestamp(v.updated_at),
        "attachments": attached,
        "name": v.name,
        "description": v.description,
        "volume_type": type_name,
        "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid,
        "metadata": v.visible_metadata(),
        "links": links(base, &v.project_id, "volumes", &v.id),
        "user_id": v.user_id,
        "bootable": if v.bootable { "true" } else { "false" },
        "encrypted": false,
        "replication_status": null,
        "consistencygroup_id": null,
        "multiattach": false,
        "os-vol-tenant-attr:tenant_id": v.project_id,
    });
    if let Some(meta) = v.image_metadata.as_ref().filter(|m| !m.is_empty()) {
        body["volume_image_metadata"] = json!(meta);
    }
    if ctx.is_admin() {
        body["os-vol-host-attr:host"] = json!("nimbus@local#local");
        body["os-vol-mig-status-attr:migstat"] = Value::Null;
        body["os-vol-mig-status-attr:name_id"] = Value::Null;
    }
    if version.at_least(3, 13) {
        body["group_id"] = Value::Null;
    }
    if version.at_least(3, 21) && ctx.is_admin() {
        body["provider_id"] = Value::Null;
    }
    if version.at_least(3, 48) && ctx.is_admin() {
        body["service_uuid"] = Value::Null;
        body["shared_targets"] = json!(false);
    }
    if version.at_least(3, 61) && ctx.is_admin() {
        body["cluster_name"] = Value::Null;
    }
    if version.at_least(3, 63) {
        body["volume_type_id"] = json!(v.volume_type_id);
    }
    if version.at_least(3, 64) {
        body["encryption_key_id"] = Value::Null;
    }
    if version.at_least(3, 65) {
        body["consumes_quota"] = json!(true);
    }
    body
}

/// A snapshot (detail and list views are the same in v3).
pub fn snapshot(version: ApiVersion, s: &Snapshot) -> Value {
    let mut body = json!({
        "id": s.id,
        "created_at": timestamp(s.created_at),
        "updated_at": timestamp(s.updated_at),
        "name": s.name,
        "description": s.description,
        "volume_id": s.volume_id,
        "status": s.status.as_str(),
        "size": s.size,
        "metadata": s.metadata,
        "os-extended-snapshot-attributes:progress": if s.status == crate::app::model::SnapshotStatus::Available { "100%" } else { "0%" },
        "os-extended-snapshot-attributes:project_id": s.project_id,
    });
    if version.at_least(3, 14) {
        body["group_snapshot_id"] = Value::Null;
    }
    if version.at_least(3, 41) {
        body["user_id"] = json!(s.user_id);
    }
    if version.at_least(3, 65) {
        body["consumes_quota"] = json!(true);
    }
    body
}

/// A volume type.
pub fn volume_type(ctx: &RequestContext, t: &VolumeType) -> Value {
    let mut body = json!({
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "is_public": t.is_public,
        "os-volume-type-access:is_public": t.is_public,
        "qos_specs_id": null,
    });
    if ctx.is_admin() {
        body["extra_specs"] = json!(t.extra_specs);
    }
    body
}

/// An attachment (`detail` adds times, mode and connection info).
pub fn attachment(a: &Attachment, detail: bool) -> Value {
    let mut body = json!({
        "id": a.id,
        "status": a.attach_status.as_str(),
        "instance": a.instance_uuid,
        "volume_id": a.volume_id,
    });
    if detail {
        body["attached_at"] = opt_timestamp(a.attached_at);
        body["detached_at"] = opt_timestamp(a.detached_at);
        body["attach_mode"] = json!(a.attach_mode);
        body["connection_info"] = a.connection_info.clone().unwrap_or(Value::Null);
    }
    body
}
