//! Identity through the real binary: the `openstack` CLI logs in, lists the
//! catalog and manages projects, users and roles; tenancy and admin checks;
//! hostile input; restarts. Every test runs on SQLite and on PostgreSQL.

use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::{Backend, Cloud, User, failed, ok};

fn start(backend: Backend) -> Option<Cloud> {
    Cloud::start(backend)
}

/// Admin manages projects, users and roles with the CLI; a member of
/// project A can log in but cannot see B (404) nor call admin APIs (403).
fn cli_identity_lifecycle(backend: Backend) {
    let Some(cloud) = start(backend) else { return };

    // The unmodified CLI works from clouds.yaml alone.
    let token = cloud.openstack_json(&["token", "issue"]);
    assert!(
        token["id"].as_str().unwrap().starts_with("gAAAAA"),
        "{token}"
    );
    let types: Vec<String> = cloud
        .openstack_json(&["catalog", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Type"].as_str().unwrap().to_string())
        .collect();
    for t in [
        "identity",
        "image",
        "compute",
        "block-storage",
        "volumev3",
        "network",
    ] {
        assert!(types.contains(&t.to_string()), "{t} missing from {types:?}");
    }

    let a = cloud.openstack_json(&["project", "create", "--description", "first", "proj-a"]);
    let b = cloud.openstack_json(&["project", "create", "proj-b"]);
    assert_eq!(a["name"], "proj-a");
    assert_eq!(a["description"], "first");
    // A second project of the same name is a conflict; --or-show returns it.
    failed(
        cloud.openstack(&["project", "create", "proj-a"]),
        &["project create dup"],
    );
    let again = cloud.openstack_json(&["project", "create", "--or-show", "proj-a"]);
    assert_eq!(again["id"], a["id"]);

    let alice = cloud.openstack_json(&[
        "user",
        "create",
        "--project",
        "proj-a",
        "--password",
        "alice-pw-1",
        "alice",
    ]);
    assert_eq!(alice["default_project_id"], a["id"]);
    cloud.openstack_json(&["user", "create", "--password", "bob-pw", "bob"]);
    cloud.openstack_ok(&[
        "role",
        "add",
        "--project",
        "proj-a",
        "--user",
        "alice",
        "member",
    ]);
    cloud.openstack_ok(&[
        "role",
        "add",
        "--project",
        "proj-b",
        "--user",
        "bob",
        "member",
    ]);

    let assignments = cloud.openstack_json(&["role", "assignment", "list", "--names"]);
    let has = |role: &str, user: &str, project: &str| {
        assignments.as_array().unwrap().iter().any(|r| {
            r["Role"] == role
                && r["User"] == format!("{user}@Default")
                && r["Project"] == format!("{project}@Default")
        })
    };
    assert!(has("member", "alice", "proj-a"), "{assignments}");
    assert!(has("admin", "admin", "admin"), "{assignments}");
    let for_alice = cloud.openstack_json(&[
        "role",
        "assignment",
        "list",
        "--user",
        "alice",
        "--project",
        "proj-a",
        "--names",
    ]);
    assert_eq!(for_alice.as_array().unwrap().len(), 1, "{for_alice}");

    let projects = cloud.openstack_json(&["project", "list"]);
    let names: Vec<&str> = projects
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"proj-a") && names.contains(&"proj-b") && names.contains(&"admin"),
        "{names:?}"
    );
    let users = cloud.openstack_json(&["user", "list"]);
    assert_eq!(users.as_array().unwrap().len(), 3, "{users}");

    // Alice logs in with the CLI, then her password changes.
    let alice_user = User::new("alice", "alice-pw-1", "proj-a");
    let t = cloud.openstack_json_as(&alice_user, &["token", "issue"]);
    assert_eq!(t["project_id"], a["id"]);
    let old_token = cloud.token(&alice_user);
    cloud.openstack_ok(&["user", "set", "--password", "alice-pw-2", "alice"]);
    failed(
        cloud.openstack_as(&alice_user, &["token", "issue"]),
        &["token issue with old password"],
    );
    let alice_user = User::new("alice", "alice-pw-2", "proj-a");
    cloud.openstack_json_as(&alice_user, &["token", "issue"]);
    // Changing the password revoked her old tokens.
    let r = cloud
        .http()
        .get(cloud.url("/identity/v3/auth/projects"))
        .header("x-auth-token", &old_token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    // Tenancy: her own project is visible, B looks missing, admin APIs are 403.
    let token = cloud.token(&alice_user);
    let get = |path: String| {
        cloud
            .http()
            .get(cloud.url(&path))
            .header("x-auth-token", &token)
            .send()
            .unwrap()
    };
    assert_eq!(
        get(format!(
            "/identity/v3/projects/{}",
            a["id"].as_str().unwrap()
        ))
        .status(),
        200
    );
    let r = get(format!(
        "/identity/v3/projects/{}",
        b["id"].as_str().unwrap()
    ));
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().unwrap()["error"]["code"], 404);
    let bob_id = cloud.openstack_json(&["user", "show", "bob"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(get(format!("/identity/v3/users/{bob_id}")).status(), 404);
    assert_eq!(get("/identity/v3/users".into()).status(), 403);
    assert_eq!(get("/identity/v3/projects".into()).status(), 403);
    let r = cloud
        .http()
        .patch(cloud.url(&format!(
            "/identity/v3/projects/{}",
            b["id"].as_str().unwrap()
        )))
        .header("x-auth-token", &token)
        .json(&json!({"project": {"description": "mine now"}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let err = failed(
        cloud.openstack_as(
            &alice_user,
            &["user", "create", "--password", "x", "mallory"],
        ),
        &["user create as member"],
    );
    assert!(
        err.contains("403")
            || err.to_lowercase().contains("forbidden")
            || err.contains("not authorized"),
        "{err}"
    );
    // `project list` is admin-only (403); the CLI then falls back to her own projects.
    for args in [
        &["project", "list"][..],
        &["project", "list", "--my-projects"][..],
    ] {
        let mine = cloud.openstack_json_as(&alice_user, args);
        let names: Vec<&str> = mine
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["proj-a"], "{args:?}");
    }

    // Removing her role revokes her project token; roles and users go away.
    cloud.openstack_ok(&[
        "role",
        "remove",
        "--project",
        "proj-a",
        "--user",
        "alice",
        "member",
    ]);
    assert_eq!(
        get(format!(
            "/identity/v3/projects/{}",
            a["id"].as_str().unwrap()
        ))
        .status(),
        401
    );
    let (status, _, _) = cloud.auth(&alice_user);
    assert_eq!(status, 401, "no role on proj-a any more");
    cloud.openstack_json(&["role", "create", "auditor"]);
    cloud.openstack_ok(&["role", "delete", "auditor"]);
    cloud.openstack_ok(&["user", "delete", "alice"]);
    cloud.openstack_ok(&["project", "delete", "proj-b"]);
    let names = cloud.openstack_ok(&["project", "list", "-f", "value", "-c", "Name"]);
    assert!(
        !names.contains("proj-b") && names.contains("proj-a"),
        "{names}"
    );
    let users = cloud.openstack_ok(&["user", "list", "-f", "value", "-c", "Name"]);
    assert!(!users.contains("alice") && users.contains("bob"), "{users}");
}
on_both_backends!(cli_identity_lifecycle);

fn keystone_error(body: &Value, code: u16) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{body}"
    );
}

/// Malformed input gets clear 4xx errors, never a crash.
fn bad_input_is_refused_cleanly(backend: Backend) {
    let Some(cloud) = Cloud::start_with(backend, &["--token-expiration", "5"]) else {
        return;
    };
    let http = cloud.http();
    let tokens = cloud.url("/identity/v3/auth/tokens");

    // Malformed JSON -> 400 with a message.
    let r = http
        .post(&tokens)
        .header("content-type", "application/json")
        .body("{\"auth\": ")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().contains_key("x-openstack-request-id"));
    keystone_error(&r.json().unwrap(), 400);
    let r = http
        .post(&tokens)
        .json(&json!({"auth": {"identity": "password"}}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    keystone_error(&r.json().unwrap(), 400);

    // Wrong password and unknown user: the same 401.
    let (s1, _, wrong) = cloud.auth(&User::new("admin", "not-the-password", "admin"));
    let (s2, _, unknown) = cloud.auth(&User::new("nobody-here", "not-the-password", "admin"));
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(wrong, unknown, "no user enumeration");
    keystone_error(&wrong, 401);

    // Tampered, revoked and expired tokens -> 401 with WWW-Authenticate.
    let admin = cloud.admin();
    let token = cloud.token(&admin);
    let issued = std::time::Instant::now();
    let check = |t: &str| {
        http.get(cloud.url("/identity/v3/auth/projects"))
            .header("x-auth-token", t)
            .send()
            .unwrap()
    };
    assert_eq!(check(&token).status(), 200);
    let mut tampered = token.clone().into_bytes();
    let i = tampered.len() - 10;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let r = check(std::str::from_utf8(&tampered).unwrap());
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        www,
        format!("Keystone uri=\"{}/identity\"", cloud.base_url())
    );
    assert_eq!(check("").status(), 401);
    assert_eq!(check(&"gAAAAA".repeat(5000)).status(), 401);
    let r = http
        .get(cloud.url("/identity/v3/auth/projects"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    let victim = cloud.token(&admin);
    let r = http
        .delete(&tokens)
        .header("x-auth-token", &token)
        .header("x-subject-token", &victim)
        .send()
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(check(&victim).status(), 401, "revoked");
    assert_eq!(
        check(&token).status(),
        200,
        "only the subject token is revoked"
    );
    let first = token;
    let token = cloud.token(&admin);

    // Oversized body -> 413.
    let big = format!(
        "{{\"auth\": {{\"identity\": \"{}\"}}}}",
        "a".repeat(300_000)
    );
    // Its own client: the server answers 413 before reading the body and
    // closes that connection, which a pooled client would reuse.
    let r = cloud
        .http()
        .post(&tokens)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    keystone_error(&r.json().unwrap(), 413);

    // Unknown routes -> 404 in each service's own shape.
    let body = |path: &str| {
        let r = http
            .get(cloud.url(path))
            .header("x-auth-token", &token)
            .send()
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers().contains_key("x-openstack-request-id"), "{path}");
        r.json::<Value>().unwrap()
    };
    keystone_error(&body("/identity/v3/nothing-here"), 404);
    assert_eq!(body("/compute/v2.1/nothing")["itemNotFound"]["code"], 404);
    assert_eq!(body("/volume/v3/nothing/x")["itemNotFound"]["code"], 404);
    assert_eq!(body("/image/v2/nothing")["code"], "404 Not Found");
    assert!(body("/network/v2.0/nothing")["NeutronError"]["message"].is_string());
    keystone_error(&body("/no-such-service"), 404);

    // Compute answers with nova's own request id header as well, the same id.
    let r = http
        .get(cloud.url("/compute/v2.1/flavors"))
        .header("x-auth-token", &token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("x-compute-request-id"),
        r.headers().get("x-openstack-request-id")
    );
    assert!(r.headers().contains_key("x-compute-request-id"));

    // A batch of malformed requests, then the server is still healthy.
    let garbage: Vec<(&str, &str, Vec<u8>)> = vec![
        ("POST", "/identity/v3/auth/tokens", b"\xff\xfe\x00garbage".to_vec()),
        ("POST", "/identity/v3/auth/tokens", b"[]".to_vec()),
        ("POST", "/identity/v3/auth/tokens", b"null".to_vec()),
        ("POST", "/identity/v3/auth/tokens", br#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"password":"x"}}}}}"#.to_vec()),
        ("POST", "/identity/v3/auth/tokens", br#"{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","domain":{"name":"Default"},"password":"x"}}},"scope":{"project":{}}}}"#.to_vec()),
        ("POST", "/identity/v3/auth/tokens", br#"{"auth":{"identity":{"methods":["token"],"token":{"id":"gAAAAAB"}}}}"#.to_vec()),
        ("POST", "/identity/v3/auth/tokens", br#"{"auth":{"identity":{"methods":[]},"scope":{"system":{"all":true}}}}"#.to_vec()),
        ("POST", "/identity/v3/auth/tokens", "{\"a\":".repeat(10_000).into_bytes()),
        ("POST", "/identity/v3/projects", br#"{"project":{"name":""}}"#.to_vec()),
        ("POST", "/identity/v3/projects", br#"{"project":{"name":"x","enabled":"yes"}}"#.to_vec()),
        ("POST", "/identity/v3/users", br#"{"user":{"name":"\u0000"}}"#.to_vec()),
        ("POST", "/identity/v3/users", br#"{"user":{"name":"u","password":12}}"#.to_vec()),
        ("PATCH", "/identity/v3/users/..%2F..%2Fetc%2Fpasswd", br#"{"user":{}}"#.to_vec()),
        ("PUT", "/identity/v3/projects/x/users/y/roles/z", Vec::new()),
        ("GET", "/identity/v3/role_assignments?effective=maybe", Vec::new()),
        ("GET", "/identity/v3/projects?enabled=perhaps", Vec::new()),
        ("DELETE", "/identity/v3/auth/tokens", Vec::new()),
        ("GET", "/identity/v3/auth/tokens", Vec::new()),
        ("POST", "/compute/v2.1", b"{}".to_vec()),
        ("GET", "/%ff%fe/../../etc/passwd", Vec::new()),
    ];
    for (method, path, payload) in garbage {
        let r = http
            .request(method.parse().unwrap(), cloud.url(path))
            .header("x-auth-token", &token)
            .header("content-type", "application/json")
            .body(payload)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        assert!((400..500).contains(&status), "{method} {path} -> {status}");
        assert!(
            r.headers().contains_key("x-openstack-request-id"),
            "{method} {path}"
        );
    }
    let r = http.get(cloud.url("/healthcheck")).send().unwrap();
    assert_eq!(r.status(), 200);

    // Tokens expire: 5 s after issue the first one is refused.
    if let Some(left) = std::time::Duration::from_millis(5500).checked_sub(issued.elapsed()) {
        std::thread::sleep(left);
    }
    assert_eq!(check(&first).status(), 401, "expired");
    let metrics = http
        .get(cloud.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(metrics.contains("nimbus_http_requests_total{service=\"identity\",route=\"/identity/v3/auth/tokens\",method=\"POST\",status=\"401\"}"), "{metrics}");
    assert!(
        metrics.contains("nimbus_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
}
on_both_backends!(bad_input_is_refused_cleanly);

/// Users, projects and signing keys survive a restart: tokens issued before
/// it still validate, and clouds.yaml still works.
fn restart_keeps_state_and_tokens(backend: Backend) {
    let Some(mut cloud) = start(backend) else {
        return;
    };
    let project = cloud.openstack_json(&["project", "create", "kept"]);
    let admin = cloud.admin();
    let token = cloud.token(&admin);
    let keys_before = std::fs::read_dir(cloud.data_dir().join("fernet-keys"))
        .unwrap()
        .count();
    cloud.restart();
    assert_eq!(
        std::fs::read_dir(cloud.data_dir().join("fernet-keys"))
            .unwrap()
            .count(),
        keys_before
    );
    let r = cloud
        .http()
        .get(cloud.url("/identity/v3/auth/tokens"))
        .header("x-auth-token", &token)
        .header("x-subject-token", &token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body["token"]["project"]["name"], "admin");
    assert!(
        body["token"]["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "admin")
    );
    let shown = cloud.openstack_json(&["project", "show", "kept"]);
    assert_eq!(shown["id"], project["id"]);
    // The admin account was made once; the restart did not bootstrap it again.
    assert!(
        !cloud.log().contains("admin password taken from"),
        "{}",
        cloud.log()
    );
}
on_both_backends!(restart_keeps_state_and_tokens);

/// Version discovery documents, as keystoneauth and openstacksdk read them.
#[test]
fn version_discovery_documents() {
    let cloud = Cloud::start(Backend::Sqlite).unwrap();
    let http = cloud.http();
    let base = cloud.base_url();
    let get = |path: &str| {
        let r = http.get(cloud.url(path)).send().unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let (s, v) = get("/identity");
    assert_eq!(s, 300);
    assert_eq!(v["versions"]["values"][0]["id"], "v3.14");
    assert_eq!(
        v["versions"]["values"][0]["links"][0]["href"],
        format!("{base}/identity/v3/")
    );
    let (s, v) = get("/identity/v3/");
    assert_eq!(s, 200);
    assert_eq!(v["version"]["status"], "stable");
    let (s, v) = get("/image");
    assert_eq!(s, 300);
    assert_eq!(
        v["versions"][0]["links"][0]["href"],
        format!("{base}/image/v2/")
    );
    assert_eq!(get("/image/versions").0, 200);
    let (s, v) = get("/compute");
    assert_eq!(s, 200);
    // nova lists its legacy v2.0 first (Tempest's test_versions checks).
    assert_eq!(v["versions"][0]["id"], "v2.0");
    assert_eq!(v["versions"][1]["id"], "v2.1");
    let (s, v) = get("/compute/v2/");
    assert_eq!(s, 200);
    assert_eq!(
        v["version"]["links"][0]["href"],
        format!("{base}/compute/v2/")
    );
    let (s, v) = get("/compute/v2.1");
    assert_eq!(s, 200);
    assert_eq!(v["version"]["min_version"], "2.1");
    let (s, v) = get("/volume");
    assert_eq!(s, 300);
    assert_eq!(v["versions"][0]["id"], "v3.0");
    assert_eq!(get("/volume/v3/").0, 200);
    let (s, v) = get("/network");
    assert_eq!(s, 200);
    assert_eq!(
        v["versions"][0]["links"][0]["href"],
        format!("{base}/network/v2.0/")
    );
    let r = http.get(cloud.url("/network/v2.0")).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let token = cloud.token(&cloud.admin());
    let r = http
        .get(cloud.url("/network/v2.0"))
        .header("x-auth-token", &token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    // The token's catalog substitutes the project id into the volume URL.
    let (_, _, body) = cloud.auth(&cloud.admin());
    let project_id = body["token"]["project"]["id"].as_str().unwrap();
    let volume = body["token"]["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "block-storage")
        .unwrap();
    assert_eq!(
        volume["endpoints"][0]["url"],
        format!("{base}/volume/v3/{project_id}")
    );
    assert_eq!(volume["endpoints"].as_array().unwrap().len(), 3);
    // clouds.yaml is private.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(cloud.clouds_yaml())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "clouds.yaml must not be readable by others"
    );
    let _ = ok;
}
