//! Nova's image proxy (`/images`, `/images/{id}/metadata`) through the
//! in-process router: Glance's images in nova's shape, Glance's visibility
//! and protection, and the 2.36 cutoff.

use serde_json::json;

use crate::support::{cloud, ctx};

const P1: (&str, &str) = ("p1", "member,reader");
const P2: (&str, &str) = ("p2", "member,reader");

#[tokio::test]
async fn images_in_novas_shape_with_metadata_and_the_2_36_cutoff() {
    let c = cloud().await;
    let glance = c.svc.images().service();
    let image = glance
        .image_create(
            &ctx("p1", "member,reader"),
            json!({"name": "img1", "disk_format": "raw", "container_format": "bare",
                   "min_ram": 64, "min_disk": 1, "role": "db"})
            .as_object()
            .unwrap(),
        )
        .await
        .unwrap();
    let id = image.id.clone();

    let (s, body) = c.call(P1, "2.1", "GET", "/images", None).await;
    assert_eq!(s, 200, "{body}");
    let listed = body["images"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{body}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["name"], "img1");

    let (s, body) = c.call(P1, "2.1", "GET", "/images/detail", None).await;
    assert_eq!(s, 200, "{body}");
    let img = &body["images"][0];
    // No data yet: Glance's queued is nova's SAVING at 25%.
    assert_eq!(img["status"], "SAVING", "{img}");
    assert_eq!(img["progress"], 25);
    assert_eq!(img["minRam"], 64);
    assert_eq!(img["minDisk"], 1);
    assert_eq!(img["metadata"]["role"], "db", "{img}");

    let (s, shown) = c
        .call(P1, "2.1", "GET", &format!("/images/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(shown["image"]["id"], id.as_str());
    // Another project does not see a private image.
    let (s, _) = c
        .call(P2, "2.1", "GET", &format!("/images/{id}"), None)
        .await;
    assert_eq!(s, 404);

    // Metadata: set one key, read it back through Glance, delete it.
    let meta = format!("/images/{id}/metadata");
    let (s, body) = c
        .call(
            P1,
            "2.1",
            "PUT",
            &format!("{meta}/tier"),
            Some(json!({"meta": {"tier": "gold"}})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = c.call(P1, "2.1", "GET", &meta, None).await;
    assert_eq!(s, 200);
    assert_eq!(body["metadata"]["tier"], "gold", "{body}");
    let again = glance
        .image_visible(&ctx("p1", "member,reader"), &id)
        .await
        .unwrap();
    assert_eq!(
        again.properties.get("tier").map(String::as_str),
        Some("gold")
    );
    let (s, _) = c
        .call(
            P1,
            "2.1",
            "PUT",
            &format!("{meta}/tier"),
            Some(json!({"meta": {"other": "x"}})),
        )
        .await;
    assert_eq!(s, 400, "body and URI must name the same key");
    let (s, _) = c
        .call(P1, "2.1", "DELETE", &format!("{meta}/tier"), None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = c
        .call(P1, "2.1", "GET", &format!("{meta}/tier"), None)
        .await;
    assert_eq!(s, 404);

    // Gone from 2.36, as in nova.
    let (s, _) = c.call(P1, "2.36", "GET", "/images", None).await;
    assert_eq!(s, 404);

    // Delete through nova deletes in Glance.
    let (s, _) = c
        .call(P2, "2.1", "DELETE", &format!("/images/{id}"), None)
        .await;
    assert_eq!(s, 404);
    let (s, _) = c
        .call(P1, "2.1", "DELETE", &format!("/images/{id}"), None)
        .await;
    assert_eq!(s, 204);
    let (s, body) = c.call(P1, "2.1", "GET", "/images", None).await;
    assert_eq!(s, 200);
    assert_eq!(body["images"], json!([]));
}
