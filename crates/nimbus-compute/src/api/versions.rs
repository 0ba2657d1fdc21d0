//! Version discovery (`nova/api/openstack/compute/versions.py` and its
//! views): `GET /` lists the legacy v2.0 API first and v2.1, each with a
//! self link; `GET /v2` and `GET /v2.1` show one version with its links and
//! media types. Open to all, as nova's `/` (the v2 and v2.1 documents need
//! no token here either: they carry nothing a token would guard).
//! Only the v2.0 document is served: the legacy v2 API itself is not.

use axum::Router;
use axum::routing::get;
use nimbus_common::Json;
use serde_json::{Value, json};

use super::VERSIONS;

/// The version routes of the compute mount point; `base` is the public
/// base URL (`http://host:port`).
pub fn routes<S: Clone + Send + Sync + 'static>(base: &str) -> Router<S> {
    let (list, v2, v21) = (base.to_string(), base.to_string(), base.to_string());
    Router::new()
        .route("/", get(move || async move { Json(version_list(&list)) }))
        .route(
            "/v2",
            get(move || async move { Json(json!({"version": version_v20(&v2)})) }),
        )
        .route(
            "/v2.1",
            get(move || async move { Json(json!({"version": version_v21(&v21)})) }),
        )
}

/// nova's `build_versions`: id, status, version, min_version, updated and
/// a self link per version, v2.0 first.
fn version_list(base: &str) -> Value {
    let brief = |mut v: Value| {
        if let Some(o) = v.as_object_mut() {
            o.remove("media-types");
            if let Some(links) = o.get_mut("links").and_then(Value::as_array_mut) {
                links.retain(|l| l["rel"] == "self");
            }
        }
        v
    };
    json!({"versions": [brief(version_v20(base)), brief(version_v21(base))]})
}

/// The legacy v2.0 document: no microversions (empty version fields).
fn version_v20(base: &str) -> Value {
    json!({
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [
            {"rel": "self", "href": format!("{base}/compute/v2/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}],
    })
}

/// The v2.1 document, with the microversion range served.
fn version_v21(base: &str) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": VERSIONS.max.to_string(),
        "min_version": VERSIONS.min.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [
            {"rel": "self", "href": format!("{base}/compute/v2.1/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"},
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_names_v2_0_first_with_self_links_only() {
        let list = version_list("http://h:1");
        let versions = list["versions"].as_array().unwrap();
        assert_eq!(versions.len(), 2);
        assert_eq!(versions[0]["id"], "v2.0");
        assert_eq!(versions[0]["status"], "SUPPORTED");
        assert_eq!(versions[0]["version"], "");
        assert_eq!(
            versions[0]["links"],
            json!([{"rel": "self", "href": "http://h:1/compute/v2/"}])
        );
        assert_eq!(versions[1]["id"], "v2.1");
        assert_eq!(versions[1]["min_version"], "2.1");
        assert!(versions[1].get("media-types").is_none());
    }

    #[test]
    fn each_document_links_to_itself_as_the_list_does() {
        let list = version_list("http://h:1");
        for (i, doc) in [version_v20("http://h:1"), version_v21("http://h:1")]
            .iter()
            .enumerate()
        {
            assert_eq!(doc["links"][0], list["versions"][i]["links"][0]);
            assert!(doc["media-types"].is_array());
        }
    }
}
