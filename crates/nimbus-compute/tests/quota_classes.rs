//! `/os-quota-class-sets/{id}`: the `default` class replaces the built-in
//! defaults for every project without limits of its own, admin only, with
//! the keys of each microversion.

use serde_json::json;

use crate::support::cloud;

const ADMIN: (&str, &str) = ("admin", "admin,member,reader");
const P1: (&str, &str) = ("p1", "member,reader");

#[tokio::test]
async fn the_default_class_sets_every_projects_defaults() {
    let c = cloud().await;
    let (status, body) = c
        .call(ADMIN, "2.1", "GET", "/os-quota-class-sets/default", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let set = &body["quota_class_set"];
    assert_eq!(set["id"], "default");
    assert_eq!(set["instances"], 10);
    // Before 2.50 the network quotas are there and the server group ones not.
    assert_eq!(set["floating_ips"], -1);
    assert!(set.get("server_groups").is_none(), "{set}");

    // Members may neither read nor change a class.
    let (status, _) = c
        .call(P1, "2.1", "GET", "/os-quota-class-sets/default", None)
        .await;
    assert_eq!(status, 403);
    let raise = json!({"quota_class_set": {"instances": 40, "cores": "80"}});
    let (status, _) = c
        .call(
            P1,
            "2.1",
            "PUT",
            "/os-quota-class-sets/default",
            Some(raise.clone()),
        )
        .await;
    assert_eq!(status, 403);

    let (status, body) = c
        .call(
            ADMIN,
            "2.50",
            "PUT",
            "/os-quota-class-sets/default",
            Some(raise),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let set = &body["quota_class_set"];
    assert!(set.get("id").is_none(), "{set}");
    assert_eq!(set["instances"], 40);
    assert_eq!(set["cores"], 80);
    assert_eq!(set["server_groups"], 10);
    assert!(set.get("floating_ips").is_none(), "{set}");

    // A project without limits of its own now has the class's, and its
    // defaults say so too; a project's own limit still wins.
    let (_, shown) = c.call(P1, "2.1", "GET", "/os-quota-sets/p1", None).await;
    assert_eq!(shown["quota_set"]["instances"], 40, "{shown}");
    let (_, defaults) = c
        .call(P1, "2.1", "GET", "/os-quota-sets/p1/defaults", None)
        .await;
    assert_eq!(defaults["quota_set"], shown["quota_set"]);
    let (status, _) = c
        .call(
            ADMIN,
            "2.1",
            "PUT",
            "/os-quota-sets/p1",
            Some(json!({"quota_set": {"instances": 3}})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, shown) = c.call(P1, "2.1", "GET", "/os-quota-sets/p1", None).await;
    assert_eq!(shown["quota_set"]["instances"], 3);
    assert_eq!(shown["quota_set"]["cores"], 80);
    let (_, limits) = c.call(P1, "2.1", "GET", "/limits", None).await;
    assert_eq!(
        limits["limits"]["absolute"]["maxTotalCores"], 80,
        "{limits}"
    );
}

#[tokio::test]
async fn class_updates_are_checked_like_quota_sets() {
    let c = cloud().await;
    for (version, body) in [
        ("2.1", json!({"quota_class_set": {"instances": -2}})),
        ("2.1", json!({"quota_class_set": {"instances": "many"}})),
        ("2.1", json!({"quota_class_set": {"volumes": 3}})),
        // Gone from the class API at 2.50, and the file quotas at 2.57.
        ("2.50", json!({"quota_class_set": {"floating_ips": 3}})),
        ("2.57", json!({"quota_class_set": {"injected_files": 3}})),
        ("2.1", json!({"quota_set": {"instances": 3}})),
    ] {
        let (status, reply) = c
            .call(
                ADMIN,
                version,
                "PUT",
                "/os-quota-class-sets/default",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body} at {version}: {reply}");
    }
    // Nothing of the refused requests was stored.
    let (_, body) = c
        .call(ADMIN, "2.57", "GET", "/os-quota-class-sets/default", None)
        .await;
    assert_eq!(body["quota_class_set"]["instances"], 10);
    assert!(body["quota_class_set"].get("injected_files").is_none());
}
