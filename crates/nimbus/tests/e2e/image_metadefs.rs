//! Glance's metadata definitions catalog through the real `openstack image
//! metadef ...` commands: namespaces, objects, properties, resource type
//! associations; admin-only writes, visibility for other projects.

use serde_json::Value;

use crate::on_both_backends;
use crate::support::{Backend, Cloud, User, failed};

fn names(list: &Value, key: &str) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap().to_string())
        .collect()
}

fn member_user(cloud: &Cloud) -> User {
    cloud.openstack_ok(&["project", "create", "mp"]);
    cloud.openstack_ok(&[
        "user",
        "create",
        "--project",
        "mp",
        "--password",
        "pw-md-secret",
        "mu",
    ]);
    cloud.openstack_ok(&["role", "add", "--project", "mp", "--user", "mu", "member"]);
    User::new("mu", "pw-md-secret", "mp")
}

fn metadefs_cli(backend: Backend) {
    let Some(cloud) = Cloud::start(backend) else {
        return;
    };
    let ns = cloud.openstack_json(&[
        "image",
        "metadef",
        "namespace",
        "create",
        "--display-name",
        "Test CPU",
        "--description",
        "cpu things",
        "--public",
        "--protected",
        "Nimbus::Test::CPU",
    ]);
    assert_eq!(ns["namespace"], "Nimbus::Test::CPU");
    assert_eq!(ns["visibility"], "public");
    assert_eq!(ns["protected"], true);
    cloud.openstack_ok(&[
        "image",
        "metadef",
        "namespace",
        "create",
        "--private",
        "Nimbus::Test::Hidden",
    ]);

    // Properties.
    let prop = cloud.openstack_json(&[
        "image",
        "metadef",
        "property",
        "create",
        "--name",
        "cpu_cores",
        "--title",
        "Cores",
        "--type",
        "integer",
        "--schema",
        r#"{"minimum": 1, "maximum": 64}"#,
        "Nimbus::Test::CPU",
    ]);
    assert_eq!(prop["name"], "cpu_cores");
    let props =
        cloud.openstack_json(&["image", "metadef", "property", "list", "Nimbus::Test::CPU"]);
    assert_eq!(names(&props, "name"), ["cpu_cores"]);
    let shown = cloud.openstack_json(&[
        "image",
        "metadef",
        "property",
        "show",
        "Nimbus::Test::CPU",
        "cpu_cores",
    ]);
    assert_eq!(shown["maximum"], 64);
    assert_eq!(shown["title"], "Cores");
    let out = cloud.openstack(&[
        "image",
        "metadef",
        "property",
        "create",
        "--name",
        "bad",
        "--title",
        "Bad",
        "--type",
        "blob",
        "--schema",
        "{}",
        "Nimbus::Test::CPU",
    ]);
    let err = failed(out, &["property create --type blob"]);
    assert!(err.contains("400") || err.contains("type"), "{err}");

    // Objects.
    let obj = cloud.openstack_json(&[
        "image",
        "metadef",
        "object",
        "create",
        "--namespace",
        "Nimbus::Test::CPU",
        "topology",
    ]);
    assert_eq!(obj["name"], "topology");
    let objs = cloud.openstack_json(&["image", "metadef", "object", "list", "Nimbus::Test::CPU"]);
    assert_eq!(names(&objs, "name"), ["topology"]);
    cloud.openstack_ok(&[
        "image",
        "metadef",
        "object",
        "update",
        "Nimbus::Test::CPU",
        "topology",
        "--name",
        "layout",
    ]);
    let obj = cloud.openstack_json(&[
        "image",
        "metadef",
        "object",
        "show",
        "Nimbus::Test::CPU",
        "layout",
    ]);
    assert_eq!(obj["name"], "layout");

    // Resource types and associations.
    cloud.openstack_ok(&[
        "image",
        "metadef",
        "resource",
        "type",
        "association",
        "create",
        "Nimbus::Test::CPU",
        "OS::Glance::Image",
    ]);
    let assocs = cloud.openstack_json(&[
        "image",
        "metadef",
        "resource",
        "type",
        "association",
        "list",
        "Nimbus::Test::CPU",
    ]);
    assert_eq!(names(&assocs, "Name"), ["OS::Glance::Image"]);
    let types = cloud.openstack_json(&["image", "metadef", "resource", "type", "list"]);
    assert!(
        names(&types, "Name").contains(&"OS::Glance::Image".to_string()),
        "{types}"
    );
    let filtered = cloud.openstack_json(&[
        "image",
        "metadef",
        "namespace",
        "list",
        "--resource-types",
        "OS::Glance::Image",
    ]);
    assert_eq!(names(&filtered, "namespace"), ["Nimbus::Test::CPU"]);

    // A protected namespace refuses deletes; set --unprotected lifts that.
    let out = cloud.openstack(&[
        "image",
        "metadef",
        "namespace",
        "delete",
        "Nimbus::Test::CPU",
    ]);
    failed(out, &["namespace delete of a protected namespace"]);
    cloud.openstack_ok(&[
        "image",
        "metadef",
        "namespace",
        "set",
        "--unprotected",
        "--public",
        "--description",
        "changed",
        "Nimbus::Test::CPU",
    ]);
    let ns = cloud.openstack_json(&["image", "metadef", "namespace", "show", "Nimbus::Test::CPU"]);
    assert_eq!(ns["description"], "changed");
    assert_eq!(ns["protected"], false);

    // Another project reads public namespaces only and changes nothing.
    let user = member_user(&cloud);
    let list = cloud.openstack_json_as(&user, &["image", "metadef", "namespace", "list"]);
    assert_eq!(names(&list, "namespace"), ["Nimbus::Test::CPU"]);
    let out = cloud.openstack_as(
        &user,
        &[
            "image",
            "metadef",
            "namespace",
            "show",
            "Nimbus::Test::Hidden",
        ],
    );
    failed(
        out,
        &["namespace show of another project's private namespace"],
    );
    let out = cloud.openstack_as(
        &user,
        &[
            "image",
            "metadef",
            "namespace",
            "create",
            "Nimbus::Test::Mine",
        ],
    );
    let err = failed(out, &["namespace create by a member"]);
    assert!(
        err.contains("403") || err.to_lowercase().contains("forbidden"),
        "{err}"
    );
    let out = cloud.openstack_as(
        &user,
        &[
            "image",
            "metadef",
            "property",
            "delete",
            "Nimbus::Test::CPU",
            "cpu_cores",
        ],
    );
    failed(out, &["property delete by a member"]);

    // Deletes.
    cloud.openstack_ok(&[
        "image",
        "metadef",
        "property",
        "delete",
        "Nimbus::Test::CPU",
        "cpu_cores",
    ]);
    let props =
        cloud.openstack_json(&["image", "metadef", "property", "list", "Nimbus::Test::CPU"]);
    assert!(props.as_array().unwrap().is_empty(), "{props}");
    cloud.openstack_ok(&[
        "image",
        "metadef",
        "resource",
        "type",
        "association",
        "delete",
        "Nimbus::Test::CPU",
        "OS::Glance::Image",
    ]);
    cloud.openstack_ok(&[
        "image",
        "metadef",
        "object",
        "delete",
        "Nimbus::Test::CPU",
        "layout",
    ]);
    cloud.openstack_ok(&[
        "image",
        "metadef",
        "namespace",
        "delete",
        "Nimbus::Test::CPU",
        "Nimbus::Test::Hidden",
    ]);
    let list = cloud.openstack_json(&["image", "metadef", "namespace", "list"]);
    assert!(list.as_array().unwrap().is_empty(), "{list}");
}
on_both_backends!(metadefs_cli);
