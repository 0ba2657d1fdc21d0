//! EC2 credentials: create, list, show, delete; owners only; delegated
//! tokens stay on their project.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::Cloud;

#[tokio::test]
async fn create_list_show_delete() {
    let cloud = Cloud::start().await;
    let alice = cloud.user_with_roles("alice", "proj-a", &["member"]).await;
    let token = alice.token(&cloud).await;
    let base = format!("/users/{}/credentials/OS-EC2", alice.id);

    let created = cloud
        .call(
            "POST",
            &base,
            Some(&token),
            Some(json!({"tenant_id": alice.project_id})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let cred = created.body["credential"].clone();
    let access = cred["access"].as_str().unwrap();
    assert_eq!(access.len(), 32);
    assert_eq!(cred["secret"].as_str().unwrap().len(), 32);
    assert_eq!(cred["user_id"], alice.id.as_str());
    assert_eq!(cred["tenant_id"], alice.project_id.as_str());

    let second = cloud
        .call(
            "POST",
            &base,
            Some(&token),
            Some(json!({"tenant_id": alice.project_id})),
        )
        .await;
    let list = cloud.call("GET", &base, Some(&token), None).await;
    let accesses: Vec<&str> = list.body["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["access"].as_str().unwrap())
        .collect();
    assert_eq!(
        accesses,
        [
            access,
            second.body["credential"]["access"].as_str().unwrap()
        ]
    );

    let shown = cloud
        .call("GET", &format!("{base}/{access}"), Some(&token), None)
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    for key in ["access", "secret", "user_id", "tenant_id"] {
        assert_eq!(shown.body["credential"][key], cred[key], "{key}");
    }
    let deleted = cloud
        .call("DELETE", &format!("{base}/{access}"), Some(&token), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = cloud
        .call("GET", &format!("{base}/{access}"), Some(&token), None)
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let twice = cloud
        .call("DELETE", &format!("{base}/{access}"), Some(&token), None)
        .await;
    assert_eq!(twice.status, StatusCode::NOT_FOUND);

    // A project that does not exist, or no tenant_id at all.
    let nowhere = cloud
        .call(
            "POST",
            &base,
            Some(&token),
            Some(json!({"tenant_id": "nope"})),
        )
        .await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    let empty = cloud
        .call("POST", &base, Some(&token), Some(json!({})))
        .await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn owners_only_and_delegated_tokens_stay_on_their_project() {
    let cloud = Cloud::start().await;
    let alice = cloud.user_with_roles("alice", "proj-a", &["member"]).await;
    let bob = cloud.user_with_roles("bob", "proj-b", &["member"]).await;
    let alice_token = alice.token(&cloud).await;
    let bob_token = bob.token(&cloud).await;
    let base = format!("/users/{}/credentials/OS-EC2", alice.id);
    let created = cloud
        .call(
            "POST",
            &base,
            Some(&alice_token),
            Some(json!({"tenant_id": alice.project_id})),
        )
        .await;
    let access = created.body["credential"]["access"].as_str().unwrap();

    for (method, path) in [
        ("GET", base.clone()),
        ("GET", format!("{base}/{access}")),
        ("DELETE", format!("{base}/{access}")),
    ] {
        let r = cloud.call(method, &path, Some(&bob_token), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    let for_alice = cloud
        .call(
            "POST",
            &base,
            Some(&bob_token),
            Some(json!({"tenant_id": bob.project_id})),
        )
        .await;
    assert_eq!(for_alice.status, StatusCode::NOT_FOUND);
    let admin = cloud.admin_token().await;
    let seen = cloud
        .call("GET", &format!("{base}/{access}"), Some(&admin), None)
        .await;
    assert_eq!(seen.status, StatusCode::OK);

    // A restricted application credential token may not create EC2 keys.
    let app = cloud
        .call(
            "POST",
            &format!("/users/{}/application_credentials", alice.id),
            Some(&alice_token),
            Some(json!({"application_credential": {"name": "c", "secret": "s", "unrestricted": true}})),
        )
        .await;
    let restricted = cloud
        .call(
            "POST",
            &format!("/users/{}/application_credentials", alice.id),
            Some(&alice_token),
            Some(json!({"application_credential": {"name": "r", "secret": "s"}})),
        )
        .await;
    let login = |id: String| {
        let cloud = &cloud;
        async move {
            cloud
                .auth(json!({"identity": {"methods": ["application_credential"],
                    "application_credential": {"id": id, "secret": "s"}}}))
                .await
                .subject
                .unwrap()
        }
    };
    let restricted_token = login(
        restricted.body["application_credential"]["id"]
            .as_str()
            .unwrap()
            .into(),
    )
    .await;
    let refused = cloud
        .call(
            "POST",
            &base,
            Some(&restricted_token),
            Some(json!({"tenant_id": alice.project_id})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // An unrestricted one may, on its own project only.
    let unrestricted_token = login(
        app.body["application_credential"]["id"]
            .as_str()
            .unwrap()
            .into(),
    )
    .await;
    let ok = cloud
        .call(
            "POST",
            &base,
            Some(&unrestricted_token),
            Some(json!({"tenant_id": alice.project_id})),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    let admin_project = cloud
        .call("GET", "/projects?name=admin", Some(&admin), None)
        .await;
    let other = admin_project.body["projects"][0]["id"].as_str().unwrap();
    let elsewhere = cloud
        .call(
            "POST",
            &base,
            Some(&unrestricted_token),
            Some(json!({"tenant_id": other})),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
}
