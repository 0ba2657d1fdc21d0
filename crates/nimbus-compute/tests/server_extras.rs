//! Locks, tags and server groups through the in-process router: shapes per
//! microversion, who may lock and unlock, what a lock refuses, tag limits
//! and filters, group quotas, and the one-host scheduler (a disabled
//! compute service or a full anti-affinity group ends in ERROR with nova's
//! NoValidHost fault). One real TCG guest.

use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use nimbus_compute::{ComputeConfig, ComputeService};
use nimbus_image::{ImageConfig, ImageService};
use serde_json::{Value, json};

use crate::support::fake_auth;

const ADMIN: (&str, &str) = ("p1", "admin,member,reader");
const OTHER_ADMIN: (&str, &str) = ("p9", "admin,member,reader");
const P1: (&str, &str) = ("p1", "member,reader");
const P2: (&str, &str) = ("p2", "member,reader");

struct Cloud {
    app: Router,
    images: ImageService,
    dir: tempfile::TempDir,
}

impl Cloud {
    async fn new(tweak: impl FnOnce(&mut ComputeConfig)) -> Cloud {
        let dir = tempfile::tempdir().unwrap();
        let db = nimbus_db::Db::open_sqlite(&dir.path().join("nimbus.sqlite"), 4)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let images = ImageService::new(db.clone(), ImageConfig::under(dir.path()))
            .await
            .unwrap();
        let mut config = ComputeConfig::under(dir.path());
        config.virt_type = "qemu".into();
        tweak(&mut config);
        let svc = ComputeService::new(
            db.clone(),
            config,
            crate::peers(&db, dir.path(), &images).await,
        )
        .await
        .unwrap();
        let app = nimbus_compute::router(svc, "http://cloud:1", |r| {
            r.route_layer(axum::middleware::from_fn(fake_auth))
        });
        Cloud { app, images, dir }
    }

    async fn call(
        &self,
        who: (&str, &str),
        version: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        crate::support::call(&self.app, who, version, method, path, body).await
    }

    async fn upload(&self, attrs: Value, file: &Path) -> String {
        crate::support::upload(&self.images, attrs, file).await
    }

    /// The test guest's images and a small flavor: (image, flavor).
    async fn guest_and_flavor(&self) -> (String, String) {
        let guest = crate::test_guest();
        let kernel = self
            .upload(
                json!({"name": "k", "disk_format": "aki", "container_format": "aki"}),
                &guest.join("vmlinuz"),
            )
            .await;
        let ramdisk = self
            .upload(
                json!({"name": "r", "disk_format": "ari", "container_format": "ari"}),
                &guest.join("initrd.img"),
            )
            .await;
        let image = self
            .upload(
                json!({"name": "guest", "disk_format": "qcow2", "container_format": "bare",
                       "kernel_id": kernel, "ramdisk_id": ramdisk,
                       "os_command_line": "console=ttyS0 nimbus.mode=run"}),
                &guest.join("root.qcow2"),
            )
            .await;
        let (status, flavor) = self
            .call(
                ADMIN,
                "2.61",
                "POST",
                "/flavors",
                Some(json!({"flavor": {"name": "t", "ram": 192, "vcpus": 1, "disk": 1}})),
            )
            .await;
        assert_eq!(status, 200, "{flavor}");
        (image, flavor["flavor"]["id"].as_str().unwrap().to_string())
    }

    async fn create(&self, version: &str, body: Value) -> String {
        let (status, created) = self
            .call(P1, version, "POST", "/servers", Some(body.clone()))
            .await;
        assert_eq!(status, 202, "{body} -> {created}");
        created["server"]["id"].as_str().unwrap().to_string()
    }

