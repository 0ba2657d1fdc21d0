//! Application credentials: the CRUD API, authenticating with one, and
//! everything that takes its rights away.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Cloud, role_names};

fn by_id(id: &str, secret: &str) -> Value {
    json!({"identity": {"methods": ["application_credential"],
        "application_credential": {"id": id, "secret": secret}}})
}

#[tokio::test]
async fn create_show_list_authenticate_delete() {
    let cloud = Cloud::start().await;
    let alice = cloud.user_with_roles("alice", "proj-a", &["member"]).await;
    let token = alice.token(&cloud).await;
    let base = format!("/users/{}/application_credentials", alice.id);

    let created = cloud
        .call(
            "POST",
            &base,
            Some(&token),
            Some(json!({"application_credential": {
            "name": "ci", "description": "for CI"}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let cred = &created.body["application_credential"];
    let id = cred["id"].as_str().unwrap();
    let secret = cred["secret"].as_str().unwrap();
    assert!(secret.len() >= 64, "{secret}");
    assert_eq!(cred["project_id"], alice.project_id.as_str());
    assert_eq!(cred["unrestricted"], false);
    assert_eq!(cred["expires_at"], Value::Null);
    // Default: every role of the token (member and the reader it implies).
    assert_eq!(role_names(&cred["roles"]), ["member", "reader"]);

    let shown = cloud
        .call("GET", &format!("{base}/{id}"), Some(&token), None)
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.body["application_credential"].get("secret").is_none());
    assert_eq!(
        shown.body["application_credential"]["description"],
        "for CI"
    );

    cloud
        .call(
            "POST",
            &base,
            Some(&token),
            Some(json!({"application_credential": {"name": "other"}})),
        )
        .await;
    let all = cloud.call("GET", &base, Some(&token), None).await;
    assert_eq!(
        all.body["application_credentials"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let named = cloud
        .call("GET", &format!("{base}?name=ci"), Some(&token), None)
        .await;
    let named = named.body["application_credentials"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0]["id"], id);
    let dup = cloud
        .call(
            "POST",
            &base,
            Some(&token),
            Some(json!({"application_credential": {"name": "ci"}})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);

    // By id, and by name with the user: scoped to the project, restricted.
    let issued = cloud.auth(by_id(id, secret)).await;
    assert_eq!(issued.status, StatusCode::CREATED, "{}", issued.body);
    let body = &issued.body["token"];
    assert_eq!(body["project"]["id"], alice.project_id.as_str());
    assert_eq!(body["methods"], json!(["application_credential"]));
    assert_eq!(body["application_credential"]["id"], id);
    assert_eq!(body["application_credential"]["restricted"], true);
    assert_eq!(role_names(&body["roles"]), ["member", "reader"]);
    let cred_token = issued.subject.unwrap();
    let by_name = cloud
        .auth(json!({"identity": {"methods": ["application_credential"],
            "application_credential": {"name": "ci", "secret": secret,
                "user": {"name": "alice", "domain": {"name": "Default"}}}}}))
        .await;
    assert_eq!(by_name.status, StatusCode::CREATED, "{}", by_name.body);

    // The token works on other APIs but cannot make more credentials.
    let listed = cloud.call("GET", &base, Some(&cred_token), None).await;
    assert_eq!(listed.status, StatusCode::OK);
    let more = cloud
        .call(
            "POST",
            &base,
            Some(&cred_token),
            Some(json!({"application_credential": {"name": "x"}})),
        )
        .await;
    assert_eq!(more.status, StatusCode::FORBIDDEN);
    let del = cloud
        .call("DELETE", &format!("{base}/{id}"), Some(&cred_token), None)
        .await;
    assert_eq!(del.status, StatusCode::FORBIDDEN);

    // Wrong secret, unknown id, a scope of its own: the same 401.
    assert_eq!(
        cloud.auth(by_id(id, "wrong")).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        cloud.auth(by_id("nope", secret)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let mut scoped = by_id(id, secret);
    scoped["scope"] = json!({"project": {"id": alice.project_id}});
    assert_eq!(cloud.auth(scoped).await.status, StatusCode::UNAUTHORIZED);

    // Deleting it ends its tokens and its logins.
    let gone = cloud
        .call("DELETE", &format!("{base}/{id}"), Some(&token), None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    let after = cloud.call("GET", &base, Some(&cred_token), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        cloud.auth(by_id(id, secret)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = cloud
        .call("GET", &format!("{base}/{id}"), Some(&token), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn roles_secret_expiry_and_unrestricted() {
    let cloud = Cloud::start().await;
    let alice = cloud.user_with_roles("alice", "proj-a", &["member"]).await;
    let token = alice.token(&cloud).await;
    let base = format!("/users/{}/application_credentials", alice.id);
    let create = |body: Value| {
        let (cloud, base, token) = (&cloud, &base, &token);
        async move {
            cloud
                .call(
                    "POST",
                    base,
                    Some(token),
                    Some(json!({"application_credential": body})),
                )
                .await
        }
    };

    let reader =
        create(json!({"name": "ro", "secret": "my-own-secret", "roles": [{"name": "reader"}]}))
            .await;
    assert_eq!(reader.status, StatusCode::CREATED, "{}", reader.body);
    assert_eq!(
        reader.body["application_credential"]["secret"],
        "my-own-secret"
    );
    let id = reader.body["application_credential"]["id"]
        .as_str()
        .unwrap();
    let issued = cloud.auth(by_id(id, "my-own-secret")).await;
    assert_eq!(role_names(&issued.body["token"]["roles"]), ["reader"]);

    // A role the token lacks, access rules, bad or past expiry: 400.
    for bad in [
        json!({"name": "a", "roles": [{"name": "admin"}]}),
        json!({"name": "b", "access_rules": [{"service": "compute", "path": "/servers", "method": "GET"}]}),
        json!({"name": "c", "expires_at": "2001-01-01T00:00:00"}),
        json!({"name": "d", "expires_at": "soon"}),
        json!({"name": ""}),
        json!({"name": "e", "secret": ""}),
        json!({"name": "f", "bogus": 1}),
    ] {
        let r = create(bad.clone()).await;
        assert!(
            r.status.is_client_error() && r.status != StatusCode::NOT_FOUND,
            "{bad}: {} {}",
            r.status,
            r.body
        );
    }
    let unknown_role = create(json!({"name": "g", "roles": [{"id": "nope"}]})).await;
    assert_eq!(unknown_role.status, StatusCode::NOT_FOUND);

    // expires_at comes back as sent (microseconds, no zone) and caps the token.
    let when = (chrono::Utc::now() + chrono::Duration::minutes(30)).naive_utc();
    let sent = when.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    let expiring = create(json!({"name": "soon", "expires_at": sent, "unrestricted": true})).await;
    assert_eq!(expiring.status, StatusCode::CREATED, "{}", expiring.body);
    let cred = &expiring.body["application_credential"];
    assert_eq!(cred["expires_at"], sent.as_str());
    let issued = cloud
        .auth(by_id(
            cred["id"].as_str().unwrap(),
            cred["secret"].as_str().unwrap(),
        ))
        .await;
    let expires = issued.body["token"]["expires_at"].as_str().unwrap();
    assert_eq!(
        &expires[..19],
        &sent[..19],
        "token expiry {expires} vs {sent}"
    );
    assert_eq!(
        issued.body["token"]["application_credential"]["restricted"],
        false
    );
    // Unrestricted: its token may create another credential.
    let unrestricted_token = issued.subject.unwrap();
    let child = cloud
        .call(
            "POST",
            &base,
            Some(&unrestricted_token),
            Some(json!({"application_credential": {"name": "child"}})),
        )
        .await;
    assert_eq!(child.status, StatusCode::CREATED, "{}", child.body);
}

#[tokio::test]
async fn an_expired_credential_cannot_log_in() {
    let cloud = Cloud::start().await;
    let alice = cloud.user_with_roles("alice", "proj-a", &["member"]).await;
    let token = alice.token(&cloud).await;
    let base = format!("/users/{}/application_credentials", alice.id);
    let when = (chrono::Utc::now() + chrono::Duration::seconds(2)).naive_utc();
    let created = cloud
        .call(
            "POST",
            &base,
            Some(&token),
            Some(json!({"application_credential": {
            "name": "brief", "secret": "s3cret",
            "expires_at": when.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()}})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["application_credential"]["id"]
        .as_str()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(
        cloud.auth(by_id(id, "s3cret")).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn losing_the_role_or_the_user_ends_the_credential() {
    let cloud = Cloud::start().await;
    let alice = cloud.user_with_roles("alice", "proj-a", &["member"]).await;
    let token = alice.token(&cloud).await;
    let base = format!("/users/{}/application_credentials", alice.id);
    let created = cloud
        .call(
            "POST",
            &base,
            Some(&token),
            Some(json!({"application_credential": {"name": "c", "secret": "s"}})),
        )
        .await;
    let id = created.body["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let issued = cloud.auth(by_id(&id, "s")).await;
    assert_eq!(issued.status, StatusCode::CREATED);
    let cred_token = issued.subject.unwrap();

    let admin = cloud.admin_token().await;
    cloud
        .grant(&admin, &alice.project_id, &alice.id, "member", "DELETE")
        .await;
    let after = cloud.call("GET", &base, Some(&cred_token), None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        cloud.auth(by_id(&id, "s")).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Granted again, it works again.
    cloud
        .grant(&admin, &alice.project_id, &alice.id, "member", "PUT")
        .await;
    assert_eq!(
        cloud.auth(by_id(&id, "s")).await.status,
        StatusCode::CREATED
    );

    // Disabling the user deletes its credentials (re-enabling does not restore them).
    let token = alice.token(&cloud).await;
    let second = cloud
        .call(
            "POST",
            &base,
            Some(&token),
            Some(json!({"application_credential": {"name": "d", "secret": "s"}})),
        )
        .await;
    let second = second.body["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for enabled in [false, true] {
        let r = cloud
            .call(
                "PATCH",
                &format!("/users/{}", alice.id),
                Some(&admin),
                Some(json!({"user": {"enabled": enabled}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    assert_eq!(
        cloud.auth(by_id(&second, "s")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let list = cloud.call("GET", &base, Some(&admin), None).await;
    assert_eq!(list.body["application_credentials"], json!([]));

    // Deleting the user removes everything for good.
    let token = alice.token(&cloud).await;
    let third = cloud
        .call(
            "POST",
            &base,
            Some(&token),
            Some(json!({"application_credential": {"name": "e", "secret": "s"}})),
        )
        .await;
    let id = third.body["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        cloud.auth(by_id(&id, "s")).await.status,
        StatusCode::CREATED
    );
    let deleted = cloud
        .call(
            "DELETE",
            &format!("/users/{}", alice.id),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        cloud.auth(by_id(&id, "s")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let list = cloud.call("GET", &base, Some(&admin), None).await;
    assert_eq!(list.body["application_credentials"], json!([]));
}

#[tokio::test]
async fn other_users_cannot_see_or_touch_them() {
    let cloud = Cloud::start().await;
    let alice = cloud.user_with_roles("alice", "proj-a", &["member"]).await;
    let bob = cloud.user_with_roles("bob", "proj-a", &["member"]).await;
    let alice_token = alice.token(&cloud).await;
    let bob_token = bob.token(&cloud).await;
    let base = format!("/users/{}/application_credentials", alice.id);
    let created = cloud
        .call(
            "POST",
            &base,
            Some(&alice_token),
            Some(json!({"application_credential": {"name": "c"}})),
        )
        .await;
    let id = created.body["application_credential"]["id"]
        .as_str()
        .unwrap();

    assert_eq!(
        cloud
            .call("GET", &base, Some(&bob_token), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let made = cloud
        .call(
            "POST",
            &base,
            Some(&bob_token),
            Some(json!({"application_credential": {"name": "evil"}})),
        )
        .await;
    assert_eq!(made.status, StatusCode::FORBIDDEN);
    for method in ["GET", "DELETE"] {
        let r = cloud
            .call(method, &format!("{base}/{id}"), Some(&bob_token), None)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method}");
    }
    // Bob's own path does not reach Alice's credential either.
    let via_bob = cloud
        .call(
            "GET",
            &format!("/users/{}/application_credentials/{id}", bob.id),
            Some(&bob_token),
            None,
        )
        .await;
    assert_eq!(via_bob.status, StatusCode::NOT_FOUND);
    // An admin may look.
    let admin = cloud.admin_token().await;
    assert_eq!(
        cloud
            .call("GET", &format!("{base}/{id}"), Some(&admin), None)
            .await
            .status,
        StatusCode::OK
    );
    // No token at all: 401.
    assert_eq!(
        cloud.call("GET", &base, None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_rescoped_token_keeps_the_credential_and_its_limits() {
    let cloud = Cloud::start().await;
    let alice = cloud.user_with_roles("alice", "proj-a", &["member"]).await;
    let token = alice.token(&cloud).await;
    let base = format!("/users/{}/application_credentials", alice.id);
    let created = cloud
        .call(
            "POST",
            &base,
            Some(&token),
            Some(json!({"application_credential": {
            "name": "c", "secret": "s", "roles": [{"name": "reader"}]}})),
        )
        .await;
    let id = created.body["application_credential"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cred_token = cloud.auth(by_id(&id, "s")).await.subject.unwrap();
    let rescope = |scope: Option<serde_json::Value>| {
        let mut auth = json!({"identity": {"methods": ["token"], "token": {"id": cred_token}}});
        if let Some(scope) = scope {
            auth["scope"] = scope;
        }
        cloud.auth(auth)
    };
    let again = rescope(None).await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    let body = &again.body["token"];
    assert_eq!(body["project"]["id"], alice.project_id.as_str());
    assert_eq!(role_names(&body["roles"]), ["reader"]);
    assert_eq!(body["application_credential"]["id"], id.as_str());
    // Not into another project, and not once the credential is gone.
    let admin = cloud.admin_token().await;
    let other = cloud
        .call("GET", "/projects?name=admin", Some(&admin), None)
        .await;
    let other = other.body["projects"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let elsewhere = rescope(Some(json!({"project": {"id": other}}))).await;
    assert_eq!(elsewhere.status, StatusCode::UNAUTHORIZED);
    let deleted = cloud
        .call("DELETE", &format!("{base}/{id}"), Some(&token), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(rescope(None).await.status, StatusCode::UNAUTHORIZED);
}
