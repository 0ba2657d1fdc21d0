//! A fresh service per test on SQLite (or PostgreSQL when
//! `NIMBUS_TEST_DATABASE_URL` is set), and requests as a given project/role.

use std::path::Path;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use http_body_util::BodyExt;
use nimbus_common::RequestContext;
use nimbus_network::{NetworkConfig, NetworkService};
use serde_json::{Value, json};
use tower::ServiceExt;

/// The service under test.
pub struct Harness {
    pub svc: NetworkService,
    pub app: Router,
    _dir: tempfile::TempDir,
}

/// A reply.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?}", self.body))
    }
    /// The NeutronError type.
    pub fn error_type(&self) -> String {
        self.json()["NeutronError"]["type"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

/// A context as the identity layer would build it.
pub fn context(project: &str, roles: &str) -> RequestContext {
    RequestContext {
        request_id: "req-test".into(),
        user_id: format!("user-{project}"),
        user_name: format!("user-{project}"),
        user_domain_id: "default".into(),
        project_id: Some(project.to_string()),
        project_name: Some(project.to_string()),
        project_domain_id: Some("default".into()),
        domain_id: None,
        roles: roles.split(',').map(str::to_string).collect(),
        audit_id: "audit".into(),
    }
}

/// Stands in for the identity layer: the context comes from test headers.
async fn fake_auth(mut req: Request, next: Next) -> axum::response::Response {
    let header = |req: &Request, name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(project) = header(&req, "x-test-project") {
        let roles = header(&req, "x-test-roles").unwrap_or_else(|| "member,reader".into());
        req.extensions_mut().insert(context(&project, &roles));
    }
    next.run(req).await
}

/// SQLite in `dir`, or a fresh PostgreSQL database; `None` when PostgreSQL
/// was asked for but is not configured.
pub async fn database(dir: &Path, postgres: bool) -> Option<nimbus_db::Db> {
    if !postgres {
        let db = nimbus_db::Db::open_sqlite(&dir.join("nimbus.sqlite"), 5)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        return Some(db);
    }
    let Ok(base) = std::env::var("NIMBUS_TEST_DATABASE_URL") else {
        assert!(
            std::env::var("NIMBUS_TEST_REQUIRE_ALL").is_err(),
            "NIMBUS_TEST_DATABASE_URL is required"
        );
        eprintln!("skipped: NIMBUS_TEST_DATABASE_URL is not set");
        return None;
    };
    let admin = nimbus_db::Db::connect(&base, 1).await.unwrap();
    let name = format!("nimbus_network_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    let db = nimbus_db::Db::connect(&format!("{server}/{name}"), 10)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    Some(db)
}

pub async fn harness_on(postgres: bool) -> Option<Harness> {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await?;
    let svc = NetworkService::new(db, NetworkConfig::default()).unwrap();
    let app = nimbus_network::router(svc.clone(), "http://cloud:1", |r| {
        r.route_layer(axum::middleware::from_fn(fake_auth))
    });
    Some(Harness {
        svc,
        app,
        _dir: dir,
    })
}

pub async fn harness() -> Harness {
    harness_on(false).await.unwrap()
}

/// Admin headers.
pub const ADMIN: &str = "admin-project:admin";

impl Harness {
    /// `who` is `project` or `project:roles`.
    pub async fn call(&self, method: &str, uri: &str, who: &str, body: Option<Value>) -> Reply {
        let (project, roles) = who.split_once(':').unwrap_or((who, "member,reader"));
        let roles = if roles == "admin" {
            "admin,member,reader"
        } else {
            roles
        };
        let mut req = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("x-test-project", project)
            .header("x-test-roles", roles);
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply { status, body }
    }

    pub async fn get(&self, uri: &str, who: &str) -> Reply {
        self.call("GET", &format!("/v2.0/{uri}"), who, None).await
    }
    pub async fn post(&self, uri: &str, who: &str, body: Value) -> Reply {
        self.call("POST", &format!("/v2.0/{uri}"), who, Some(body))
            .await
    }
    pub async fn put(&self, uri: &str, who: &str, body: Value) -> Reply {
        self.call("PUT", &format!("/v2.0/{uri}"), who, Some(body))
            .await
    }
    pub async fn delete(&self, uri: &str, who: &str) -> Reply {
        self.call("DELETE", &format!("/v2.0/{uri}"), who, None)
            .await
    }

    /// Creates `{resource: body}` at `collection`, asserting 201; the object.
    pub async fn create(&self, collection: &str, resource: &str, who: &str, body: Value) -> Value {
        let r = self.post(collection, who, json!({ resource: body })).await;
        assert_eq!(
            r.status,
            201,
            "create {resource}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.json()[resource].clone()
    }

    pub async fn network(&self, who: &str, name: &str) -> String {
        self.create("networks", "network", who, json!({"name": name}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn subnet(&self, who: &str, network: &str, cidr: &str, extra: Value) -> Value {
        let mut body = json!({"network_id": network, "cidr": cidr, "ip_version": if cidr.contains(':') { 6 } else { 4 }});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        self.create("subnets", "subnet", who, body).await
    }
}
