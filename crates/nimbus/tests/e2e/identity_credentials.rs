//! Application and EC2 credentials through the real binary and the
//! unmodified `openstack` CLI: create, list, show, delete, and logging in
//! with `auth_type: v3applicationcredential` (clouds.yaml and flags).

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, Cloud, User, failed, ok};

/// The CLI with a clean `OS_*` environment and `HOME` in the data dir, as
/// `support` runs it, but with the caller's own auth settings.
fn openstack(cloud: &Cloud) -> Command {
    let bin = std::env::var("NIMBUS_TEST_OPENSTACK").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/openstack").to_string()
    });
    assert!(
        Path::new(&bin).exists(),
        "the openstack CLI is missing at {bin}"
    );
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars() {
        if key.starts_with("OS_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", cloud.data_dir());
    cmd
}

/// Runs the CLI as the application credential in a clouds.yaml of its own.
fn as_app_cred(cloud: &Cloud, id: &str, secret: &str, args: &[&str]) -> Output {
    let yaml = cloud.data_dir().join("appcred-clouds.yaml");
    std::fs::write(
        &yaml,
        format!(
            "clouds:\n  appcred:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: {}\n      application_credential_id: \"{id}\"\n      application_credential_secret: \"{secret}\"\n    region_name: RegionOne\n    identity_api_version: 3\n",
            cloud.url("/identity")
        ),
    )
    .unwrap();
    openstack(cloud)
        .env("OS_CLIENT_CONFIG_FILE", yaml)
        .args(["--os-cloud", "appcred"])
        .args(args)
        .output()
        .expect("run openstack")
}

fn json_of(out: Output, args: &[&str]) -> Value {
    let text = ok(out, args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: bad JSON ({e}): {text}"))
}

fn app_credentials_with_the_cli(backend: Backend) {
    let Some(cloud) = Cloud::start(backend) else {
        return;
    };
    let project = cloud.openstack_json(&["project", "create", "proj-a"]);
    cloud.openstack_json(&["user", "create", "--password", "alice-pw", "alice"]);
    cloud.openstack_ok(&[
        "role",
        "add",
        "--project",
        "proj-a",
        "--user",
        "alice",
        "member",
    ]);
    let alice = User::new("alice", "alice-pw", "proj-a");

    let created = cloud.openstack_json_as(
        &alice,
        &[
            "application",
            "credential",
            "create",
            "--description",
            "ci runner",
            "ci",
        ],
    );
    let id = created["ID"].as_str().unwrap().to_string();
    let secret = created["Secret"].as_str().unwrap().to_string();
    assert_eq!(created["Project ID"], project["id"]);
    let shown = cloud.openstack_json_as(&alice, &["application", "credential", "show", "ci"]);
    assert_eq!(shown["ID"], id.as_str());
    assert_eq!(shown["Description"], "ci runner");
    assert!(shown.get("Secret").is_none_or(Value::is_null), "{shown}");
    let listed = cloud.openstack_json_as(&alice, &["application", "credential", "list"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ci"]);

    // Logging in with it: scoped to proj-a, usable on other services.
    let args = ["token", "issue", "-f", "json"];
    let token = json_of(as_app_cred(&cloud, &id, &secret, &args), &args);
    assert_eq!(token["project_id"], project["id"]);
    let args = ["server", "list", "-f", "json"];
    assert_eq!(
        json_of(as_app_cred(&cloud, &id, &secret, &args), &args),
        Value::Array(vec![])
    );
    // By name and user, with flags instead of clouds.yaml.
    let flags = openstack(&cloud)
        .env("OS_CLIENT_CONFIG_FILE", cloud.data_dir().join("none.yaml"))
        .args([
            "--os-auth-type",
            "v3applicationcredential",
            "--os-auth-url",
            &cloud.url("/identity"),
            "--os-identity-api-version",
            "3",
            "--os-application-credential-name",
            "ci",
            "--os-application-credential-secret",
            &secret,
            "--os-username",
            "alice",
            "--os-user-domain-name",
            "Default",
            "token",
            "issue",
            "-f",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        json_of(flags, &["token issue by name"])["project_id"],
        project["id"]
    );

    // Restricted: its tokens cannot make more credentials.
    let args = ["application", "credential", "create", "sneaky"];
    failed(as_app_cred(&cloud, &id, &secret, &args), &args);
    // A wrong secret does not log in.
    let args = ["token", "issue"];
    failed(as_app_cred(&cloud, &id, "not-the-secret", &args), &args);

    // Deleted: it no longer logs in.
    ok(
        cloud.openstack_as(&alice, &["application", "credential", "delete", "ci"]),
        &["application credential delete"],
    );
    failed(as_app_cred(&cloud, &id, &secret, &args), &args);
    let listed = cloud.openstack_json_as(&alice, &["application", "credential", "list"]);
    assert_eq!(listed, Value::Array(vec![]));
}
on_both_backends!(app_credentials_with_the_cli);

fn ec2_credentials_with_the_cli(backend: Backend) {
    let Some(cloud) = Cloud::start(backend) else {
        return;
    };
    let project = cloud.openstack_json(&["project", "create", "proj-a"]);
    let user = cloud.openstack_json(&["user", "create", "--password", "alice-pw", "alice"]);
    cloud.openstack_ok(&[
        "role",
        "add",
        "--project",
        "proj-a",
        "--user",
        "alice",
        "member",
    ]);
    let alice = User::new("alice", "alice-pw", "proj-a");

    let created = cloud.openstack_json_as(&alice, &["ec2", "credentials", "create"]);
    let access = created["access"].as_str().unwrap().to_string();
    assert_eq!(created["secret"].as_str().unwrap().len(), 32);
    assert_eq!(created["project_id"], project["id"]);
    assert_eq!(created["user_id"], user["id"]);
    let listed = cloud.openstack_json_as(&alice, &["ec2", "credentials", "list"]);
    let accesses: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Access"].as_str().unwrap())
        .collect();
    assert_eq!(accesses, [access.as_str()]);
    let shown = cloud.openstack_json_as(&alice, &["ec2", "credentials", "show", &access]);
    assert_eq!(shown["secret"], created["secret"]);
    // The admin sees them with --user; nobody else does.
    let by_admin = cloud.openstack_json(&["ec2", "credentials", "list", "--user", "alice"]);
    assert_eq!(by_admin.as_array().unwrap().len(), 1);
    ok(
        cloud.openstack_as(&alice, &["ec2", "credentials", "delete", &access]),
        &["ec2 credentials delete"],
    );
    failed(
        cloud.openstack_as(&alice, &["ec2", "credentials", "show", &access]),
        &["ec2 credentials show after delete"],
    );
}
on_both_backends!(ec2_credentials_with_the_cli);
