//! `/extensions`: nova's fixed list, at every microversion.

use super::P1;
use super::volumes::keys;
use crate::support::cloud;

#[tokio::test]
async fn extensions_are_novas_list_at_every_version() {
    let c = cloud().await;
    for version in ["2.1", "2.96"] {
        let (s, body) = c.call(P1, version, "GET", "/extensions", None).await;
        assert_eq!(s, 200);
        let all = body["extensions"].as_array().unwrap();
        assert_eq!(all.len(), 99);
        assert!(all.iter().any(|e| e["name"] == "Hosts"));
        for e in all {
            assert_eq!(
                keys(e),
                [
                    "alias",
                    "description",
                    "links",
                    "name",
                    "namespace",
                    "updated"
                ]
            );
        }
    }
    let (s, body) = c
        .call(P1, "2.1", "GET", "/extensions/os-consoles", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(body["extension"]["alias"], "os-consoles");
    assert_eq!(body["extension"]["name"], "Consoles");
    assert_eq!(body["extension"]["updated"], "2014-12-03T00:00:00Z");
    let (s, _) = c
        .call(P1, "2.1", "GET", "/extensions/os-nothing", None)
        .await;
    assert_eq!(s, 404);
}
