//! Server locks, tags and groups end to end with the real `openstack` CLI:
//! a member locks its server with a reason and cannot delete it until it
//! unlocks; tags are set, unset and filtered on; an anti-affinity group on
//! Nimbus's one host takes one server and sends the second to ERROR with
//! nova's NoValidHost fault. One guest boots.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::compute::upload_guest;
use crate::support::{Backend, Cloud, User, failed};

/// A member of project `demo` and a public guest image and flavor.
fn member_setup(cloud: &Cloud) -> User {
    upload_guest(cloud, "guest");
    for image in ["guest", "guest-kernel", "guest-ramdisk"] {
        cloud.openstack_ok(&["image", "set", "--public", image]);
    }
    cloud.openstack_ok(&[
        "flavor", "create", "--ram", "192", "--disk", "1", "--vcpus", "1", "m1.test",
    ]);
    cloud.openstack_ok(&["project", "create", "demo"]);
    cloud.openstack_ok(&[
        "user",
        "create",
        "--project",
        "demo",
        "--password",
        "pw-demo-secret",
        "demo-user",
    ]);
    cloud.openstack_ok(&[
        "role",
        "add",
        "--project",
        "demo",
        "--user",
        "demo-user",
        "member",
    ]);
    User::new("demo-user", "pw-demo-secret", "demo")
}

fn show(cloud: &Cloud, user: &User, server: &str) -> Value {
    cloud.openstack_json_as(user, &["server", "show", server])
}

fn wait_error(cloud: &Cloud, user: &User, server: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = show(cloud, user, server);
        if s["status"] == "ERROR" {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{server} never went to ERROR: {s}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn locks_tags_and_an_anti_affinity_group_through_the_cli() {
    let cloud = Cloud::start(Backend::Sqlite).expect("sqlite cloud");
    let user = member_setup(&cloud);
    let cli = |args: &[&str]| crate::support::ok(cloud.openstack_as(&user, args), args);

    let group = cloud.openstack_json_as(
        &user,
        &[
            "server",
            "group",
            "create",
            "--policy",
            "anti-affinity",
            "spread",
        ],
    );
    let group_id = group["id"].as_str().unwrap().to_string();
    let hint = format!("group={group_id}");
    let one = cloud.openstack_json_as(
        &user,
        &[
            "server", "create", "--image", "guest", "--flavor", "m1.test", "--nic", "none",
            "--hint", &hint, "--wait", "one",
        ],
    );
    assert_eq!(one["status"], "ACTIVE", "{one}");
    let one_id = one["id"].as_str().unwrap().to_string();
    let two = cloud.openstack_json_as(
        &user,
        &[
            "server", "create", "--image", "guest", "--flavor", "m1.test", "--nic", "none",
            "--hint", &hint, "two",
        ],
    );
    let two_id = two["id"].as_str().unwrap().to_string();
    let two = wait_error(&cloud, &user, "two");
    let fault = two["fault"].to_string();
    assert!(
        fault.contains("No valid host was found. There are not enough hosts available."),
        "{two}"
    );
    let shown = cloud.openstack_json_as(&user, &["server", "group", "show", "spread"]);
    let members = shown["members"].to_string();
    assert!(
        members.contains(&one_id) && members.contains(&two_id),
        "{shown}"
    );
    assert_eq!(shown["policy"], "anti-affinity");

    // Lock with a reason: shown, and delete refused for the member.
    cli(&["server", "lock", "--reason", "maintenance", "one"]);
    let s = show(&cloud, &user, "one");
    assert_eq!(s["locked"], true, "{s}");
    assert_eq!(s["locked_reason"], "maintenance", "{s}");
    let err = failed(
        cloud.openstack_as(&user, &["server", "delete", "one"]),
        &["server", "delete", "one"],
    );
    assert!(err.contains("is locked"), "{err}");
    let err = failed(
        cloud.openstack_as(&user, &["server", "stop", "one"]),
        &["server", "stop", "one"],
    );
    assert!(err.contains("is locked"), "{err}");
    let locked = cloud.openstack_json_as(&user, &["server", "list", "--locked"]);
    assert_eq!(locked.as_array().unwrap().len(), 1, "{locked}");
    assert_eq!(locked[0]["ID"], one_id.as_str());
    cli(&["server", "unlock", "one"]);
    let s = show(&cloud, &user, "one");
    assert_eq!(s["locked"], false, "{s}");

    // Tags.
    cli(&["server", "set", "--tag", "web", "--tag", "blue", "one"]);
    let s = show(&cloud, &user, "one");
    let tags = s["tags"].to_string();
    assert!(tags.contains("web") && tags.contains("blue"), "{s}");
    let tagged = cloud.openstack_json_as(&user, &["server", "list", "--tags", "web"]);
    assert_eq!(tagged.as_array().unwrap().len(), 1, "{tagged}");
    assert_eq!(tagged[0]["Name"], "one");
    let untagged = cloud.openstack_json_as(&user, &["server", "list", "--not-tags", "web"]);
    assert_eq!(untagged.as_array().unwrap().len(), 1, "{untagged}");
    assert_eq!(untagged[0]["Name"], "two");
    cli(&["server", "unset", "--tag", "web", "one"]);
    let s = show(&cloud, &user, "one");
    let tags = s["tags"].to_string();
    assert!(!tags.contains("web") && tags.contains("blue"), "{s}");
    let err = failed(
        cloud.openstack_as(&user, &["server", "set", "--tag", "a,b", "one"]),
        &["server", "set", "--tag", "a,b", "one"],
    );
    assert!(err.contains("invalid"), "{err}");

    // Unlocked, the member deletes both; the group empties.
    cli(&["server", "delete", "--wait", "one", "two"]);
    let shown = cloud.openstack_json_as(&user, &["server", "group", "show", "spread"]);
    let members = shown["members"].to_string();
    assert!(
        !members.contains(&one_id) && !members.contains(&two_id),
        "{shown}"
    );
    cli(&["server", "group", "delete", "spread"]);
}
