//! `/snapshots/{id}/metadata` (Cinder's snapshot_metadata controller), and
//! which snapshot views carry the extended attributes.

use serde_json::json;

use crate::support::harness;

#[tokio::test]
async fn snapshot_metadata_crud_and_views() {
    let h = harness().await;
    let v = h.volume("p1", json!({"size": 1})).await;
    let r = h
        .call(
            "POST",
            "/snapshots",
            "p1",
            Some(json!({"snapshot": {"volume_id": v["id"], "metadata": {"a": "1"}}})),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let id = r.json()["snapshot"]["id"].as_str().unwrap().to_string();
    let meta = format!("/snapshots/{id}/metadata");

    let r = h.call("GET", &meta, "p1", None).await;
    assert_eq!(r.json(), json!({"metadata": {"a": "1"}}));
    let r = h
        .call("POST", &meta, "p1", Some(json!({"metadata": {"b": "2"}})))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"metadata": {"a": "1", "b": "2"}}),
        "merged"
    );
    let r = h
        .call("PUT", &meta, "p1", Some(json!({"metadata": {"c": "3"}})))
        .await;
    assert_eq!(r.json(), json!({"metadata": {"c": "3"}}), "replaced");
    let r = h
        .call(
            "PUT",
            &format!("{meta}/c"),
            "p1",
            Some(json!({"meta": {"c": "4"}})),
        )
        .await;
    assert_eq!(r.json(), json!({"meta": {"c": "4"}}));
    let r = h.call("GET", &format!("{meta}/c"), "p1", None).await;
    assert_eq!(r.json(), json!({"meta": {"c": "4"}}));
    let r = h
        .call(
            "PUT",
            &format!("{meta}/c"),
            "p1",
            Some(json!({"meta": {"d": "4"}})),
        )
        .await;
    assert_eq!(r.status, 400, "body and URI mismatch");
    assert_eq!(
        h.call("DELETE", &format!("{meta}/c"), "p1", None)
            .await
            .status,
        200
    );
    for (method, path) in [
        ("GET", format!("{meta}/c")),
        ("DELETE", format!("{meta}/c")),
    ] {
        assert_eq!(h.call(method, &path, "p1", None).await.status, 404);
    }
    assert_eq!(h.call("GET", &meta, "p2", None).await.status, 404);
    let r = h
        .call("POST", &meta, "p1", Some(json!({"metadata": {"k": 5}})))
        .await;
    assert_eq!(r.status, 400);

    // Cinder's os-extended-snapshot-attributes extend show and detail only.
    let attr = "os-extended-snapshot-attributes:project_id";
    let r = h.call("GET", "/snapshots", "p1", None).await;
    assert!(r.json()["snapshots"][0].get(attr).is_none(), "{:?}", r.body);
    let r = h.call("GET", "/snapshots/detail", "p1", None).await;
    assert_eq!(r.json()["snapshots"][0][attr], "p1");
    let r = h.call("GET", &format!("/snapshots/{id}"), "p1", None).await;
    assert_eq!(r.json()["snapshot"][attr], "p1");
}
