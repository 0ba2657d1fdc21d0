//! What every in-process API test needs: a fake authentication layer that
//! turns two test headers into a RequestContext, and one request helper.

use std::path::Path;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use http_body_util::BodyExt;
use nimbus_common::RequestContext;
use nimbus_compute::{ComputeConfig, ComputeService};
use nimbus_image::{ImageConfig, ImageService};
use serde_json::Value;
use tower::ServiceExt;

/// A member (or admin, by `roles`) of `project`, with a fresh request id.
pub fn ctx(project: &str, roles: &str) -> RequestContext {
    RequestContext {
        request_id: format!("req-{}", uuid::Uuid::new_v4()),
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

/// Stands in for the identity service's layer: `x-test-project` and
/// `x-test-roles` (default member,reader) make the caller; without them the
/// request is anonymous.
pub async fn fake_auth(mut req: Request, next: Next) -> axum::response::Response {
    let get = |req: &Request, name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if let Some(project) = get(&req, "x-test-project") {
        let roles = get(&req, "x-test-roles").unwrap_or_else(|| "member,reader".into());
        req.extensions_mut().insert(ctx(&project, &roles));
    }
    next.run(req).await
}

/// `method /v2.1{path}` as `who` (project, roles) at microversion
/// `version`: the status and the JSON body (Null when empty).
pub async fn call(
    app: &Router,
    who: (&str, &str),
    version: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("/v2.1{path}"))
        .header("x-test-project", who.0)
        .header("x-test-roles", who.1)
        .header("openstack-api-version", format!("compute {version}"));
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let response = app.clone().oneshot(req.body(body).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
    };
    (status, value)
}

/// A compute service on a fresh SQLite database with in-process peers,
/// and its router behind [`fake_auth`].
pub struct Cloud {
    _dir: tempfile::TempDir,
    pub svc: ComputeService,
    pub app: Router,
}

/// A new [`Cloud`] (virt_type qemu: nothing here boots under KVM).
pub async fn cloud() -> Cloud {
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
    let svc = ComputeService::new(
        db.clone(),
        config,
        crate::peers(&db, dir.path(), &images).await,
    )
    .await
    .unwrap();
    let app = nimbus_compute::router(svc.clone(), "http://cloud:1", |r| {
        r.route_layer(axum::middleware::from_fn(fake_auth))
    });
    Cloud {
        _dir: dir,
        svc,
        app,
    }
}

impl Cloud {
    /// [`call`] against this cloud's router.
    pub async fn call(
        &self,
        who: (&str, &str),
        version: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        call(&self.app, who, version, method, path, body).await
    }
}

/// Creates an image as p1 in `images` and uploads `file` into it: its id.
pub async fn upload(images: &ImageService, attrs: Value, file: &Path) -> String {
    let c = ctx("p1", "member,reader");
    let image = images
        .image_create(&c, attrs.as_object().unwrap())
        .await
        .unwrap();
    let data = std::fs::read(file).unwrap();
    let len = data.len() as u64;
    images
        .image_upload(
            &c,
            &image.id,
            None,
            Some(len),
            Body::from(data).into_data_stream(),
        )
        .await
        .unwrap();
    image.id
}
