//! A fresh identity service on SQLite and a request helper.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use nimbus_db::Db;
use nimbus_identity::{Identity, IdentityConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const ADMIN_PASSWORD: &str = "admin-secret";

/// The service, its router and the directory holding its database and keys.
pub struct Cloud {
    router: Router,
    _dir: tempfile::TempDir,
}

/// A response: status, JSON body (Null when empty), `X-Subject-Token`.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub subject: Option<String>,
}

impl Cloud {
    pub async fn start() -> Cloud {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_sqlite(&dir.path().join("nimbus.sqlite"), 2)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let identity = Identity::open(
            &db,
            IdentityConfig {
                public_url: "http://cloud.test".into(),
                expiration_secs: 3600,
                key_repository: dir.path().join("fernet-keys"),
                max_active_keys: 3,
                catalog: Vec::new(),
            },
        )
        .await
        .unwrap();
        identity.bootstrap(ADMIN_PASSWORD).await.unwrap();
        Cloud {
            router: identity.router(),
            _dir: dir,
        }
    }

    /// `method /v3{path}` with an optional token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(format!("/v3{path}"));
        if let Some(t) = token {
            req = req.header("x-auth-token", t);
        }
        let body = match body {
            Some(b) => {
                req = req.header("content-type", "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let subject = response
            .headers()
            .get("x-subject-token")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        Reply {
            status,
            body,
            subject,
        }
    }

    /// Issues a token for `auth` (the `auth` object); the reply as is.
    pub async fn auth(&self, auth: Value) -> Reply {
        self.call("POST", "/auth/tokens", None, Some(json!({ "auth": auth })))
            .await
    }

    /// A project-scoped password token.
    pub async fn password_token(&self, user: &str, password: &str, project: &str) -> String {
        let reply = self
            .auth(json!({
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": user, "domain": {"id": "default"}, "password": password}}},
                "scope": {"project": {"name": project, "domain": {"id": "default"}}},
            }))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.subject.unwrap()
    }

    pub async fn admin_token(&self) -> String {
        self.password_token("admin", ADMIN_PASSWORD, "admin").await
    }

    /// Creates `project` (if new) and a user with `roles` on it; the user id.
    pub async fn user_with_roles(&self, name: &str, project: &str, roles: &[&str]) -> User {
        let admin = self.admin_token().await;
        let existing = self
            .call(
                "GET",
                &format!("/projects?name={project}"),
                Some(&admin),
                None,
            )
            .await;
        let project_id = match existing.body["projects"][0]["id"].as_str() {
            Some(id) => id.to_string(),
            None => {
                let p = self
                    .call(
                        "POST",
                        "/projects",
                        Some(&admin),
                        Some(json!({"project": {"name": project}})),
                    )
                    .await;
                assert_eq!(p.status, StatusCode::CREATED, "{}", p.body);
                p.body["project"]["id"].as_str().unwrap().to_string()
            }
        };
        let password = format!("{name}-pw");
        let u = self
            .call(
                "POST",
                "/users",
                Some(&admin),
                Some(json!({"user": {"name": name, "password": password}})),
            )
            .await;
        assert_eq!(u.status, StatusCode::CREATED, "{}", u.body);
        let user_id = u.body["user"]["id"].as_str().unwrap().to_string();
        for role in roles {
            self.grant(&admin, &project_id, &user_id, role, "PUT").await;
        }
        User {
            id: user_id,
            name: name.to_string(),
            password,
            project: project.to_string(),
            project_id,
        }
    }

    /// PUTs or DELETEs a role (by name) of a user on a project.
    pub async fn grant(
        &self,
        admin: &str,
        project_id: &str,
        user_id: &str,
        role: &str,
        method: &str,
    ) {
        let r = self
            .call("GET", &format!("/roles?name={role}"), Some(admin), None)
            .await;
        let role_id = r.body["roles"][0]["id"].as_str().unwrap().to_string();
        let g = self
            .call(
                method,
                &format!("/projects/{project_id}/users/{user_id}/roles/{role_id}"),
                Some(admin),
                None,
            )
            .await;
        assert_eq!(g.status, StatusCode::NO_CONTENT, "{}", g.body);
    }
}

/// A test user.
pub struct User {
    pub id: String,
    pub name: String,
    pub password: String,
    pub project: String,
    pub project_id: String,
}

impl User {
    pub async fn token(&self, cloud: &Cloud) -> String {
        cloud
            .password_token(&self.name, &self.password, &self.project)
            .await
    }
}

/// Role names of a list of `{"id","name"}` objects, sorted.
pub fn role_names(roles: &Value) -> Vec<String> {
    let mut names: Vec<String> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}
