//! `GET /v3/{project}/extensions`: exactly the Cinder API extensions this
//! service implements, with Cinder's names, aliases and dates (clients and
//! Tempest probe the list before using one).

use axum::response::{IntoResponse, Response};
use nimbus_common::{Json, RequestContext};
use serde_json::{Value, json};

/// (name, alias, updated, description) of each implemented extension.
const EXTENSIONS: [(&str, &str, &str, &str); 10] = [
    (
        "AdminActions",
        "os-admin-actions",
        "2012-08-25T00:00:00+00:00",
        "Enable admin actions.",
    ),
    (
        "AvailabilityZones",
        "os-availability-zone",
        "2013-06-27T00:00:00+00:00",
        "Describe Availability Zones.",
    ),
    (
        "ExtendedSnapshotAttributes",
        "os-extended-snapshot-attributes",
        "2012-06-19T00:00:00+00:00",
        "Extended SnapshotAttributes support.",
    ),
    (
        "Quotas",
        "os-quota-sets",
        "2011-08-08T00:00:00+00:00",
        "Quota management support.",
    ),
    (
        "UsedLimits",
        "os-used-limits",
        "2013-10-03T00:00:00+00:00",
        "Provide data on limited resources that are being used.",
    ),
    (
        "VolumeActions",
        "os-volume-actions",
        "2012-05-31T00:00:00+00:00",
        "Enable volume actions.",
    ),
    (
        "VolumeImageMetadata",
        "os-vol-image-meta",
        "2012-12-07T00:00:00+00:00",
        "Show image metadata associated with the volume.",
    ),
    (
        "VolumeHostAttribute",
        "os-vol-host-attr",
        "2011-11-03T00:00:00+00:00",
        "Expose host as an attribute of a volume.",
    ),
    (
        "VolumeTenantAttribute",
        "os-vol-tenant-attr",
        "2011-11-03T00:00:00+00:00",
        "Expose the internal project_id as an attribute of a volume.",
    ),
    (
        "Types_manage",
        "os-types-manage",
        "2011-08-24T00:00:00+00:00",
        "Types manage support.",
    ),
];

/// The list as Cinder renders it.
fn list_json() -> Value {
    let all: Vec<Value> = EXTENSIONS
        .iter()
        .map(|(name, alias, updated, description)| {
            json!({"name": name, "alias": alias, "updated": updated,
                   "description": description, "links": []})
        })
        .collect();
    json!({ "extensions": all })
}

/// `GET /v3/{project}/extensions` (any authenticated user).
pub async fn list(_ctx: RequestContext) -> Response {
    Json(list_json()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_unique_and_complete() {
        let v = list_json();
        let list = v["extensions"].as_array().unwrap();
        let mut aliases: Vec<&str> = list.iter().map(|e| e["alias"].as_str().unwrap()).collect();
        aliases.sort();
        aliases.dedup();
        assert_eq!(aliases.len(), EXTENSIONS.len());
        assert!(aliases.contains(&"os-volume-actions"));
        assert!(aliases.contains(&"os-vol-image-meta"));
        for e in list {
            assert!(e["name"].is_string() && e["updated"].is_string() && e["links"].is_array());
        }
    }
}
