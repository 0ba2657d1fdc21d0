//! The metadata service guests reach at 169.254.169.254, as nova's
//! `nova/api/metadata/handler.py` serves it: `/openstack/...`, the EC2 tree (`/latest/meta-data/...`,
//! `/2009-04-04/user-data`, ...) and `/openstack/<version>/password`.
//!
//! There is no authentication: nova identifies the instance by where the request comes from.
//! This crate leaves that to an [`InstanceResolver`] the compute service provides (see the
//! README for how it resolves), and renders whatever [`InstanceMetadata`] it returns.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nimbus_configdrive::metadata::{EC2_VERSIONS, MIME_JSON};
use nimbus_configdrive::{ErrorKind, InstanceMetadata, Lookup};

/// Password chunks nova stores (`password_0` .. `password_3` in system metadata).
pub const PASSWORD_CHUNKS: usize = 4;
/// Length of one chunk.
pub const PASSWORD_CHUNK_LENGTH: usize = 255;
/// Largest password body accepted (`MAX_SIZE` in `nova/api/metadata/password.py`).
pub const PASSWORD_MAX_SIZE: usize = PASSWORD_CHUNKS * PASSWORD_CHUNK_LENGTH;

/// Where a request came from: what the resolver identifies the instance by.
#[derive(Debug, Clone)]
pub struct RequestSource {
    /// The TCP peer, when the server was started with connect info.
    pub remote_addr: Option<IpAddr>,
    /// Request headers (`X-Forwarded-For`, `X-Instance-ID`, ... from a metadata proxy).
    pub headers: HeaderMap,
}

/// Why an instance could not be resolved or a password not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolveError {
    /// The request is malformed (missing or repeated proxy headers): 400.
    BadRequest(String),
    /// A proxy signature did not match: 403.
    Forbidden(String),
    /// Anything else; the guest sees nova's generic message: 500.
    Internal(String),
}

/// A boxed future, so the trait stays object safe without extra dependencies.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the compute service plugs in: finding the requesting instance and storing its password.
pub trait InstanceResolver: Send + Sync + 'static {
    /// The metadata of the instance `source` belongs to, rendered with
    /// `Purpose::Service { address, password }`; `Ok(None)` answers 404.
    fn resolve<'a>(
        &'a self,
        source: &'a RequestSource,
    ) -> BoxFuture<'a, Result<Option<InstanceMetadata>, ResolveError>>;

    /// Stores the password the guest posted (nova: `convert_password` into system metadata).
    /// `password` is at most [`PASSWORD_MAX_SIZE`] bytes.
    fn store_password<'a>(
        &'a self,
        instance_uuid: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<(), ResolveError>>;
}

/// The metadata service router; mount it where guests reach 169.254.169.254. For
/// `remote_addr`, serve it with `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn router(resolver: Arc<dyn InstanceResolver>) -> Router {
    Router::new().fallback(handle).with_state(resolver)
}

fn text(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = (status, body.into()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    r
}

fn error(status: StatusCode, message: &str) -> Response {
    text(
        status,
        format!(
            "{} {}\n\n{message}\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ),
    )
}

fn resolve_error(e: ResolveError) -> Response {
    match e {
        ResolveError::BadRequest(m) => error(StatusCode::BAD_REQUEST, &m),
        ResolveError::Forbidden(m) => error(StatusCode::FORBIDDEN, &m),
        ResolveError::Internal(m) => {
            tracing::error!(error = %m, "metadata: resolving the instance failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unknown error has occurred. Please try your request again.",
            )
        }
    }
}

/// Whether `path` normalizes to `/` (nova answers the EC2 version list without an instance).
fn is_root(path: &str) -> bool {
    let mut depth: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                depth.pop();
            }
            p => depth.push(p),
        }
    }
    depth.is_empty()
}

async fn handle(State(resolver): State<Arc<dyn InstanceResolver>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    if is_root(&path) {
        let mut versions: Vec<&str> = EC2_VERSIONS.to_vec();
        versions.push("latest");
        return text(StatusCode::OK, versions.join("\n"));
    }
    let remote_addr = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let source = RequestSource {
        remote_addr,
        headers: request.headers().clone(),
    };
    let md = match resolver.resolve(&source).await {
        Ok(Some(md)) => md,
        Ok(None) => return error(StatusCode::NOT_FOUND, "The resource could not be found."),
        Err(e) => return resolve_error(e),
    };
    match md.lookup(&path) {
        Ok(Lookup::Data { body, content_type }) => {
            let mut r = text(StatusCode::OK, body);
            if content_type == MIME_JSON {
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(MIME_JSON));
            }
            r
        }
        Ok(Lookup::Password) => password(resolver.as_ref(), &md, request).await,
        Err(e) if e.kind == ErrorKind::NotFound => {
            error(StatusCode::NOT_FOUND, "The resource could not be found.")
        }
        Err(e) => {
            tracing::error!(error = %e, "metadata: lookup failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unknown error has occurred. Please try your request again.",
            )
        }
    }
}

/// `handle_password`: GET reads, POST stores once, anything else is a 400.
async fn password(
    resolver: &dyn InstanceResolver,
    md: &InstanceMetadata,
    request: Request,
) -> Response {
    match *request.method() {
        Method::GET | Method::HEAD => text(
            StatusCode::OK,
            md.password().unwrap_or_default().to_string(),
        ),
        Method::POST => {
            if md.password().is_some() {
                return error(
                    StatusCode::CONFLICT,
                    "There was a conflict when trying to complete your request.",
                );
            }
            let declared = request
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > PASSWORD_MAX_SIZE as u64) {
                return error(StatusCode::BAD_REQUEST, "Request is too large.");
            }
            let Ok(body) = to_bytes(request.into_body(), PASSWORD_MAX_SIZE).await else {
                return error(StatusCode::BAD_REQUEST, "Request is too large.");
            };
            let Ok(pass) = std::str::from_utf8(&body) else {
                return error(StatusCode::BAD_REQUEST, "The password must be UTF-8.");
            };
            match resolver.store_password(&md.instance().uuid, pass).await {
                Ok(()) => text(StatusCode::OK, ""),
                Err(e) => resolve_error(e),
            }
        }
        _ => error(StatusCode::BAD_REQUEST, "GET and POST only are supported."),
    }
}

/// Splits a password as nova's `convert_password` does: `password_0` .. `password_3`, 255
/// characters each, empty strings for unused chunks. Joining them in key order gives it back.
pub fn password_chunks(password: &str) -> Vec<(String, String)> {
    let chars: Vec<char> = password.chars().collect();
    (0..PASSWORD_CHUNKS)
        .map(|i| {
            let start = (i * PASSWORD_CHUNK_LENGTH).min(chars.len());
            let end = ((i + 1) * PASSWORD_CHUNK_LENGTH).min(chars.len());
            (format!("password_{i}"), chars[start..end].iter().collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_detection_normalizes() {
        assert!(is_root("/"));
        assert!(is_root("/foo/../"));
        assert!(!is_root("/latest"));
    }

    #[test]
    fn chunks_like_convert_password() {
        let p = "a".repeat(300);
        let c = password_chunks(&p);
        assert_eq!(c.len(), 4);
        assert_eq!(c[0].1.len(), 255);
        assert_eq!(c[1].1.len(), 45);
        assert_eq!(c[2], ("password_2".to_string(), String::new()));
        let joined: String = c.iter().map(|(_, v)| v.as_str()).collect();
        assert_eq!(joined, p);
    }
}
