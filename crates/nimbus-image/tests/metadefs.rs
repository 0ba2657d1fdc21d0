//! The metadefs catalog through the router, on SQLite and PostgreSQL.

use axum::body::Body;
use serde_json::{Value, json};

use crate::support::{Harness, Reply, harness, harness_with};

const NS: &str = "/v2/metadefs/namespaces";

async fn admin(h: &Harness, method: &str, uri: &str, body: Option<Value>) -> Reply {
    let req = Harness::req(method, uri, "admin-project")
        .header("x-test-roles", "admin,member,reader")
        .header("content-type", "application/json");
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    h.send(req, body).await
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect()
}

async fn catalog(h: &Harness) {
    // A namespace with everything nested, created at once.
    let r = admin(
        h,
        "POST",
        NS,
        Some(json!({
            "namespace": "OS::Compute::Test", "display_name": "Test", "visibility": "public",
            "resource_type_associations": [{"name": "OS::Nova::Flavor", "prefix": "hw:"},
                                           {"name": "Custom::Type"}],
            "properties": {"cpu_policy": {"title": "CPU policy", "type": "string",
                                          "enum": ["shared", "dedicated"]}},
            "objects": [{"name": "numa", "required": ["nodes"],
                         "properties": {"nodes": {"title": "Nodes", "type": "integer"}}}],
            "tags": [{"name": "t1"}]
        })),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(
        r.headers["location"],
        "/v2/metadefs/namespaces/OS::Compute::Test"
    );
    let doc = r.json();
    assert_eq!(doc["owner"], "admin-project");
    assert_eq!(doc["protected"], false);
    assert_eq!(doc["schema"], "/v2/schemas/metadefs/namespace");

    // Same name again: 409, and nothing of the second request remains.
    let r = admin(
        h,
        "POST",
        NS,
        Some(json!({"namespace": "OS::Compute::Test"})),
    )
    .await;
    assert_eq!(r.status, 409);
    // A nested duplicate rolls the whole create back.
    let r = admin(
        h,
        "POST",
        NS,
        Some(json!({"namespace": "Dup", "tags": [{"name": "a"}, {"name": "a"}]})),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(h.get(&format!("{NS}/Dup"), "p1").await.status, 404);
    // Read-only attributes are 403, unknown ones and bad values 400.
    for (body, status) in [
        (json!({"namespace": "X", "created_at": "now"}), 403),
        (json!({"namespace": "X", "colour": "red"}), 400),
        (json!({"namespace": "X", "visibility": "shared"}), 400),
        (
            json!({"namespace": "X", "properties": {"p": {"type": "string"}}}),
            400,
        ),
        (json!({"display_name": "no namespace"}), 400),
        (json!([1, 2]), 400),
    ] {
        let r = admin(h, "POST", NS, Some(body.clone())).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
    }

    // The detailed view, with and without the resource type's prefix.
    let doc = h.get(&format!("{NS}/OS::Compute::Test"), "p1").await.json();
    assert_eq!(
        doc["properties"]["cpu_policy"]["enum"],
        json!(["shared", "dedicated"])
    );
    assert_eq!(doc["objects"][0]["required"], json!(["nodes"]));
    assert_eq!(doc["tags"], json!([{"name": "t1"}]));
    // Same creation time: by name. Associating an unknown type created it.
    assert_eq!(
        names(&doc["resource_type_associations"]),
        ["Custom::Type", "OS::Nova::Flavor"]
    );
    assert_eq!(doc["resource_type_associations"][1]["prefix"], "hw:");
    let doc = h
        .get(
            &format!("{NS}/OS::Compute::Test?resource_type=OS::Nova::Flavor"),
            "p1",
        )
        .await
        .json();
    assert!(doc["properties"]["hw:cpu_policy"].is_object(), "{doc}");
    assert_eq!(doc["objects"][0]["required"], json!(["hw:nodes"]));
    assert!(doc["objects"][0]["properties"]["hw:nodes"].is_object());

    // Tags: bulk replace, append, single, rename, conflicts.
    let tags = format!("{NS}/OS::Compute::Test/tags");
    let r = admin(
        h,
        "POST",
        &tags,
        Some(json!({"tags": [{"name": "a"}, {"name": "b"}]})),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(names(&h.get(&tags, "p1").await.json()["tags"]), ["a", "b"]);
    let req = Harness::req("POST", &tags, "admin-project")
        .header("x-test-roles", "admin")
        .header("content-type", "application/json")
        .header("X-Openstack-Append", "True");
    let r = h
        .send(
            req,
            Body::from(json!({"tags": [{"name": "c"}]}).to_string()),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(
        names(&h.get(&tags, "p1").await.json()["tags"]),
        ["a", "b", "c"]
    );
    assert_eq!(
        admin(h, "POST", &format!("{tags}/d"), None).await.status,
        201
    );
    assert_eq!(
        admin(h, "POST", &format!("{tags}/d"), None).await.status,
        409
    );
    let r = admin(h, "PUT", &format!("{tags}/d"), Some(json!({"name": "e"}))).await;
    assert_eq!(r.json()["name"], "e");
    let r = admin(h, "PUT", &format!("{tags}/e"), Some(json!({"name": "a"}))).await;
    assert_eq!(r.status, 409);
    assert_eq!(
        admin(h, "DELETE", &format!("{tags}/e"), None).await.status,
        204
    );
    assert_eq!(h.get(&format!("{tags}/e"), "p1").await.status, 404);

    // Properties and objects.
    let props = format!("{NS}/OS::Compute::Test/properties");
    let r = admin(
        h,
        "POST",
        &props,
        Some(json!({"name": "cores", "title": "Cores", "type": "integer", "minimum": 1})),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.json()["name"], "cores");
    let list = h.get(&props, "p1").await.json();
    assert_eq!(list["properties"]["cores"]["minimum"], 1);
    let r = admin(
        h,
        "PUT",
        &format!("{props}/cores"),
        Some(json!({"name": "vcpus", "title": "vCPUs", "type": "integer"})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        h.get(&format!("{props}/vcpus"), "p1").await.json()["title"],
        "vCPUs"
    );
    let objects = format!("{NS}/OS::Compute::Test/objects");
    let list = h.get(&objects, "p1").await.json();
    assert_eq!(names(&list["objects"]), ["numa"]);

    // Another project: reads public namespaces, 403 on writes, 404 on
    // private namespaces of others.
    assert_eq!(
        h.json("POST", NS, "p1", json!({"namespace": "Mine"}))
            .await
            .status,
        403
    );
    assert_eq!(
        h.json(
            "POST",
            &props,
            "p1",
            json!({"name": "x", "title": "X", "type": "string"})
        )
        .await
        .status,
        403
    );
    let r = admin(h, "POST", NS, Some(json!({"namespace": "Private::One"}))).await;
    assert_eq!(r.status, 201);
    assert_eq!(h.get(&format!("{NS}/Private::One"), "p1").await.status, 404);
    let list = h.get(NS, "p1").await.json();
    let visible: Vec<_> = list["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(visible, ["OS::Compute::Test"]);
    let list = admin(
        h,
        "GET",
        &format!("{NS}?limit=1&sort_key=namespace&sort_dir=asc"),
        None,
    )
    .await
    .json();
    assert_eq!(list["namespaces"][0]["namespace"], "OS::Compute::Test");
    let next = list["next"].as_str().unwrap();
    let list = admin(h, "GET", next, None).await.json();
    assert_eq!(list["namespaces"][0]["namespace"], "Private::One");
    let list = h
        .get(&format!("{NS}?resource_types=OS::Nova::Flavor"), "p1")
        .await
        .json();
    assert_eq!(list["namespaces"].as_array().unwrap().len(), 1);
    let types = h.get("/v2/metadefs/resource_types", "p1").await.json();
    // The services' own resource types exist from the start.
    assert_eq!(
        names(&types["resource_types"]),
        [
            "Custom::Type",
            "OS::Cinder::Volume",
            "OS::Glance::Image",
            "OS::Nova::Flavor",
            "OS::Nova::Server"
        ]
    );

    // Protected namespaces refuse deletes of anything in them.
    let r = admin(
        h,
        "PUT",
        &format!("{NS}/OS::Compute::Test"),
        Some(json!({"namespace": "OS::Compute::Test", "visibility": "public", "protected": true})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        admin(h, "DELETE", &format!("{NS}/OS::Compute::Test"), None)
            .await
            .status,
        403
    );
    assert_eq!(
        admin(h, "DELETE", &format!("{props}/vcpus"), None)
            .await
            .status,
        403
    );
    // Renaming keeps the contents.
    let r = admin(
        h,
        "PUT",
        &format!("{NS}/OS::Compute::Test"),
        Some(json!({"namespace": "OS::Compute::Renamed", "visibility": "public"})),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let doc = h
        .get(&format!("{NS}/OS::Compute::Renamed"), "p1")
        .await
        .json();
    assert!(doc["properties"]["vcpus"].is_object(), "{doc}");
    assert_eq!(
        admin(
            h,
            "DELETE",
            &format!("{NS}/OS::Compute::Renamed/objects"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        admin(
            h,
            "DELETE",
            &format!("{NS}/OS::Compute::Renamed/resource_types/OS::Nova::Flavor"),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        admin(h, "DELETE", &format!("{NS}/OS::Compute::Renamed"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        h.get(&format!("{NS}/OS::Compute::Renamed/properties"), "p1")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn metadefs_sqlite() {
    catalog(&harness().await).await;
}

#[tokio::test]
async fn metadefs_postgres() {
    if let Some(h) = harness_with(true, |_| {}).await {
        catalog(&h).await;
    }
}

#[tokio::test]
async fn metadef_schemas_are_served() {
    let h = harness().await;
    for (path, name) in [
        ("namespace", "namespace"),
        ("resource_types", "resource_type_associations"),
    ] {
        let r = h.get(&format!("/v2/schemas/metadefs/{path}"), "p1").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["name"], name);
    }
    assert_eq!(
        h.get("/v2/schemas/metadefs/nothing", "p1").await.status,
        404
    );
}
