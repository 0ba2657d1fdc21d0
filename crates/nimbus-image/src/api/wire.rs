//! What clients see: Glance v2's image and member documents.

use serde_json::{Map, Value, json};

use crate::app::model::{Image, Member};

/// Glance's timestamp format (`2016-07-12T14:34:12Z`).
pub fn timestamp(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// An image document; `admin` adds `locations` and `direct_url`.
pub fn image_json(image: &Image, admin: bool) -> Value {
    let mut doc = Map::new();
    // Custom properties first so no property can shadow a base attribute.
    for (k, v) in &image.properties {
        doc.insert(k.clone(), Value::String(v.clone()));
    }
    let base = json!({
        "id": image.id,
        "name": image.name,
        "status": image.status.as_str(),
        "visibility": image.visibility.as_str(),
        "protected": image.protected,
        "os_hidden": image.os_hidden,
        "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
        "owner": image.owner,
        "size": image.size,
        "virtual_size": image.virtual_size,
        "min_ram": image.min_ram,
        "min_disk": image.min_disk,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "created_at": timestamp(image.created_at),
        "updated_at": timestamp(image.updated_at),
        "tags": image.tags,
        "self": format!("/v2/images/{}", image.id),
        "file": format!("/v2/images/{}/file", image.id),
        "schema": "/v2/schemas/image",
    });
    if let Value::Object(base) = base {
        doc.extend(base);
    }
    if let Some(store) = &image.store {
        doc.insert("stores".into(), Value::String(store.clone()));
    }
    if admin {
        let locations = match &image.location {
            Some(url) => json!([{"url": url, "metadata": {"store": image.store}}]),
            None => json!([]),
        };
        doc.insert("locations".into(), locations);
        if let Some(url) = &image.location {
            doc.insert("direct_url".into(), Value::String(url.clone()));
        }
    }
    Value::Object(doc)
}

/// An image member document.
pub fn member_json(member: &Member) -> Value {
    json!({
        "image_id": member.image_id,
        "member_id": member.member_id,
        "status": member.status.as_str(),
        "created_at": timestamp(member.created_at),
        "updated_at": timestamp(member.updated_at),
        "schema": "/v2/schemas/member",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_glance_shaped() {
        assert_eq!(timestamp(1_468_334_052_000_000), "2016-07-12T14:34:12Z");
    }
}
