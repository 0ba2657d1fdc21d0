//! `createImage` of a volume-backed server (nova's `snapshot_volume_backed`):
//! a Cinder snapshot of each attached volume and a zero-size image that
//! only carries the mapping (`block_device_mapping`, `bdm_v2`,
//! `root_device_name`). Booting that image makes new volumes from the
//! snapshots ([`image_block_devices`]).

use std::collections::BTreeMap;

use bytes::Bytes;
use nimbus_common::{ApiError, RequestContext};
use serde_json::{Map, Value, json};

use super::ComputeService;
use super::snapshot::{ImageKind, image_properties};
use crate::store::bdms;
use crate::store::instances::Instance;

/// The vm_states nova snapshots a server in.
const SNAPSHOT_STATES: &[&str] = &["active", "stopped", "paused", "suspended"];

/// Snapshots every volume of `instance` and records the image; returns its
/// id. Synchronous as in nova (its API does the same before answering).
pub async fn snapshot_volume_backed(
    svc: &ComputeService,
    ctx: &RequestContext,
    instance: &Instance,
    name: &str,
    metadata: BTreeMap<String, String>,
) -> Result<String, ApiError> {
    if instance.task_state.is_some() || !SNAPSHOT_STATES.contains(&instance.vm_state.as_str()) {
        let attr = match &instance.task_state {
            Some(t) => format!("task_state {t}"),
            None => format!("vm_state {}", instance.vm_state),
        };
        return Err(ApiError::conflict(format!(
            "Cannot 'createImage' instance {} while it is in {attr}",
            instance.uuid
        )));
    }
    let volumes = bdms::bdm_list(svc.db().pool(), &instance.uuid).await?;
    let mut mapping = Vec::new();
    let mut made = Vec::new();
    for bdm in &volumes {
        let Some(volume_id) = bdm.volume_id.as_deref() else {
            continue;
        };
        let description = svc
            .volume()
            .volume_get(ctx, volume_id)
            .await
            .ok()
            .and_then(|v| v.description);
        // force: the volume is in-use; nova's create_snapshot_force.
        let snapshot = match svc
            .volume()
            .snapshot_create(
                ctx,
                volume_id,
                Some(format!("snapshot for {name}")),
                description,
                BTreeMap::new(),
                true,
            )
            .await
        {
            Ok(s) => s,
            Err(err) => {
                undo_snapshots(svc, ctx, &made).await;
                return Err(err);
            }
        };
        made.push(snapshot.id.clone());
        mapping.push(snapshot_mapping(&snapshot.id, bdm));
    }
    let mut body = Map::new();
    body.insert("name".into(), json!(name));
    // nova's force_activate: no data, so glance needs formats to activate.
    // nova says qcow2; Nimbus's image service checks data against the
    // declared format, and zero bytes are raw.
    body.insert("disk_format".into(), json!("raw"));
    body.insert("container_format".into(), json!("bare"));
    for (k, v) in image_properties(svc, ctx, instance, &ImageKind::Snapshot).await {
        body.insert(k, v);
    }
    body.insert("root_device_name".into(), json!("/dev/vda"));
    if !mapping.is_empty() {
        // Glance properties are strings: nova stores the list as JSON.
        body.insert(
            "block_device_mapping".into(),
            json!(Value::Array(mapping).to_string()),
        );
        body.insert("bdm_v2".into(), json!("True"));
    }
    for (k, v) in metadata {
        body.insert(k, Value::String(v));
    }
    let images = svc.images().service();
    let image = match images.image_create(ctx, &body).await {
        Ok(image) => image,
        Err(err) => {
            undo_snapshots(svc, ctx, &made).await;
            return Err(err);
        }
    };
    let empty = futures::stream::iter(std::iter::empty::<Result<Bytes, std::io::Error>>());
    if let Err(err) = images
        .image_upload(ctx, &image.id, None, Some(0), Box::pin(empty))
        .await
    {
        let _ = images.image_delete(ctx, &image.id).await;
        undo_snapshots(svc, ctx, &made).await;
        return Err(err);
    }
    Ok(image.id)
}

