//! Requests a guest makes, answered as nova's handler answers them
//! (`nova/tests/unit/test_metadata.py` MetadataHandlerTestCase / MetadataPasswordTestCase).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use nimbus_configdrive::{Instance, InstanceMetadata, MetadataConfig, Purpose};
use nimbus_metadata::{BoxFuture, InstanceResolver, RequestSource, ResolveError, router};
use tower::ServiceExt as _;

/// Resolves by source address, keeps passwords in memory (compute keeps them in the database).
#[derive(Default)]
struct Resolver {
    by_ip: HashMap<IpAddr, Instance>,
    passwords: Mutex<HashMap<String, String>>,
    fail: Option<ResolveError>,
}

impl InstanceResolver for Resolver {
    fn resolve<'a>(
        &'a self,
        source: &'a RequestSource,
    ) -> BoxFuture<'a, Result<Option<InstanceMetadata>, ResolveError>> {
        Box::pin(async move {
            if let Some(e) = &self.fail {
                return Err(e.clone());
            }
            let Some(ip) = source.remote_addr else {
                return Ok(None);
            };
            let Some(inst) = self.by_ip.get(&ip) else {
                return Ok(None);
            };
            let password = self.passwords.lock().unwrap().get(&inst.uuid).cloned();
            let purpose = Purpose::Service {
                address: Some(ip.to_string()),
                password,
            };
            Ok(Some(InstanceMetadata::new(
                inst.clone(),
                MetadataConfig::default(),
                purpose,
            )))
        })
    }

    fn store_password<'a>(
        &'a self,
        uuid: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<(), ResolveError>> {
        Box::pin(async move {
            self.passwords
                .lock()
                .unwrap()
                .insert(uuid.to_string(), password.to_string());
            Ok(())
        })
    }
}

const GUEST: &str = "10.0.0.5";

fn resolver() -> Arc<Resolver> {
    let inst: Instance = serde_json::from_value(serde_json::json!({
        "uuid": "b65cee2f-8c69-4aeb-be2f-f79742548fc2",
        "name": "vm1", "hostname": "vm1", "project_id": "p1", "availability_zone": "nova",
        "keypairs": [{"name": "k1", "type": "ssh", "public_key": "ssh-ed25519 AAAA k1"}],
        "metadata": {"k": "v"},
        "user_data": "I2Nsb3VkLWNvbmZpZwpydW5jbWQ6IFtlY2hvIGhpXQo=",
        "admin_pass": "never-served",
        "network_info": [{"id": "port1", "address": "fa:16:3e:00:00:01", "type": "tap",
            "network": {"id": "net1", "meta": {"mtu": 1450},
                "subnets": [{"cidr": "10.0.0.0/24", "gateway": {"address": "10.0.0.1"},
                             "ips": [{"address": "10.0.0.5"}], "dns": [], "routes": []}]}}]
    }))
    .unwrap();
    Arc::new(Resolver {
        by_ip: HashMap::from([(GUEST.parse().unwrap(), inst)]),
        ..Default::default()
    })
}

async fn call(
    r: Arc<Resolver>,
    method: &str,
    path: &str,
    from: &str,
    body: &[u8],
) -> (StatusCode, String, Vec<u8>) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::from(body.to_vec()))
        .unwrap();
    let addr: SocketAddr = format!("{from}:40000").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    let resp = router(r).oneshot(req).await.unwrap();
    let status = resp.status();
    let ctype = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, ctype, body)
}

async fn get(r: &Arc<Resolver>, path: &str) -> (StatusCode, String, Vec<u8>) {
    call(r.clone(), "GET", path, GUEST, b"").await
}

#[tokio::test]
async fn root_lists_ec2_versions_for_anyone() {
    // test_root: "\n".join(VERSIONS) + "\nlatest", even before the instance is known.
    let (status, ctype, body) = call(resolver(), "GET", "/", "192.0.2.1", b"").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/plain"));
    assert!(
        String::from_utf8(body)
            .unwrap()
            .ends_with("2008-09-01\n2009-04-04\nlatest")
    );
}

