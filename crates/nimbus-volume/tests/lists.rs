//! List details Tempest checks: `volumes_links`/`snapshots_links` paging,
//! the `metadata` filter in Python's dict syntax, empty ids.

use serde_json::{Value, json};

use crate::support::{Harness, harness_on};

/// The query of a `next` link, ready to request (`/volumes?...`).
fn next_of(body: &Value, key: &str) -> Option<String> {
    let href = body[key][0]["href"].as_str()?;
    assert_eq!(body[key][0]["rel"], "next");
    let path = href.strip_prefix("http://cloud:1/volume/v3/p1")?;
    Some(path.to_string())
}

/// Follows `next` links from `first` and returns every id seen, asserting
/// the pages are full until the last, which is empty (Cinder links every
/// full page, so a list that divides by the limit ends with an empty one).
async fn walk(h: &Harness, first: &str, collection: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut url = first.to_string();
    for _ in 0..20 {
        let r = h.call("GET", &url, "p1", None).await;
        assert_eq!(r.status, 200, "{url}: {:?}", r.body);
        let body = r.json();
        let page = body[collection].as_array().unwrap();
        ids.extend(page.iter().map(|v| v["id"].as_str().unwrap().to_string()));
        match next_of(&body, &format!("{collection}_links")) {
            Some(next) => {
                assert_eq!(page.len(), limit, "a full page has a next link");
                url = next;
            }
            None => {
                assert!(page.len() < limit, "a short page ends the list");
                return ids;
            }
        }
    }
    panic!("the links never end");
}

async fn paging_links_and_metadata_filter(pg: bool) {
    let Some(h) = harness_on(pg).await else {
        return;
    };
    let mut ids = Vec::new();
    for i in 0..3 {
        let metadata = if i < 2 {
            json!({"Type": "work"})
        } else {
            json!({"Type": "play"})
        };
        let v = h
            .volume(
                "p1",
                json!({"size": 1, "name": format!("v{i}"), "metadata": metadata}),
            )
            .await;
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    ids.reverse(); // newest first, the default order

    // limit=1: three full pages, then an empty one; each link repeats the
    // query with the marker at the end, as Cinder's _get_next_link.
    for collection in ["/volumes", "/volumes/detail"] {
        assert_eq!(
            walk(&h, &format!("{collection}?limit=1"), "volumes", 1).await,
            ids
        );
    }
    let r = h
        .call("GET", "/volumes/detail?limit=2&sort=name:asc", "p1", None)
        .await;
    let next = next_of(&r.json(), "volumes_links").unwrap();
    let last = r.json()["volumes"][1]["id"].as_str().unwrap().to_string();
    assert_eq!(
        next,
        format!("/volumes/detail?limit=2&sort=name%3Aasc&marker={last}")
    );
    let r = h.call("GET", &next, "p1", None).await;
    assert_eq!(r.json()["volumes"][0]["name"], "v2");
    assert!(r.json().get("volumes_links").is_none());
    // No limit and fewer than the maximum: no link.
    let r = h.call("GET", "/volumes", "p1", None).await;
    assert!(r.json().get("volumes_links").is_none());

    // metadata as Python's str(dict) (what Tempest and cinderclient send)
    // or JSON; anything else matches nothing, as in Cinder.
    for (query, want) in [
        ("{'Type': 'work'}", 2),
        ("{\"Type\": \"play\"}", 1),
        ("{'Type': 'work', 'x': 'y'}", 0),
        ("{}", 3),
        ("Type=work", 0),
        ("{'Type': 1}", 0),
    ] {
        for collection in ["/volumes", "/volumes/detail"] {
            let url = format!("{collection}?metadata={}", encode(query));
            let r = h.call("GET", &url, "p1", None).await;
            assert_eq!(r.status, 200, "{url}");
            let found = r.json()["volumes"].as_array().unwrap().len();
            assert_eq!(found, want, "{url}");
        }
    }
    let r = h
        .call(
            "GET",
            &format!("/volumes/summary?metadata={}", encode("{'Type': 'work'}")),
            "p1",
            None,
        )
        .await;
    assert_eq!(r.json()["volume-summary"]["total_count"], 2);
    let r = h
        .call("GET", "/volumes?availability_zone=elsewhere", "p1", None)
        .await;
    assert_eq!(r.json()["volumes"], json!([]));

    // Snapshots: the same links, metadata filter and offset.
    let mut snaps = Vec::new();
    for (i, volume) in ids.iter().enumerate() {
        let r = h
            .call(
                "POST",
                "/snapshots",
                "p1",
                Some(json!({"snapshot": {"volume_id": volume, "name": format!("s{i}"), "metadata": {"n": i.to_string()}}})),
            )
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        snaps.push(r.json()["snapshot"]["id"].as_str().unwrap().to_string());
    }
    for _ in 0..200 {
        let r = h
            .call("GET", "/snapshots?status=available", "p1", None)
            .await;
        if r.json()["snapshots"].as_array().unwrap().len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    snaps.reverse();
    for collection in ["/snapshots", "/snapshots/detail"] {
        assert_eq!(
            walk(&h, &format!("{collection}?limit=1"), "snapshots", 1).await,
            snaps
        );
    }
    for sort in ["sort_key=display_name&sort_dir=asc", "sort=name:asc"] {
        let r = h
            .call("GET", &format!("/snapshots?{sort}"), "p1", None)
            .await;
        assert_eq!(r.status, 200, "{sort}");
        assert_eq!(r.json()["snapshots"][0]["name"], "s0", "{sort}");
        let r = h.call("GET", &format!("/volumes?{sort}"), "p1", None).await;
        assert_eq!(r.json()["volumes"][0]["name"], "v0", "{sort}");
    }
    let r = h
        .call("GET", "/snapshots?offset=1&limit=1", "p1", None)
        .await;
    assert_eq!(r.json()["snapshots"][0]["id"], snaps[1].as_str());
    let url = format!("/snapshots/detail?metadata={}", encode("{'n': '1'}"));
    let r = h.call("GET", &url, "p1", None).await;
    let found = r.json()["snapshots"].as_array().unwrap().clone();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["name"], "s1");
    let r = h
        .call("GET", "/snapshots?with_count=true", "p1", None)
        .await;
    assert_eq!(r.json()["count"], 3);
}
crate::both!(paging_links_and_metadata_filter);

/// Cinder's router has no 405: `PUT`/`DELETE /volumes/` (an empty id,
/// which reaches the router as `/volumes`) are 404.
#[tokio::test]
async fn unknown_methods_are_404() {
    let h = crate::support::harness().await;
    for (method, path) in [
        ("PUT", "/volumes"),
        ("DELETE", "/volumes"),
        ("DELETE", "/snapshots"),
        ("PUT", "/volumes/detail"),
    ] {
        let body = (method == "PUT").then(|| json!({"volume": {"name": "x"}}));
        let r = h.call(method, path, "p1", body).await;
        assert_eq!(r.status, 404, "{method} {path}");
        assert!(r.json()["itemNotFound"].is_object(), "{:?}", r.body);
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