async fn undo_snapshots(svc: &ComputeService, ctx: &RequestContext, ids: &[String]) {
    for id in ids {
        if let Err(e) = svc.volume().snapshot_delete(ctx, id).await {
            tracing::warn!(snapshot = %id, error = %e.message(), "undoing a snapshot failed");
        }
    }
}

/// nova's `snapshot_from_bdm(...).get_image_mapping()`: the volume's place
/// in the server, now sourced from `snapshot_id`.
fn snapshot_mapping(snapshot_id: &str, bdm: &bdms::Bdm) -> Value {
    json!({
        "source_type": "snapshot",
        "destination_type": "volume",
        "snapshot_id": snapshot_id,
        "volume_id": null,
        "image_id": null,
        "device_name": bdm.device_name,
        "boot_index": bdm.boot_index,
        "delete_on_termination": bdm.delete_on_termination,
        "volume_size": bdm.volume_size,
        "disk_bus": null,
        "device_type": null,
        "guest_format": null,
        "no_device": null,
        "tag": bdm.tag,
        "volume_type": null,
    })
}

/// The block devices an image defines (nova's `_get_image_defined_bdms`):
/// the `block_device_mapping` property of a volume-backed snapshot when
/// `bdm_v2` is set, as `block_device_mapping_v2` items. Malformed
/// properties are a 400, as nova's `InvalidBDMFormat`.
pub fn image_block_devices(
    properties: &BTreeMap<String, String>,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    let v2 = properties
        .get("bdm_v2")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"));
    let Some(text) = properties.get("block_device_mapping").filter(|_| v2) else {
        return Ok(Vec::new());
    };
    let bad = || {
        ApiError::bad_request(
            "Block Device Mapping is Invalid: the image's block_device_mapping is malformed.",
        )
    };
    let items: Vec<Value> = serde_json::from_str(text).map_err(|_| bad())?;
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(mut map) => {
                map.retain(|_, v| !v.is_null());
                // The request's `uuid` is the id of what `source_type` names.
                let id_key = match map.get("source_type").and_then(Value::as_str) {
                    Some("snapshot") => "snapshot_id",
                    Some("volume") => "volume_id",
                    Some("image") => "image_id",
                    _ => return Err(bad()),
                };
                let id = map.get(id_key).cloned().ok_or_else(bad)?;
                map.insert("uuid".into(), id);
                Ok(map)
            }
            _ => Err(bad()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_mappings_round_trip_into_request_items() {
        let mut bdm = bdms::Bdm::new("i", "volume", Some("v"));
        bdm.boot_index = Some(0);
        bdm.device_name = Some("/dev/vda".into());
        bdm.volume_size = Some(1);
        let text = Value::Array(vec![snapshot_mapping("s1", &bdm)]).to_string();
        let props = BTreeMap::from([
            ("bdm_v2".to_string(), "True".to_string()),
            ("block_device_mapping".to_string(), text),
        ]);
        let items = image_block_devices(&props).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["source_type"], "snapshot");
        assert_eq!(items[0]["snapshot_id"], "s1");
        assert_eq!(items[0]["boot_index"], 0);
        assert_eq!(items[0]["uuid"], "s1");
        assert!(!items[0].contains_key("volume_id"));
    }

    #[test]
    fn images_without_bdm_v2_define_nothing_and_garbage_is_400() {
        let none = BTreeMap::from([("block_device_mapping".to_string(), "[]".to_string())]);
        assert!(image_block_devices(&none).unwrap().is_empty());
        let bad = BTreeMap::from([
            ("bdm_v2".to_string(), "True".to_string()),
            ("block_device_mapping".to_string(), "{not json".to_string()),
        ]);
        assert_eq!(image_block_devices(&bad).unwrap_err().status(), 400);
    }
}
