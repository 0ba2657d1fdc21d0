//! A fresh service per test, and requests as a given project and role.

use std::path::Path;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use http_body_util::BodyExt;
use nimbus_common::RequestContext;
use nimbus_volume::{VolumeConfig, VolumeDriverKind, VolumeService};
use serde_json::{Value, json};
use tower::ServiceExt;

pub struct Harness {
    pub svc: VolumeService,
    pub images: nimbus_image::ImageService,
    pub app: Router,
    pub image_app: Router,
    pub dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?}", self.body))
    }
}

pub fn ctx(project: &str, roles: &str) -> RequestContext {
    RequestContext {
        request_id: "req-test".into(),
        user_id: format!("user-{project}"),
        user_name: format!("user-{project}"),
        user_domain_id: "default".into(),
        project_id: Some(project.into()),
        project_name: Some(project.into()),
        project_domain_id: Some("default".into()),
        domain_id: None,
        roles: roles.split(',').map(str::to_string).collect(),
        audit_id: "audit".into(),
    }
}

async fn fake_auth(mut req: Request, next: Next) -> axum::response::Response {
    let header = |req: &Request, name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(project) = header(&req, "x-test-project") {
        let roles = header(&req, "x-test-roles").unwrap_or_else(|| "member,reader".into());
        req.extensions_mut().insert(ctx(&project, &roles));
    }
    next.run(req).await
}

/// A database: SQLite in `dir`, or a fresh PostgreSQL database on
/// `NIMBUS_TEST_DATABASE_URL` (`None`, a skip, without it unless
/// `NIMBUS_TEST_REQUIRE_ALL` is set).
pub async fn database(dir: &Path, postgres: bool) -> Option<nimbus_db::Db> {
    if !postgres {
        let db = nimbus_db::Db::open_sqlite(&dir.join("nimbus.sqlite"), 4)
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
    let name = format!("nimbus_volume_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    let db = nimbus_db::Db::connect(&format!("{server}/{name}"), 4)
        .await
        .unwrap();
    db.migrate().await.unwrap();
    Some(db)
}

/// Defines `NAME::sqlite` and `NAME::postgres` calling `NAME(postgres)`.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(false).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(true).await
            }
        }
    };
}

/// A local-backend harness on SQLite or PostgreSQL.
pub async fn harness_on(postgres: bool) -> Option<Harness> {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await?;
    Some(harness_in(dir, db, VolumeDriverKind::Local, |_| {}).await)
}

pub async fn harness_with(
    driver: VolumeDriverKind,
    tweak: impl FnOnce(&mut VolumeConfig),
) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), false).await.unwrap();
    harness_in(dir, db, driver, tweak).await
}

async fn harness_in(
    dir: tempfile::TempDir,
    db: nimbus_db::Db,
    driver: VolumeDriverKind,
    tweak: impl FnOnce(&mut VolumeConfig),
) -> Harness {
    let images =
        nimbus_image::ImageService::new(db.clone(), nimbus_image::ImageConfig::under(dir.path()))
            .await
            .unwrap();
    let mut config = VolumeConfig::under(dir.path());
    config.volume_driver = driver;
    tweak(&mut config);
    let svc = VolumeService::new(db, config, Some(images.clone()))
        .await
        .unwrap();
    let app = nimbus_volume::router(svc.clone(), "http://cloud:1", |r| {
        r.route_layer(axum::middleware::from_fn(fake_auth))
    });
    let image_app = nimbus_image::router(images.clone(), "http://cloud:1", |r| {
        r.route_layer(axum::middleware::from_fn(fake_auth))
    });
    Harness {
        svc,
        images,
        app,
        image_app,
        dir,
    }
}

pub async fn harness() -> Harness {
    harness_with(VolumeDriverKind::Local, |_| {}).await
}

pub const LATEST: &str = "volume 3.70";

impl Harness {
    pub async fn send_to(app: &Router, req: axum::http::request::Builder, body: Body) -> Reply {
        let response = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn req(method: &str, uri: &str, project: &str) -> axum::http::request::Builder {
        Self::req_at(method, uri, project, LATEST)
    }

    /// A request at microversion `version` (`volume 3.x`).
    pub fn req_at(
        method: &str,
        uri: &str,
        project: &str,
        version: &str,
    ) -> axum::http::request::Builder {
        axum::http::Request::builder()
            .method(method)
            .uri(format!("/v3/{project}{uri}"))
            .header("x-test-project", project)
            .header("openstack-api-version", version)
    }

    pub async fn call(&self, method: &str, uri: &str, project: &str, body: Option<Value>) -> Reply {
        let mut req = Self::req(method, uri, project);
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        Self::send_to(&self.app, req, body).await
    }

    pub async fn admin(&self, method: &str, uri: &str, body: Option<Value>) -> Reply {
        let mut req =
            Self::req(method, uri, "admin-project").header("x-test-roles", "admin,member,reader");
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        Self::send_to(&self.app, req, body).await
    }

    /// Creates a volume, waits until it settles, returns its view.
    pub async fn volume(&self, project: &str, body: Value) -> Value {
        let r = self
            .call("POST", "/volumes", project, Some(json!({"volume": body})))
            .await;
        assert_eq!(r.status, 202, "{:?}", r.body);
        let id = r.json()["volume"]["id"].as_str().unwrap().to_string();
        self.wait_volume(project, &id, &["available", "error"])
            .await
    }

    pub async fn wait_volume(&self, project: &str, id: &str, want: &[&str]) -> Value {
        for _ in 0..600 {
            let r = self
                .call("GET", &format!("/volumes/{id}"), project, None)
                .await;
            if r.status == 404 && want.contains(&"deleted") {
                return Value::Null;
            }
            assert_eq!(r.status, 200, "{:?}", r.body);
            let v = r.json()["volume"].clone();
            if want.contains(&v["status"].as_str().unwrap()) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("volume {id} never reached {want:?}");
    }

    pub fn volume_file(&self, id: &str) -> std::path::PathBuf {
        self.dir.path().join("volumes").join(format!("volume-{id}"))
    }
}

/// Writes `data` at `offset` of a file.
pub fn write_at(path: &Path, offset: u64, data: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(data).unwrap();
}

/// Reads `len` bytes at `offset` of a file.
pub fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0; len];
    f.read_exact(&mut buf).unwrap();
    buf
}
