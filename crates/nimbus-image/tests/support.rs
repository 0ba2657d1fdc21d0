//! A fresh service per test, and requests as a given project and role.

use std::path::{Path, PathBuf};
use std::process::Command;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use http_body_util::BodyExt;
use nimbus_common::RequestContext;
use nimbus_image::{ImageConfig, ImageService};
use serde_json::Value;
use tower::ServiceExt;

/// The service under test and its files.
pub struct Harness {
    pub svc: ImageService,
    pub app: Router,
    pub dir: tempfile::TempDir,
}

/// A reply.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?}", self.body))
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
    let project = header(&req, "x-test-project");
    let roles = header(&req, "x-test-roles");
    if let Some(project) = project {
        let roles = roles.unwrap_or_else(|| "member,reader".into());
        let ctx = RequestContext {
            request_id: "req-test".into(),
            user_id: format!("user-{project}"),
            user_name: format!("user-{project}"),
            user_domain_id: "default".into(),
            project_id: Some(project.clone()),
            project_name: Some(project),
            project_domain_id: Some("default".into()),
            domain_id: None,
            roles: roles.split(',').map(str::to_string).collect(),
            audit_id: "audit".into(),
        };
        req.extensions_mut().insert(ctx);
    }
    next.run(req).await
}

/// A database: SQLite in `dir`, or a fresh PostgreSQL database when asked.
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
    let name = format!("nimbus_image_test_{}", uuid::Uuid::new_v4().simple());
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

pub async fn harness_with(postgres: bool, tweak: impl FnOnce(&mut ImageConfig)) -> Option<Harness> {
    // Internal error details go to the test output.
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let dir = tempfile::tempdir().unwrap();
    let db = database(dir.path(), postgres).await?;
    let mut config = ImageConfig::under(dir.path());
    tweak(&mut config);
    let svc = ImageService::new(db, config).await.unwrap();
    let app = nimbus_image::router(svc.clone(), "http://cloud:1", |r| {
        r.route_layer(axum::middleware::from_fn(fake_auth))
    });
    Some(Harness { svc, app, dir })
}

pub async fn harness() -> Harness {
    harness_with(false, |_| {}).await.unwrap()
}

impl Harness {
    pub async fn send(&self, req: axum::http::request::Builder, body: Body) -> Reply {
        let response = self
            .app
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
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
        axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .header("x-test-project", project)
    }

    pub async fn json(&self, method: &str, uri: &str, project: &str, body: Value) -> Reply {
        let req = Self::req(method, uri, project).header("content-type", "application/json");
        self.send(req, Body::from(body.to_string())).await
    }

    pub async fn get(&self, uri: &str, project: &str) -> Reply {
        self.send(Self::req("GET", uri, project), Body::empty())
            .await
    }

    pub async fn patch(&self, id: &str, project: &str, ops: Value) -> Reply {
        let req = Self::req("PATCH", &format!("/v2/images/{id}"), project).header(
            "content-type",
            "application/openstack-images-v2.1-json-patch",
        );
        self.send(req, Body::from(ops.to_string())).await
    }

    /// Creates an image and returns its id.
    pub async fn create(&self, project: &str, body: Value) -> String {
        let r = self.json("POST", "/v2/images", project, body).await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        r.json()["id"].as_str().unwrap().to_string()
    }

    pub async fn upload(&self, id: &str, project: &str, data: Vec<u8>) -> Reply {
        let req = Self::req("PUT", &format!("/v2/images/{id}/file"), project)
            .header("content-type", "application/octet-stream")
            .header("content-length", data.len());
        self.send(req, Body::from(data)).await
    }

    /// An image as an admin sees it.
    pub async fn admin_show(&self, id: &str) -> Value {
        let req = Self::req("GET", &format!("/v2/images/{id}"), "admin-project")
            .header("x-test-roles", "admin,member,reader");
        let r = self.send(req, Body::empty()).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.json()
    }

    pub async fn status_of(&self, id: &str) -> String {
        self.admin_show(id).await["status"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Files under the store and staging directories.
    pub fn stored_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for sub in ["images", "images-staging"] {
            if let Ok(entries) = std::fs::read_dir(self.dir.path().join(sub)) {
                out.extend(entries.map(|e| e.unwrap().path()));
            }
        }
        out.sort();
        out
    }
}

/// Runs a tool, panicking with its stderr on failure.
pub fn run(cmd: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} is required: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `qemu-img create -f <fmt> [opts] file size`, returning the file's bytes.
pub fn qemu_img_create(dir: &Path, fmt: &str, opts: &[&str], size: &str) -> Vec<u8> {
    let path = dir.join(format!("made-{}.{fmt}", uuid::Uuid::new_v4().simple()));
    let p = path.to_str().unwrap();
    let mut args = vec!["create", "-q", "-f", fmt];
    args.extend_from_slice(opts);
    args.push(p);
    args.push(size);
    run("qemu-img", &args);
    std::fs::read(&path).unwrap()
}

/// `qemu-img info` virtual size of a file.
pub fn qemu_virtual_size(data: &[u8], fmt: &str) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("probe");
    std::fs::write(&path, data).unwrap();
    let out = run(
        "qemu-img",
        &["info", "--output=json", "-f", fmt, path.to_str().unwrap()],
    );
    let v: Value = serde_json::from_slice(&out).unwrap();
    v["virtual-size"].as_u64().unwrap()
}