    /// Waits until the server leaves BUILD; returns its show view.
    async fn settled(&self, id: &str) -> Value {
        for _ in 0..1200 {
            let (_, body) = self
                .call(ADMIN, "2.96", "GET", &format!("/servers/{id}"), None)
                .await;
            if body["server"]["status"] != "BUILD" {
                return body["server"].clone();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server {id} stayed in BUILD");
    }

    async fn set_compute_enabled(&self, enabled: bool) {
        let (_, services) = self.call(ADMIN, "2.53", "GET", "/os-services", None).await;
        let compute = services["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["binary"] == "nova-compute")
            .unwrap()
            .clone();
        let status = if enabled { "enabled" } else { "disabled" };
        let (code, body) = self
            .call(
                ADMIN,
                "2.53",
                "PUT",
                &format!("/os-services/{}", compute["id"].as_str().unwrap()),
                Some(json!({"status": status})),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }
}

fn server_body(image: &str, flavor: &str, name: &str, extra: Value) -> Value {
    let mut s = json!({"name": name, "imageRef": image, "flavorRef": flavor, "networks": "none"});
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    json!({"server": s})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_groups_are_shaped_per_version_and_count_against_quota() {
    let cloud = Cloud::new(|_| {}).await;
    let (status, old) = cloud
        .call(
            P1,
            "2.1",
            "POST",
            "/os-server-groups",
            Some(json!({"server_group": {"name": "g1", "policies": ["anti-affinity"]}})),
        )
        .await;
    assert_eq!(status, 200, "{old}");
    let g1 = old["server_group"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        old["server_group"],
        json!({"id": g1, "name": "g1", "policies": ["anti-affinity"], "members": [],
               "metadata": {}})
    );
    let (_, shown) = cloud
        .call(P1, "2.64", "GET", &format!("/os-server-groups/{g1}"), None)
        .await;
    assert_eq!(
        shown["server_group"],
        json!({"id": g1, "name": "g1", "policy": "anti-affinity", "rules": {}, "members": [],
               "project_id": "p1", "user_id": "user-p1"})
    );
    // Bad input, as nova's schemas.
    for (version, body) in [
        (
            "2.14",
            json!({"server_group": {"name": "g", "policies": ["soft-affinity"]}}),
        ),
        (
            "2.64",
            json!({"server_group": {"name": "g", "policies": ["affinity"]}}),
        ),
        (
            "2.64",
            json!({"server_group": {"name": "g", "policy": "affinity",
            "rules": {"max_server_per_host": 2}}}),
        ),
        (
            "2.64",
            json!({"server_group": {"name": "g", "policy": "anti-affinity",
            "rules": {"max_server_per_host": 0}}}),
        ),
        (
            "2.64",
            json!({"server_group": {"name": "", "policy": "affinity"}}),
        ),
    ] {
        let (status, resp) = cloud
            .call(P1, version, "POST", "/os-server-groups", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body} -> {resp}");
    }
    let (status, ruled) = cloud
        .call(
            P1,
            "2.64",
            "POST",
            "/os-server-groups",
            Some(
                json!({"server_group": {"name": "g2", "policy": "anti-affinity",
                "rules": {"max_server_per_host": 3}}}),
            ),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        ruled["server_group"]["rules"],
        json!({"max_server_per_host": 3})
    );

    // Another project sees none of them; an admin sees all with all_projects.
    let (_, theirs) = cloud
        .call(P2, "2.64", "GET", "/os-server-groups", None)
        .await;
    assert_eq!(theirs["server_groups"], json!([]));
    let (status, _) = cloud
        .call(P2, "2.64", "GET", &format!("/os-server-groups/{g1}"), None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = cloud
        .call(
            P2,
            "2.64",
            "DELETE",
            &format!("/os-server-groups/{g1}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, all) = cloud
        .call(
            OTHER_ADMIN,
            "2.64",
            "GET",
            "/os-server-groups?all_projects=True",
            None,
        )
        .await;
    assert_eq!(all["server_groups"].as_array().unwrap().len(), 2);
    let (_, own) = cloud
        .call(OTHER_ADMIN, "2.64", "GET", "/os-server-groups", None)
        .await;
    assert_eq!(own["server_groups"], json!([]));
    let (_, paged) = cloud
        .call(
            P1,
            "2.64",
            "GET",
            "/os-server-groups?limit=1&offset=1",
            None,
        )
        .await;
    assert_eq!(paged["server_groups"][0]["name"], "g2");

    // The server_groups quota (and its usage in limits).
    let (status, _) = cloud
        .call(
            ADMIN,
            "2.57",
            "PUT",
            "/os-quota-sets/p1",
            Some(json!({"quota_set": {"server_groups": 2}})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, over) = cloud
        .call(
            P1,
            "2.64",
            "POST",
            "/os-server-groups",
            Some(json!({"server_group": {"name": "g3", "policy": "affinity"}})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        over["forbidden"]["message"],
        "Quota exceeded, too many server groups."
    );
    let (_, limits) = cloud.call(P1, "2.64", "GET", "/limits", None).await;
    assert_eq!(limits["limits"]["absolute"]["totalServerGroupsUsed"], 2);
    // The server_group_members quota is checked before anything is recorded.
    let (image, flavor) = cloud.guest_and_flavor().await;
    let (status, _) = cloud
        .call(
            ADMIN,
            "2.57",
            "PUT",
            "/os-quota-sets/p1",
            Some(json!({"quota_set": {"server_group_members": 0}})),
        )
        .await;
    assert_eq!(status, 200);
    let mut body = server_body(&image, &flavor, "member", json!({}));
    body["os:scheduler_hints"] = json!({"group": g1});
    let (status, over) = cloud.call(P1, "2.96", "POST", "/servers", Some(body)).await;
    assert_eq!(status, 403, "{over}");
    assert_eq!(
        over["forbidden"]["message"],
        "Quota exceeded, too many servers in group"
    );
    let (_, servers) = cloud.call(P1, "2.96", "GET", "/servers", None).await;
    assert_eq!(servers["servers"], json!([]));

    let (status, _) = cloud
        .call(
            P1,
            "2.64",
            "DELETE",
            &format!("/os-server-groups/{g1}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = cloud
        .call(P1, "2.64", "GET", &format!("/os-server-groups/{g1}"), None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_tags_and_anti_affinity_on_one_host() {
    // The image cache manager runs every second and removes unused bases
    // at once: the live server's bases must survive it.
    let cloud = Cloud::new(|c| {
        c.image_cache_manager_interval = 1;
        c.remove_unused_original_minimum_age_seconds = 0;
    })
    .await;
    let base_dir = cloud.dir.path().join("instances/_base");
    std::fs::create_dir_all(&base_dir).unwrap();
    let orphan = base_dir.join("0123456789abcdef0123456789abcdef01234567");
    std::fs::write(&orphan, b"unused base").unwrap();
    let (image, flavor) = cloud.guest_and_flavor().await;
    let (_, group) = cloud
        .call(
            P1,
            "2.64",
            "POST",
            "/os-server-groups",
            Some(json!({"server_group": {"name": "spread", "policy": "anti-affinity"}})),
        )
        .await;
    let group_id = group["server_group"]["id"].as_str().unwrap().to_string();
    let hint = |body: Value| {
        let mut body = body;
        body["os:scheduler_hints"] = json!({"group": group_id});
        body
    };

    // Hints and tags are validated before anything is recorded.
    for (version, body, want) in [
        (
            "2.96",
            json!({"server": {"name": "x", "imageRef": image, "flavorRef": flavor,
                "networks": "none"}, "os:scheduler_hints": {"group": "not-a-uuid"}}),
            400,
        ),
        (
            "2.96",
            json!({"server": {"name": "x", "imageRef": image, "flavorRef": flavor,
                "networks": "none"},
                "os:scheduler_hints": {"group": "00000000-0000-0000-0000-000000000000"}}),
            400,
        ),
        (
            "2.51",
            server_body(&image, &flavor, "x", json!({"tags": ["a"]})),
            400,
        ),
        (
            "2.52",
            server_body(&image, &flavor, "x", json!({"tags": ["a/b"]})),
            400,
        ),
    ] {
        let (status, resp) = cloud
            .call(P1, version, "POST", "/servers", Some(body.clone()))
            .await;
        assert_eq!(status.as_u16(), want, "{body} -> {resp}");
    }

    // The first member boots; tags given at create are shown.
    let first = cloud
        .create(
            "2.52",
            hint(server_body(
                &image,
                &flavor,
                "one",
                json!({"tags": ["web", "blue"]}),
            )),
        )
        .await;
    let shown = cloud.settled(&first).await;
    assert_eq!(shown["status"], "ACTIVE", "{shown}");
    assert_eq!(shown["tags"], json!(["blue", "web"]));
    assert_eq!(shown["server_groups"], json!([group_id]));
    assert_eq!(shown["locked"], false);
    assert_eq!(shown["locked_reason"], Value::Null);
    let bases = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.ends_with(".format"))
            .collect();
        names.sort();
        names
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!orphan.exists(), "the manager removes unused bases");
    assert_eq!(
        bases(&base_dir).len(),
        3,
        "root, kernel and ramdisk bases of the live server stay: {:?}",
        bases(&base_dir)
    );

    // The second member finds no valid host.
    let second = cloud
        .create("2.96", hint(server_body(&image, &flavor, "two", json!({}))))
        .await;
    let failed = cloud.settled(&second).await;
    assert_eq!(failed["status"], "ERROR", "{failed}");
    assert_eq!(
        failed["fault"]["message"],
        "No valid host was found. There are not enough hosts available."
    );
    assert_eq!(failed["fault"]["code"], 500);
    assert_eq!(failed["OS-EXT-SRV-ATTR:host"], Value::Null);
    assert_eq!(failed["hostId"], "");
    let (_, member_view) = cloud
        .call(P1, "2.96", "GET", &format!("/servers/{second}"), None)
        .await;
    assert!(
        member_view["server"]["fault"].get("details").is_none(),
        "500 details are for admins"
    );
    let (_, g) = cloud
        .call(
            P1,
            "2.64",
            "GET",
            &format!("/os-server-groups/{group_id}"),
            None,
        )
        .await;
    let mut members: Vec<String> = g["server_group"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    members.sort();
    let mut want = vec![first.clone(), second.clone()];
    want.sort();
    assert_eq!(members, want);

    // Tags: one by one, all at once, the 50 limit, filters.
    let path = format!("/servers/{first}/tags");
    let (status, _) = cloud.call(P1, "2.25", "GET", &path, None).await;
    assert_eq!(status, 404, "tags need 2.26");
    let (status, _) = cloud
        .call(P1, "2.26", "PUT", &format!("{path}/red"), None)
        .await;
    assert_eq!(status, 201);
    let (status, _) = cloud
        .call(P1, "2.26", "PUT", &format!("{path}/red"), None)
        .await;
    assert_eq!(status, 204, "already there");
    let (status, _) = cloud
        .call(P1, "2.26", "GET", &format!("{path}/red"), None)
        .await;
    assert_eq!(status, 204);
    let (status, missing) = cloud
        .call(P1, "2.26", "GET", &format!("{path}/green"), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        missing["itemNotFound"]["message"],
        format!("Server {first} has no tag 'green'")
    );
    let (_, list) = cloud.call(P1, "2.26", "GET", &path, None).await;
    assert_eq!(list["tags"], json!(["blue", "red", "web"]));
    let (status, _) = cloud.call(P2, "2.26", "GET", &path, None).await;
    assert_eq!(status, 404, "another project's server");
    let (status, _) = cloud
        .call(P1, "2.26", "PUT", &format!("{path}/a,b"), None)
        .await;
    assert_eq!(status, 400);
    let fifty: Vec<String> = (0..50).map(|n| format!("t{n:02}")).collect();
    let (status, all) = cloud
        .call(P1, "2.26", "PUT", &path, Some(json!({"tags": fifty})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(all["tags"].as_array().unwrap().len(), 50);
    let (status, over) = cloud
        .call(P1, "2.26", "PUT", &format!("{path}/one-more"), None)
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        over["badRequest"]["message"],
        "The number of tags exceeded the per-server limit 50"
    );
    let (status, _) = cloud
        .call(
            P1,
            "2.26",
            "PUT",
            &path,
            Some(json!({"tags": ["db", "prod"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = cloud
        .call(P1, "2.26", "DELETE", &format!("{path}/prod"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = cloud
        .call(P1, "2.26", "DELETE", &format!("{path}/prod"), None)
        .await;
    assert_eq!(status, 404);
    let (status, conflict) = cloud
        .call(
            P1,
            "2.26",
            "PUT",
            &format!("/servers/{second}/tags/x"),
            None,
        )
        .await;
    assert_eq!(
        status, 409,
        "an ERROR server's tags do not change: {conflict}"
    );
    let ids = |v: &Value| -> Vec<String> {
        v["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, tagged) = cloud
        .call(P1, "2.26", "GET", "/servers?tags=db", None)
        .await;
    assert_eq!(ids(&tagged), vec![first.clone()]);
    let (_, untagged) = cloud
        .call(P1, "2.26", "GET", "/servers?not-tags-any=db", None)
        .await;
    assert_eq!(ids(&untagged), vec![second.clone()]);
    let (_, any) = cloud
        .call(P1, "2.26", "GET", "/servers/detail?tags-any=zz,db", None)
        .await;
    assert_eq!(ids(&any), vec![first.clone()]);
    assert_eq!(any["servers"][0]["tags"], json!(["db"]));
    let (_, ignored) = cloud
        .call(P1, "2.25", "GET", "/servers?tags=db", None)
        .await;
    assert_eq!(ignored["servers"].as_array().unwrap().len(), 2);

    // Lock: the owner locks with a reason; actions and delete are refused
    // for the member; an admin's lock is not the owner's to lift.
    let action = |id: &str| format!("/servers/{id}/action");
    let (status, resp) = cloud
        .call(
            P1,
            "2.73",
            "POST",
            &action(&first),
            Some(json!({"lock": {"locked_reason": "maintenance"}})),
        )
        .await;
    assert_eq!(status, 202, "{resp}");
    let (_, shown) = cloud
        .call(P1, "2.73", "GET", &format!("/servers/{first}"), None)
        .await;
    assert_eq!(shown["server"]["locked"], true);
    assert_eq!(shown["server"]["locked_reason"], "maintenance");
    let (_, old) = cloud
        .call(P1, "2.9", "GET", &format!("/servers/{first}"), None)
        .await;
    assert_eq!(old["server"]["locked"], true);
    assert!(old["server"].get("locked_reason").is_none());
    let locked_msg = format!("Instance {first} is locked");
    for body in [
        json!({"os-stop": null}),
        json!({"reboot": {"type": "HARD"}}),
    ] {
        let (status, resp) = cloud
            .call(P1, "2.73", "POST", &action(&first), Some(body))
            .await;
        assert_eq!(status, 409);
        assert_eq!(resp["conflictingRequest"]["message"], locked_msg);
    }
    let (status, resp) = cloud
        .call(P1, "2.73", "DELETE", &format!("/servers/{first}"), None)
        .await;
    assert_eq!(status, 409);
    assert_eq!(resp["conflictingRequest"]["message"], locked_msg);
    // Volumes neither come nor go while locked (nova's check_instance_lock
    // runs before the volume is even looked up).
    let attachments = format!("/servers/{first}/os-volume_attachments");
    let (status, resp) = cloud
        .call(
            P1,
            "2.73",
            "POST",
            &attachments,
            Some(json!({"volumeAttachment": {"volumeId": "8c5a1c2e-0d6b-4d7e-9a43-1f1d3b0c9e11"}})),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(resp["conflictingRequest"]["message"], locked_msg);
    let (status, _) = cloud
        .call(
            P1,
            "2.73",
            "DELETE",
            &format!("{attachments}/8c5a1c2e-0d6b-4d7e-9a43-1f1d3b0c9e11"),
            None,
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = cloud
        .call(
            P1,
            "2.73",
            "PUT",
            &format!("/servers/{first}/metadata/k"),
            Some(json!({"meta": {"k": "v"}})),
        )
        .await;
    assert_eq!(status, 409);
    let (status, _) = cloud
        .call(
            P1,
            "2.73",
            "POST",
            &action(&first),
            Some(json!({"lock": {"locked_reason": ""}})),
        )
        .await;
    assert_eq!(status, 400);
    let (_, locked) = cloud
        .call(P1, "2.73", "GET", "/servers?locked=true", None)
        .await;
    assert_eq!(ids(&locked), vec![first.clone()]);
    let (_, unlocked) = cloud
        .call(P1, "2.73", "GET", "/servers?locked=0", None)
        .await;
    assert_eq!(ids(&unlocked), vec![second.clone()]);
    let (status, _) = cloud
        .call(P1, "2.73", "GET", "/servers?locked=maybe", None)
        .await;
    assert_eq!(status, 400);

    // An admin from another project takes the lock over; the owner may no
    // longer lift it.
    let (status, _) = cloud
        .call(
            OTHER_ADMIN,
            "2.73",
            "POST",
            &action(&first),
            Some(json!({"lock": null})),
        )
        .await;
    assert_eq!(status, 202);
    let (status, resp) = cloud
        .call(
            P1,
            "2.73",
            "POST",
            &action(&first),
            Some(json!({"unlock": null})),
        )
        .await;
    assert_eq!(status, 403, "{resp}");
    let (status, _) = cloud
        .call(
            OTHER_ADMIN,
            "2.73",
            "POST",
            &action(&first),
            Some(json!({"unlock": null})),
        )
        .await;
    assert_eq!(status, 202);
    let (_, shown) = cloud
        .call(P1, "2.73", "GET", &format!("/servers/{first}"), None)
        .await;
    assert_eq!(shown["server"]["locked"], false);
    assert_eq!(shown["server"]["locked_reason"], Value::Null);
    let (_, actions) = cloud
        .call(
            P1,
            "2.73",
            "GET",
            &format!("/servers/{first}/os-instance-actions"),
            None,
        )
        .await;
    let names: Vec<&str> = actions["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        names.iter().filter(|n| **n == "lock").count(),
        2,
        "{names:?}"
    );
    assert_eq!(names.iter().filter(|n| **n == "unlock").count(), 1);

    // A disabled compute service takes no servers (nova's NoValidHost from
    // placement, empty reason); enabled again, it does.
    cloud.set_compute_enabled(false).await;
    let refused = cloud
        .create("2.96", server_body(&image, &flavor, "three", json!({})))
        .await;
    let failed = cloud.settled(&refused).await;
    assert_eq!(failed["status"], "ERROR");
    assert_eq!(failed["fault"]["message"], "No valid host was found. ");
    assert!(
        failed["fault"]["details"]
            .as_str()
            .unwrap()
            .contains("disabled"),
        "admins see why: {failed}"
    );
    cloud.set_compute_enabled(true).await;

    // Nothing is soft-deleted, so nothing is restorable; forceDelete of an
    // unknown server is 404 (nova looks the server up first).
    let (status, resp) = cloud
        .call(
            P1,
            "2.73",
            "POST",
            &action(&first),
            Some(json!({"restore": null})),
        )
        .await;
    assert_eq!(status, 409, "{resp}");
    let (status, _) = cloud
        .call(
            P1,
            "2.73",
            "POST",
            &action("5b1f7a9e-1111-4222-8333-944455556666"),
            Some(json!({"forceDelete": null})),
        )
        .await;
    assert_eq!(status, 404);

    // Unlocked, the member deletes (forceDelete is a delete too); the
    // group's quota of members counts only live servers.
    let (status, _) = cloud
        .call(
            P1,
            "2.73",
            "POST",
            &action(&refused),
            Some(json!({"forceDelete": null})),
        )
        .await;
    assert_eq!(status, 202);
    for id in [&first, &second] {
        let (status, _) = cloud
            .call(P1, "2.73", "DELETE", &format!("/servers/{id}"), None)
            .await;
        assert_eq!(status, 204);
    }
    for _ in 0..600 {
        let (_, g) = cloud
            .call(
                P1,
                "2.64",
                "GET",
                &format!("/os-server-groups/{group_id}"),
                None,
            )
            .await;
        if g["server_group"]["members"] == json!([]) && bases(&base_dir).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("deleted servers are still members, or their bases were kept");
}
