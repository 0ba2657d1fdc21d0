//! Flavors, key pairs, quotas, limits, zones, hypervisors and services
//! through the in-process router, as projects and roles of our choosing.

use std::process::Command;

use serde_json::{Value, json};

use crate::support::{Cloud, cloud, ctx};

const ADMIN: (&str, &str) = ("admin-p", "admin,member,reader");
const P1: (&str, &str) = ("p1", "member,reader");
const P2: (&str, &str) = ("p2", "member,reader");

impl Cloud {
    async fn flavor(&self, name: &str, extra: Value) -> Value {
        let mut flavor = json!({"name": name, "ram": 256, "vcpus": 1, "disk": 1});
        for (k, v) in extra.as_object().unwrap() {
            flavor[k] = v.clone();
        }
        let (status, body) = self
            .call(
                ADMIN,
                "2.61",
                "POST",
                "/flavors",
                Some(json!({"flavor": flavor})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["flavor"].clone()
    }
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test]
async fn flavors_are_admin_managed_and_shaped_per_version() {
    let c = cloud().await;
    // Members may not create; the body is nova's.
    let (status, body) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/flavors",
            Some(json!({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0}})),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(body["forbidden"]["code"], 403);

    let tiny = c.flavor("m1.tiny", json!({"id": "1"})).await;
    assert_eq!(tiny["id"], "1");
    assert_eq!(tiny["extra_specs"], json!({}));
    assert_eq!(tiny["swap"], "", "swap 0 is \"\" before 2.75");
    let big = c
        .flavor("m1.big", json!({"ram": 4096, "disk": 20, "swap": 512}))
        .await;
    assert_eq!(big["id"].as_str().unwrap().len(), 36, "a generated UUID");

    // Shapes: 2.1 has neither description nor extra_specs; 2.75 swap 0.
    let (_, v21) = c.call(P1, "2.1", "GET", "/flavors/1", None).await;
    assert_eq!(
        keys(&v21["flavor"]),
        [
            "OS-FLV-DISABLED:disabled",
            "OS-FLV-EXT-DATA:ephemeral",
            "disk",
            "id",
            "links",
            "name",
            "os-flavor-access:is_public",
            "ram",
            "rxtx_factor",
            "swap",
            "vcpus"
        ]
    );
    assert_eq!(
        v21["flavor"]["links"][0]["href"],
        "http://cloud:1/compute/v2.1/flavors/1"
    );
    let (_, v275) = c.call(P1, "2.75", "GET", "/flavors/1", None).await;
    assert_eq!(v275["flavor"]["swap"], 0);
    assert!(v275["flavor"]["description"].is_null());
    assert!(v275["flavor"]["extra_specs"].is_object());

    // Duplicates are 409.
    let (status, body) = c
        .call(
            ADMIN,
            "2.1",
            "POST",
            "/flavors",
            Some(json!({"flavor": {"name": "m1.tiny", "ram": 1, "vcpus": 1, "disk": 0}})),
        )
        .await;
    assert_eq!(status, 409);
    assert!(
        body["conflictingRequest"]["message"]
            .as_str()
            .unwrap()
            .contains("m1.tiny")
    );

    // Listing: filters, sort, paging with a next link.
    let (_, list) = c
        .call(P1, "2.1", "GET", "/flavors/detail?minRam=1024", None)
        .await;
    let names: Vec<&str> = list["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["m1.big"]);
    let (_, page) = c
        .call(
            P1,
            "2.1",
            "GET",
            "/flavors?limit=1&sort_key=name&sort_dir=asc",
            None,
        )
        .await;
    assert_eq!(page["flavors"][0]["name"], "m1.big");
    let next = page["flavors_links"][0]["href"].as_str().unwrap();
    assert!(next.contains("marker="), "{next}");
    let (status, _) = c.call(P1, "2.1", "GET", "/flavors?marker=nope", None).await;
    assert_eq!(status, 400);
    let (status, _) = c.call(P1, "2.75", "GET", "/flavors?bogus=1", None).await;
    assert_eq!(
        status, 400,
        "unknown query parameters are refused from 2.75"
    );

    // Description (2.55).
    let (status, _) = c
        .call(
            ADMIN,
            "2.54",
            "PUT",
            "/flavors/1",
            Some(json!({"flavor": {"description": "d"}})),
        )
        .await;
    assert_eq!(status, 405);
    let (status, body) = c
        .call(
            ADMIN,
            "2.55",
            "PUT",
            "/flavors/1",
            Some(json!({"flavor": {"description": "small"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["flavor"]["description"], "small");
    let (_, brief) = c.call(P1, "2.55", "GET", "/flavors", None).await;
    assert_eq!(
        keys(&brief["flavors"][0]),
        ["description", "id", "links", "name"]
    );

    // Delete.
    let (status, _) = c.call(P1, "2.1", "DELETE", "/flavors/1", None).await;
    assert_eq!(status, 403);
    let (status, _) = c.call(ADMIN, "2.1", "DELETE", "/flavors/1", None).await;
    assert_eq!(status, 202);
    let (status, body) = c.call(P1, "2.1", "GET", "/flavors/1", None).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["itemNotFound"]["message"],
        "Flavor 1 could not be found."
    );
}

#[tokio::test]
async fn private_flavors_are_seen_only_by_projects_with_access() {
    let c = cloud().await;
    c.flavor(
        "secret",
        json!({"id": "s1", "os-flavor-access:is_public": false}),
    )
    .await;
    let (status, _) = c.call(P1, "2.1", "GET", "/flavors/s1", None).await;
    assert_eq!(status, 404);
    let (_, list) = c.call(P1, "2.1", "GET", "/flavors", None).await;
    assert_eq!(list["flavors"], json!([]));
    let user = ctx("p1", "member,reader");
    let err = nimbus_compute::app::flavors::flavor_for_boot(&c.svc, &user, "s1")
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(err.message(), "Flavor s1 could not be found.");

    // Admin lists: default public only, is_public=None everything.
    let (_, admin_list) = c.call(ADMIN, "2.1", "GET", "/flavors", None).await;
    assert_eq!(admin_list["flavors"], json!([]));
    let (_, all) = c
        .call(ADMIN, "2.1", "GET", "/flavors?is_public=None", None)
        .await;
    assert_eq!(all["flavors"][0]["id"], "s1");

    let add = json!({"addTenantAccess": {"tenant": "p1"}});
    let (status, _) = c
        .call(P1, "2.1", "POST", "/flavors/s1/action", Some(add.clone()))
        .await;
    assert_eq!(status, 403);
    let (status, body) = c
        .call(
            ADMIN,
            "2.1",
            "POST",
            "/flavors/s1/action",
            Some(add.clone()),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["flavor_access"],
        json!([{"flavor_id": "s1", "tenant_id": "p1"}])
    );
    let (status, _) = c
        .call(ADMIN, "2.1", "POST", "/flavors/s1/action", Some(add))
        .await;
    assert_eq!(status, 409);

    let (status, _) = c.call(P1, "2.1", "GET", "/flavors/s1", None).await;
    assert_eq!(status, 200);
    let (_, list) = c.call(P1, "2.1", "GET", "/flavors", None).await;
    assert_eq!(list["flavors"][0]["id"], "s1");
    let flavor = nimbus_compute::app::flavors::flavor_for_boot(
        &c.svc,
        &user,
        "http://cloud:1/compute/v2.1/flavors/s1",
    )
    .await
    .unwrap();
    assert_eq!((flavor.memory_mb, flavor.vcpus), (256, 1));
    let (status, _) = c.call(P2, "2.1", "GET", "/flavors/s1", None).await;
    assert_eq!(status, 404);

    let (_, access) = c
        .call(ADMIN, "2.1", "GET", "/flavors/s1/os-flavor-access", None)
        .await;
    assert_eq!(access["flavor_access"][0]["tenant_id"], "p1");
    let remove = json!({"removeTenantAccess": {"tenant": "p1"}});
    let (status, _) = c
        .call(
            ADMIN,
            "2.1",
            "POST",
            "/flavors/s1/action",
            Some(remove.clone()),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = c
        .call(ADMIN, "2.1", "POST", "/flavors/s1/action", Some(remove))
        .await;
    assert_eq!(status, 404);
    let (status, _) = c.call(P1, "2.1", "GET", "/flavors/s1", None).await;
    assert_eq!(status, 404);

    c.flavor("open", json!({"id": "o1"})).await;
    let (status, body) = c
        .call(ADMIN, "2.1", "GET", "/flavors/o1/os-flavor-access", None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["itemNotFound"]["message"],
        "Access list not available for public flavors."
    );
}

#[tokio::test]
async fn extra_specs_are_read_by_all_written_by_admins_and_validated() {
    let c = cloud().await;
    c.flavor("f", json!({"id": "f"})).await;
    let specs = json!({"extra_specs": {"hw:cpu_policy": "dedicated", "custom:x": "1"}});
    let (status, _) = c
        .call(
            P1,
            "2.86",
            "POST",
            "/flavors/f/os-extra_specs",
            Some(specs.clone()),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = c
        .call(
            ADMIN,
            "2.86",
            "POST",
            "/flavors/f/os-extra_specs",
            Some(specs),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = c
        .call(P1, "2.86", "GET", "/flavors/f/os-extra_specs", None)
        .await;
    assert_eq!(body["extra_specs"]["hw:cpu_policy"], "dedicated");
    let (_, body) = c.call(P1, "2.61", "GET", "/flavors/f", None).await;
    assert_eq!(body["flavor"]["extra_specs"]["custom:x"], "1");

    let bad = json!({"extra_specs": {"hw:cpu_policy": "fastest"}});
    let (status, _) = c
        .call(
            ADMIN,
            "2.86",
            "POST",
            "/flavors/f/os-extra_specs",
            Some(bad.clone()),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = c
        .call(
            ADMIN,
            "2.85",
            "POST",
            "/flavors/f/os-extra_specs",
            Some(bad),
        )
        .await;
    assert_eq!(status, 200, "not validated before 2.86");
    let (status, _) = c
        .call(
            ADMIN,
            "2.1",
            "POST",
            "/flavors/f/os-extra_specs",
            Some(json!({"extra_specs": {"bad key!": "x"}})),
        )
        .await;
    assert_eq!(status, 400);

    let (status, body) = c
        .call(
            ADMIN,
            "2.1",
            "PUT",
            "/flavors/f/os-extra_specs/custom:x",
            Some(json!({"custom:x": "2"})),
        )
        .await;
    assert_eq!((status.as_u16(), body), (200, json!({"custom:x": "2"})));
    let (status, _) = c
        .call(
            ADMIN,
            "2.1",
            "PUT",
            "/flavors/f/os-extra_specs/custom:x",
            Some(json!({"custom:y": "2"})),
        )
        .await;
    assert_eq!(status, 400);
    let (_, body) = c
        .call(P1, "2.1", "GET", "/flavors/f/os-extra_specs/custom:x", None)
        .await;
    assert_eq!(body, json!({"custom:x": "2"}));
    let (status, _) = c
        .call(
            ADMIN,
            "2.1",
            "DELETE",
            "/flavors/f/os-extra_specs/custom:x",
            None,
        )
        .await;
    assert_eq!(status, 202);
    let (status, _) = c
        .call(P1, "2.1", "GET", "/flavors/f/os-extra_specs/custom:x", None)
        .await;
    assert_eq!(status, 404);
}

fn ssh_keygen_public_of(private_pem: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k");
    std::fs::write(&path, private_pem).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&path, perms).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn keypairs_import_generate_and_belong_to_their_user() {
    let c = cloud().await;
    let public =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEWEZJvMmFUAwI34kTAsNkC04SmBOzcVkKm9DtbIMsRV t@x";
    let (status, body) = c
        .call(
            P1,
            "2.1",
            "POST",
            "/os-keypairs",
            Some(json!({"keypair": {"name": "k1", "public_key": public}})),
        )
        .await;
    assert_eq!(status, 200, "2.1 answers 200: {body}");
    assert_eq!(
        body["keypair"]["fingerprint"], "9a:62:91:79:ab:c4:da:d6:85:ee:ba:0c:1f:28:6f:63",
        "ssh-keygen -l -E md5"
    );
    assert_eq!(
        keys(&body["keypair"]),
        ["fingerprint", "name", "public_key", "user_id"]
    );

    // Generated (2.91 and below): an RSA key whose private half ssh-keygen
    // reads and derives the returned public key from.
    let (status, body) = c
        .call(
            P1,
            "2.91",
            "POST",
            "/os-keypairs",
            Some(json!({"keypair": {"name": "gen"}})),
        )
        .await;
    assert_eq!(status, 201);
    let kp = &body["keypair"];
    assert_eq!(kp["type"], "ssh");
    let derived = ssh_keygen_public_of(kp["private_key"].as_str().unwrap());
    let returned = kp["public_key"].as_str().unwrap();
    assert_eq!(
        derived.split_whitespace().take(2).collect::<Vec<_>>(),
        returned.split_whitespace().take(2).collect::<Vec<_>>()
    );
    let (status, _) = c
        .call(
            P1,
            "2.92",
            "POST",
            "/os-keypairs",
            Some(json!({"keypair": {"name": "gen2"}})),
        )
        .await;
    assert_eq!(status, 400, "2.92 needs a public key");

    let (status, body) = c
        .call(
            P1,
            "2.2",
            "POST",
            "/os-keypairs",
            Some(json!({"keypair": {"name": "bad", "public_key": "ssh-rsa AAAA"}})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["badRequest"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Keypair data is invalid")
    );
    let (status, _) = c
        .call(
            P1,
            "2.2",
            "POST",
            "/os-keypairs",
            Some(json!({"keypair": {"name": "k1", "public_key": public}})),
        )
        .await;
    assert_eq!(status, 409);

    // Show (2.2 adds type), list paging (2.35), scope per user.
    let (status, body) = c.call(P1, "2.2", "GET", "/os-keypairs/k1", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        keys(&body["keypair"]),
        [
            "created_at",
            "deleted",
            "deleted_at",
            "fingerprint",
            "id",
            "name",
            "public_key",
            "type",
            "updated_at",
            "user_id"
        ]
    );
    let (status, _) = c.call(P2, "2.2", "GET", "/os-keypairs/k1", None).await;
    assert_eq!(status, 404);
    let (_, page) = c
        .call(P1, "2.35", "GET", "/os-keypairs?limit=1", None)
        .await;
    assert_eq!(page["keypairs"][0]["keypair"]["name"], "gen");
    assert!(
        page["keypairs_links"][0]["href"]
            .as_str()
            .unwrap()
            .contains("marker=gen")
    );
    let (_, rest) = c
        .call(P1, "2.35", "GET", "/os-keypairs?marker=gen", None)
        .await;
    assert_eq!(rest["keypairs"][0]["keypair"]["name"], "k1");

    // Admins reach other users' keys (2.10); members may not.
    let (status, _) = c
        .call(P2, "2.10", "GET", "/os-keypairs/k1?user_id=user-p1", None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = c
        .call(
            ADMIN,
            "2.10",
            "GET",
            "/os-keypairs/k1?user_id=user-p1",
            None,
        )
        .await;
    assert_eq!(status, 200);

    // The boot lookup.
    let user = ctx("p1", "member,reader");
    let err = nimbus_compute::app::keypairs::keypair_for_boot(&c.svc, &user, "nope")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status().as_u16(), err.message()),
        (400, "Invalid key_name provided.")
    );
    let kp = nimbus_compute::app::keypairs::keypair_for_boot(&c.svc, &user, "k1")
        .await
        .unwrap();
    assert_eq!(kp.public_key, public);

    let (status, _) = c.call(P1, "2.2", "DELETE", "/os-keypairs/k1", None).await;
    assert_eq!(status, 204);
    let (status, _) = c.call(P1, "2.1", "DELETE", "/os-keypairs/gen", None).await;
    assert_eq!(status, 202);
    let (_, list) = c.call(P1, "2.2", "GET", "/os-keypairs", None).await;
    assert_eq!(list["keypairs"], json!([]));

    // x509 (2.2+): generated as nova does (a certificate and a PKCS#12
    // bundle), and importable again with the same fingerprint.
    let (status, body) = c
        .call(
            P1,
            "2.2",
            "POST",
            "/os-keypairs",
            Some(json!({"keypair": {"name": "x1", "type": "x509"}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let kp = &body["keypair"];
    assert_eq!(kp["type"], "x509");
    let cert = kp["public_key"].as_str().unwrap().to_string();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{cert}");
    assert_eq!(
        kp["fingerprint"].as_str().unwrap().len(),
        59,
        "SHA-1, colon hex"
    );
    assert!(kp["private_key"].as_str().unwrap().len() > 1000);
    let (status, body) = c
        .call(
            P1,
            "2.2",
            "POST",
            "/os-keypairs",
            Some(json!({"keypair": {"name": "x2", "type": "x509", "public_key": cert}})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["keypair"]["fingerprint"], kp["fingerprint"]);
    assert!(body["keypair"].get("private_key").is_none());
    let (_, shown) = c.call(P1, "2.2", "GET", "/os-keypairs/x1", None).await;
    assert_eq!(shown["keypair"]["type"], "x509");
    assert_eq!(shown["keypair"]["fingerprint"], kp["fingerprint"]);
    for name in ["x1", "x2"] {
        let (status, _) = c
            .call(P1, "2.2", "DELETE", &format!("/os-keypairs/{name}"), None)
            .await;
        assert_eq!(status, 204);
    }

    // The key_pairs quota.
    let (status, _) = c
        .call(
            ADMIN,
            "2.1",
            "PUT",
            "/os-quota-sets/p1",
            Some(json!({"quota_set": {"key_pairs": 1}})),
        )
        .await;
    assert_eq!(status, 200);
    let add = |name: &str| json!({"keypair": {"name": name, "public_key": public}});
    let (status, _) = c
        .call(P1, "2.2", "POST", "/os-keypairs", Some(add("a")))
        .await;
    assert_eq!(status, 201);
    let (status, body) = c
        .call(P1, "2.2", "POST", "/os-keypairs", Some(add("b")))
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["forbidden"]["message"],
        "Quota exceeded, too many key pairs."
    );
}

#[tokio::test]
async fn quotas_limits_and_the_instance_check() {
    let c = cloud().await;
    let (status, body) = c.call(P1, "2.1", "GET", "/os-quota-sets/p1", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["quota_set"]["instances"], 10);
    assert_eq!(body["quota_set"]["injected_file_content_bytes"], 10240);
    assert_eq!(body["quota_set"]["id"], "p1");
    let (_, v257) = c.call(P1, "2.57", "GET", "/os-quota-sets/p1", None).await;
    assert_eq!(
        keys(&v257["quota_set"]),
        [
            "cores",
            "id",
            "instances",
            "key_pairs",
            "metadata_items",
            "ram",
            "server_group_members",
            "server_groups"
        ]
    );
    let (status, _) = c.call(P2, "2.1", "GET", "/os-quota-sets/p1", None).await;
    assert_eq!(status, 403);
    let (status, _) = c
        .call(
            P1,
            "2.1",
            "PUT",
            "/os-quota-sets/p1",
            Some(json!({"quota_set": {"instances": 50}})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = c
        .call(
            ADMIN,
            "2.57",
            "PUT",
            "/os-quota-sets/p1",
            Some(json!({"quota_set": {"instances": "2", "cores": 4}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["quota_set"].get("id").is_none());
    assert_eq!(body["quota_set"]["instances"], 2);
    let (status, _) = c
        .call(
            ADMIN,
            "2.57",
            "PUT",
            "/os-quota-sets/p1",
            Some(json!({"quota_set": {"injected_files": 3}})),
        )
        .await;
    assert_eq!(status, 400, "2.57 no longer knows injected_files");
    let (_, detail) = c
        .call(P1, "2.1", "GET", "/os-quota-sets/p1/detail", None)
        .await;
    assert_eq!(
        detail["quota_set"]["instances"],
        json!({"in_use": 0, "limit": 2, "reserved": 0})
    );
    let (_, defaults) = c
        .call(P2, "2.1", "GET", "/os-quota-sets/p1/defaults", None)
        .await;
    assert_eq!(defaults["quota_set"]["instances"], 10);

    // The check server create makes, with nova's message.
    let user = ctx("p1", "member,reader");
    use nimbus_compute::app::quotas;
    quotas::check_instances(&c.svc, &user, 2, 2, 512)
        .await
        .unwrap();
    let err = quotas::check_instances(&c.svc, &user, 3, 1, 512)
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(
        err.message(),
        "Quota exceeded for instances: Requested 3, but already used 0 of 2 instances"
    );
    let err = quotas::check_instances(&c.svc, &user, 1, 8, 512)
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "Quota exceeded for cores: Requested 8, but already used 0 of 4 cores"
    );
    assert_eq!(
        quotas::instances_allowed(&c.svc, &user, 1, 5, 1, 512)
            .await
            .unwrap(),
        2,
        "as many as fit"
    );
    let limits = quotas::injection_limits(&c.svc, &user).await.unwrap();
    assert_eq!(
        (limits.files, limits.content_bytes, limits.path_bytes),
        (5, 10240, 255)
    );

    // Limits.
    let (_, limits) = c.call(P1, "2.1", "GET", "/limits", None).await;
    let absolute = &limits["limits"]["absolute"];
    assert_eq!(absolute["maxTotalInstances"], 2);
    assert_eq!(absolute["totalInstancesUsed"], 0);
    assert_eq!(absolute["maxPersonality"], 5);
    assert_eq!(limits["limits"]["rate"], json!([]));
    let (_, limits) = c.call(P1, "2.57", "GET", "/limits", None).await;
    assert!(limits["limits"]["absolute"].get("maxPersonality").is_none());
    let (status, _) = c.call(P2, "2.1", "GET", "/limits?tenant_id=p1", None).await;
    assert_eq!(status, 403);
    let (_, other) = c
        .call(ADMIN, "2.1", "GET", "/limits?tenant_id=p1", None)
        .await;
    assert_eq!(other["limits"]["absolute"]["maxTotalCores"], 4);

    let (status, _) = c
        .call(ADMIN, "2.1", "DELETE", "/os-quota-sets/p1", None)
        .await;
    assert_eq!(status, 202);
    let (_, body) = c.call(P1, "2.1", "GET", "/os-quota-sets/p1", None).await;
    assert_eq!(body["quota_set"]["instances"], 10);
}

#[tokio::test]
async fn zones_hypervisors_and_services_describe_this_host() {
    let c = cloud().await;
    let (status, body) = c
        .call(P1, "2.1", "GET", "/os-availability-zone", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["availabilityZoneInfo"],
        json!([{"zoneName": "nova", "zoneState": {"available": true}, "hosts": null}])
    );
    let (status, _) = c
        .call(P1, "2.1", "GET", "/os-availability-zone/detail", None)
        .await;
    assert_eq!(status, 403);
    let (_, detail) = c
        .call(ADMIN, "2.1", "GET", "/os-availability-zone/detail", None)
        .await;
    let host = nimbus_compute::app::hosts::host_name();
    assert_eq!(
        detail["availabilityZoneInfo"][1]["hosts"][&host]["nova-compute"]["active"],
        true
    );
    assert_eq!(detail["availabilityZoneInfo"][0]["zoneName"], "internal");

    // Hypervisors: admin only; measured from this machine.
    let (status, _) = c.call(P1, "2.1", "GET", "/os-hypervisors", None).await;
    assert_eq!(status, 403);
    let (_, list) = c
        .call(ADMIN, "2.1", "GET", "/os-hypervisors/detail", None)
        .await;
    let hv = &list["hypervisors"][0];
    assert_eq!(hv["hypervisor_hostname"], host.as_str());
    assert!(hv["id"].is_i64());
    assert!(hv["cpu_info"].is_string(), "a JSON string before 2.28");
    let cpus = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    assert_eq!(hv["vcpus"], cpus);
    assert!(hv["memory_mb"].as_i64().unwrap() > 0);
    assert_eq!(hv["memory_mb_used"], 512, "the host reserve, no instances");
    assert!(
        hv["hypervisor_version"].as_i64().unwrap() >= 7_000_000,
        "{hv}"
    );
    let (_, v253) = c
        .call(
            ADMIN,
            "2.53",
            "GET",
            "/os-hypervisors?with_servers=true",
            None,
        )
        .await;
    let id = v253["hypervisors"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(v253["hypervisors"][0].get("servers"), None);
    let (status, show) = c
        .call(ADMIN, "2.88", "GET", &format!("/os-hypervisors/{id}"), None)
        .await;
    assert_eq!(status, 200);
    assert!(
        show["hypervisor"]["uptime"]
            .as_str()
            .unwrap()
            .contains("load average")
    );
    assert!(show["hypervisor"].get("vcpus").is_none());
    let (status, _) = c
        .call(ADMIN, "2.53", "GET", "/os-hypervisors/1", None)
        .await;
    assert_eq!(status, 400, "2.53 wants a uuid");
    let (_, stats) = c
        .call(ADMIN, "2.87", "GET", "/os-hypervisors/statistics", None)
        .await;
    assert_eq!(stats["hypervisor_statistics"]["count"], 1);
    let (status, _) = c
        .call(ADMIN, "2.88", "GET", "/os-hypervisors/statistics", None)
        .await;
    assert_eq!(status, 404);

    // Services: list, disable in both forms, refuse the scheduler.
    let (status, _) = c.call(P1, "2.1", "GET", "/os-services", None).await;
    assert_eq!(status, 403);
    let (_, list) = c.call(ADMIN, "2.11", "GET", "/os-services", None).await;
    let binaries: Vec<&str> = list["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["binary"].as_str().unwrap())
        .collect();
    assert_eq!(binaries, ["nova-compute", "nova-scheduler"]);
    assert_eq!(list["services"][0]["forced_down"], false);
    let (status, body) = c
        .call(
            ADMIN,
            "2.1",
            "PUT",
            "/os-services/disable-log-reason",
            Some(json!({"host": host, "binary": "nova-compute", "disabled_reason": "maint"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["service"]["status"], "disabled");
    let (_, zones) = c
        .call(P1, "2.1", "GET", "/os-availability-zone", None)
        .await;
    assert_eq!(
        zones["availabilityZoneInfo"][0]["zoneState"]["available"],
        false
    );
    assert!(
        !nimbus_compute::app::hosts::accepting_servers(&c.svc)
            .await
            .unwrap()
    );
    let (_, list) = c
        .call(
            ADMIN,
            "2.53",
            "GET",
            "/os-services?binary=nova-compute",
            None,
        )
        .await;
    let uuid = list["services"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(list["services"][0]["disabled_reason"], "maint");
    let (status, body) = c
        .call(
            ADMIN,
            "2.53",
            "PUT",
            &format!("/os-services/{uuid}"),
            Some(json!({"status": "enabled"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["service"]["status"], "enabled");
    assert!(body["service"]["disabled_reason"].is_null());
    let scheduler = json!({"host": host, "binary": "nova-scheduler"});
    let (status, _) = c
        .call(ADMIN, "2.1", "PUT", "/os-services/disable", Some(scheduler))
        .await;
    assert_eq!(status, 400);
}
