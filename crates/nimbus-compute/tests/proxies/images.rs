//! The image proxy's listings (below 2.36): nova's filters mapped onto
//! Glance's, the ones applied after Glance, and `limit`/`marker` pages.

use serde_json::{Value, json};

use super::{P1, P2};
use crate::support::cloud;

#[tokio::test]
async fn image_lists_take_novas_filters_and_pages() {
    let c = cloud().await;
    let glance = c.svc.images().service();
    let p1 = crate::support::ctx("p1", "member,reader");
    let s1 = "5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0001";
    let s2 = "5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0002";
    let mut ids = Vec::new();
    for attrs in [
        json!({"name": "a", "min_ram": 64, "min_disk": 1,
               "image_type": "snapshot", "instance_uuid": s1}),
        json!({"name": "b", "min_ram": 128, "image_type": "snapshot",
               "instance_uuid": s2, "auto_disk_config": "True"}),
        json!({"name": "c", "os_distro": "debian"}),
    ] {
        let mut attrs = attrs;
        attrs["disk_format"] = json!("raw");
        attrs["container_format"] = json!("bare");
        let img = glance
            .image_create(&p1, attrs.as_object().unwrap())
            .await
            .unwrap();
        ids.push(img.id);
    }
    let (a, b, cc) = (ids[0].as_str(), ids[1].as_str(), ids[2].as_str());
    let listed = |body: &Value| -> Vec<String> {
        let mut v: Vec<String> = body["images"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    let sorted = |v: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    let server_link = format!("http://cloud:1/compute/v2.1/servers/{s1}");
    for (query, expected) in [
        ("name=a".to_string(), vec![a]),
        (format!("server={s1}"), vec![a]),
        (format!("server={server_link}"), vec![a]),
        ("type=snapshot".to_string(), vec![a, b]),
        ("property-image_type=snapshot".to_string(), vec![a, b]),
        ("property-os_distro=debian".to_string(), vec![cc]),
        ("minRam=128".to_string(), vec![b]),
        ("minDisk=1".to_string(), vec![a]),
        // nova hands the status to Glance in lower case: nothing is
        // uploaded yet, so all are queued (shown as SAVING), none saving.
        ("status=QUEUED".to_string(), vec![a, b, cc]),
        ("status=SAVING".to_string(), vec![]),
        ("status=ACTIVE".to_string(), vec![]),
        (
            "changes-since=2000-01-01T00:00:00Z".to_string(),
            vec![a, b, cc],
        ),
        ("changes-since=2999-01-01T00:00:00Z".to_string(), vec![]),
        ("type=snapshot&minRam=64".to_string(), vec![a]),
    ] {
        for path in ["/images", "/images/detail"] {
            let (s, body) = c
                .call(P1, "2.1", "GET", &format!("{path}?{query}"), None)
                .await;
            assert_eq!(s, 200, "{path}?{query}: {body}");
            assert_eq!(listed(&body), sorted(&expected), "{path}?{query}");
            assert!(body.get("images_links").is_none(), "{body}");
        }
    }
    let (_, body) = c
        .call(P1, "2.1", "GET", &format!("/images/{b}"), None)
        .await;
    assert_eq!(body["image"]["OS-DCF:diskConfig"], "AUTO");
    assert_eq!(body["image"]["server"]["id"], s2);

    // Pages: limit with a next link carrying the query and the marker;
    // following it gives the rest, and the last page has no link.
    for (path, link_path) in [
        ("/images", "/compute/v2.1/images?"),
        ("/images/detail", "/compute/v2.1/images/detail?"),
    ] {
        let (s, first) = c
            .call(
                P1,
                "2.1",
                "GET",
                &format!("{path}?limit=2&name=in:a,b,c"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{first}");
        assert_eq!(first["images"].as_array().unwrap().len(), 2);
        let last = first["images"][1]["id"].as_str().unwrap();
        let next = first["images_links"][0].clone();
        assert_eq!(next["rel"], "next");
        let href = next["href"].as_str().unwrap();
        assert!(
            href.starts_with(&format!("http://cloud:1{link_path}")),
            "{href}"
        );
        assert!(
            href.contains("limit=2") && href.contains(&format!("marker={last}")),
            "{href}"
        );
        let query = href.split_once('?').unwrap().1;
        let (s, rest) = c
            .call(P1, "2.1", "GET", &format!("{path}?{query}"), None)
            .await;
        assert_eq!(s, 200, "{rest}");
        assert_eq!(rest["images"].as_array().unwrap().len(), 1);
        assert!(rest.get("images_links").is_none(), "{rest}");
        let mut all = listed(&first);
        all.extend(listed(&rest));
        all.sort();
        assert_eq!(all, sorted(&[a, b, cc]));
    }
    // limit=0 is no limit, without a link.
    let (_, body) = c.call(P1, "2.1", "GET", "/images?limit=0", None).await;
    assert_eq!(body["images"].as_array().unwrap().len(), 3);
    assert!(body.get("images_links").is_none());

    for bad in [
        "limit=-1",
        "limit=x",
        "minRam=lots",
        "changes-since=yesterday",
        "status=sleeping",
        "marker=5f1d7a62-95d2-4b0c-9a4e-2a6c1d0e0009",
    ] {
        let (s, body) = c
            .call(P1, "2.1", "GET", &format!("/images?{bad}"), None)
            .await;
        assert_eq!(s, 400, "{bad}: {body}");
    }
    // Another project's filters see none of P1's private images.
    let (_, body) = c
        .call(P2, "2.1", "GET", "/images?type=snapshot", None)
        .await;
    assert_eq!(body["images"], json!([]));
}