#[tokio::test]
async fn openstack_documents() {
    let r = resolver();
    let (status, ctype, body) = get(&r, "/openstack/latest/meta_data.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let md: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(md["uuid"], "b65cee2f-8c69-4aeb-be2f-f79742548fc2");
    assert_eq!(md["meta"]["k"], "v");
    assert_eq!(md["public_keys"]["k1"], "ssh-ed25519 AAAA k1");
    // The service never has the admin password nor injected files (nova's handler passes no extra_md).
    assert!(md.get("admin_pass").is_none());

    let (_, ctype, body) = get(&r, "/openstack/latest/network_data.json").await;
    assert!(
        ctype.starts_with("text/plain"),
        "nova leaves network_data.json as text/plain"
    );
    let net: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(net["links"][0]["mtu"], 1450);
    assert_eq!(net["networks"][0]["ip_address"], "10.0.0.5");

    let (_, _, body) = get(&r, "/openstack/latest/user_data").await;
    assert_eq!(body, b"#cloud-config\nruncmd: [echo hi]\n");
    let (status, _, body) = get(&r, "/openstack/2013-04-04").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, b"meta_data.json\nuser_data\npassword");
}

#[tokio::test]
async fn ec2_tree() {
    let r = resolver();
    let (_, _, body) = get(&r, "/latest/meta-data/").await;
    let listing = String::from_utf8(body).unwrap();
    assert!(
        listing.contains("public-keys/")
            && listing.contains("placement/")
            && listing.contains("local-ipv4")
    );
    let (_, _, body) = get(&r, "/latest/meta-data/local-ipv4").await;
    assert_eq!(body, b"10.0.0.5");
    let (_, _, body) = get(&r, "/2009-04-04/meta-data/public-keys/").await;
    assert_eq!(body, b"0=k1");
    let (_, _, body) = get(&r, "/2009-04-04/meta-data/public-keys/0/openssh-key").await;
    assert_eq!(body, b"ssh-ed25519 AAAA k1");
    let (_, _, body) = get(&r, "/latest/user-data").await;
    assert_eq!(body, b"#cloud-config\nruncmd: [echo hi]\n");
    // test_invalid_path_is_404, test_version_root with 9999-99-99.
    assert_eq!(
        get(&r, "/2009-04-04/user-data-invalid").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(&r, "/9999-99-99").await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn unknown_source_is_404() {
    let (status, _, _) = call(
        resolver(),
        "GET",
        "/openstack/latest/meta_data.json",
        "10.9.9.9",
        b"",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn resolver_errors_map_to_nova_statuses() {
    for (err, status) in [
        (
            ResolveError::BadRequest("X-Instance-ID header is missing from request.".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            ResolveError::Forbidden("Invalid proxy request signature.".into()),
            StatusCode::FORBIDDEN,
        ),
        (
            ResolveError::Internal("database is down at 10.1.1.1".into()),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    ] {
        let r = Arc::new(Resolver {
            fail: Some(err),
            ..Default::default()
        });
        let (got, _, body) = call(r, "GET", "/latest/meta-data/", GUEST, b"").await;
        assert_eq!(got, status);
        assert!(
            !String::from_utf8(body).unwrap().contains("10.1.1.1"),
            "internal detail leaked"
        );
    }
}

/// MetadataPasswordTestCase: get, set once, conflict, too large, bad method.
#[tokio::test]
async fn password_is_set_once() {
    let r = resolver();
    let (status, _, body) = get(&r, "/openstack/latest/password").await;
    assert_eq!((status, body.as_slice()), (StatusCode::OK, &b""[..]));

    let too_big = vec![b'a'; nimbus_metadata::PASSWORD_MAX_SIZE + 1];
    let (status, _, _) = call(
        r.clone(),
        "POST",
        "/openstack/latest/password",
        GUEST,
        &too_big,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(r.clone(), "PUT", "/openstack/latest/password", GUEST, b"x").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _, _) = call(
        r.clone(),
        "POST",
        "/openstack/latest/password",
        GUEST,
        b"encrypted-pw",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, body) = get(&r, "/openstack/2013-04-04/password").await;
    assert_eq!(body, b"encrypted-pw");
    let (status, _, _) = call(
        r.clone(),
        "POST",
        "/openstack/latest/password",
        GUEST,
        b"again",
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Not before GRIZZLY.
    assert_eq!(
        get(&r, "/openstack/2012-08-10/password").await.0,
        StatusCode::NOT_FOUND
    );
}
