//! HTTP: Glance v2's routes, thin handlers over `app/`, errors in Glance's
//! shape. Every route but version discovery needs an authenticated
//! [`nimbus_common::RequestContext`] (inserted by the identity layer).

mod image_data;
mod images;
mod members;
mod metadef_schemas;
mod metadefs;
mod schemas;
pub mod wire;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use nimbus_common::{ApiError, ErrorStyle, render_errors};
use serde_json::json;

use crate::app::ImageService;

/// Glance v2 under its mount point (`/image`): version discovery, open to
/// all, and the v2 API, which `authenticate` wraps (the binary passes the
/// identity service's auth layer; it must insert a [`RequestContext`]).
/// `public_url` is the base the version links point at.
///
/// [`RequestContext`]: nimbus_common::RequestContext
pub fn router(
    service: ImageService,
    public_url: &str,
    authenticate: impl FnOnce(Router) -> Router,
) -> Router {
    let base = public_url.trim_end_matches('/').to_string();
    let v300 = base.clone();
    Router::new()
        .route(
            "/",
            get(move || async move { (StatusCode::MULTIPLE_CHOICES, axum::Json(versions(&v300))) }),
        )
        .route(
            "/versions",
            get(move || async move { axum::Json(versions(&base)) }),
        )
        .merge(authenticate(v2_routes(service)))
        .fallback(|| async { ApiError::not_found("The resource could not be found.") })
        .layer(render_errors(ErrorStyle::Glance))
}

/// The v2 API routes; every handler needs a [`nimbus_common::RequestContext`].
fn v2_routes(service: ImageService) -> Router {
    Router::new()
        .route("/v2/images", get(images::list).post(images::create))
        .route(
            "/v2/images/{id}",
            get(images::show)
                .patch(images::update)
                .delete(images::delete),
        )
        .route(
            "/v2/images/{id}/file",
            put(image_data::upload).get(image_data::download),
        )
        .route("/v2/images/{id}/stage", put(image_data::stage))
        .route("/v2/images/{id}/import", post(image_data::import))
        .route("/v2/images/{id}/tasks", get(image_data::tasks))
        .route(
            "/v2/images/{id}/actions/deactivate",
            post(images::deactivate),
        )
        .route(
            "/v2/images/{id}/actions/reactivate",
            post(images::reactivate),
        )
        .route(
            "/v2/images/{id}/tags/{tag}",
            put(images::tag_add).delete(images::tag_delete),
        )
        .route(
            "/v2/images/{id}/members",
            get(members::list).post(members::create),
        )
        .route(
            "/v2/images/{id}/members/{member}",
            get(members::show)
                .put(members::update)
                .delete(members::delete),
        )
        .route("/v2/schemas/image", get(schemas::image))
        .route("/v2/schemas/images", get(schemas::images))
        .route("/v2/schemas/member", get(schemas::member))
        .route("/v2/schemas/members", get(schemas::members))
        .route("/v2/schemas/metadefs/{name}", get(metadef_schemas::show))
        .route(
            "/v2/metadefs/namespaces",
            get(metadefs::namespace_list).post(metadefs::namespace_create),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}",
            get(metadefs::namespace_show)
                .put(metadefs::namespace_update)
                .delete(metadefs::namespace_delete),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}/resource_types",
            get(metadefs::association_list).post(metadefs::association_create),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}/resource_types/{rt}",
            axum::routing::delete(metadefs::association_delete),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}/{kind}",
            get(metadefs::item_list)
                .post(metadefs::item_create)
                .delete(metadefs::item_delete_all),
        )
        .route(
            "/v2/metadefs/namespaces/{ns}/{kind}/{name}",
            get(metadefs::item_show)
                .post(metadefs::tag_create)
                .put(metadefs::item_update)
                .delete(metadefs::item_delete),
        )
        .route(
            "/v2/metadefs/resource_types",
            get(metadefs::resource_type_list),
        )
        .route("/v2/info/import", get(schemas::info_import))
        .route("/v2/info/stores", get(schemas::info_stores))
        .with_state(service)
}

/// Glance's supported API versions, newest first (`glance/api/versions.py`).
const VERSIONS: [(&str, &str); 4] = [
    ("v2.16", "CURRENT"),
    ("v2.15", "SUPPORTED"),
    ("v2.9", "SUPPORTED"),
    ("v2.0", "SUPPORTED"),
];

/// The version list (300 at the root, 200 at `/versions`, as Glance).
fn versions(base: &str) -> serde_json::Value {
    let href = format!("{base}/image/v2/");
    let versions: Vec<_> = VERSIONS
        .iter()
        .map(|(id, status)| json!({"id": id, "status": status, "links": [{"rel": "self", "href": href}]}))
        .collect();
    json!({ "versions": versions })
}

/// The value of a header as text.
fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The media type of a request, without parameters, lowercased.
fn media_type(headers: &HeaderMap) -> String {
    header_str(headers, "content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Percent-encodes a query component.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
