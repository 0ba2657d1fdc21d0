//! HTTP: Cinder v3's routes under `/volume`, thin handlers over `app/`,
//! errors in Cinder's shape. Microversions 3.0 to [`MAX_VERSION`] (3.70,
//! what python-openstackclient 10.5 / openstacksdk 4.22 ask for) are
//! negotiated from `OpenStack-API-Version: volume 3.x`.

mod attachments;
mod extensions;
mod literal;
mod quotas;
mod snapshot_metadata;
mod snapshots;
mod types;
pub mod views;
mod volume_actions;
mod volumes;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use nimbus_common::{ApiError, ApiVersion, ErrorStyle, Json, VersionRange, render_errors};
use serde_json::{Map, Value, json};

use crate::app::VolumeService;

/// The newest microversion served.
pub const MAX_VERSION: ApiVersion = ApiVersion::new(3, 70);

/// Cinder's microversion range.
pub const VERSIONS: VersionRange = VersionRange {
    service_type: "volume",
    legacy_header: None,
    min: ApiVersion::new(3, 0),
    max: MAX_VERSION,
};

/// What every handler gets.
#[derive(Clone, Debug)]
pub(crate) struct ApiState {
    pub svc: VolumeService,
    /// The public base URL (links).
    pub base: String,
}

/// Cinder v3 under its mount point (`/volume`): version discovery, open to
/// all, and the v3 API, which `authenticate` wraps (it must insert a
/// [`nimbus_common::RequestContext`]). `public_url` is the base links use.
pub fn router(
    service: VolumeService,
    public_url: &str,
    authenticate: impl FnOnce(Router) -> Router,
) -> Router {
    let base = public_url.trim_end_matches('/').to_string();
    let (b1, b2) = (base.clone(), base.clone());
    let state = ApiState { svc: service, base };
    Router::new()
        .route(
            "/",
            get(move || async move { (StatusCode::MULTIPLE_CHOICES, Json(versions(&b1))) }),
        )
        .route("/v3", get(move || async move { Json(versions(&b2)) }))
        .route(
            "/v3/",
            get({
                let b = state.base.clone();
                move || async move { Json(versions(&b)) }
            }),
        )
        .merge(authenticate(v3_routes(state)))
        .fallback(|| async { ApiError::not_found("The resource could not be found.") })
        .layer(render_errors(ErrorStyle::Cinder))
}

fn v3_routes(state: ApiState) -> Router {
    Router::new()
        .route(
            "/v3/{project}/volumes",
            get(volumes::list).post(volumes::create),
        )
        .route("/v3/{project}/volumes/detail", get(volumes::list_detail))
        .route("/v3/{project}/volumes/summary", get(volumes::summary))
        .route(
            "/v3/{project}/volumes/{id}",
            get(volumes::show)
                .put(volumes::update)
                .delete(volumes::delete),
        )
        .route(
            "/v3/{project}/volumes/{id}/action",
            post(volume_actions::action),
        )
        .route(
            "/v3/{project}/volumes/{id}/metadata",
            get(volumes::metadata_show)
                .post(volumes::metadata_merge)
                .put(volumes::metadata_replace),
        )
        .route(
            "/v3/{project}/volumes/{id}/metadata/{key}",
            get(volumes::metadata_key_show)
                .put(volumes::metadata_key_set)
                .delete(volumes::metadata_key_delete),
        )
        .route(
            "/v3/{project}/snapshots",
            get(snapshots::list).post(snapshots::create),
        )
        .route(
            "/v3/{project}/snapshots/detail",
            get(snapshots::list_detail),
        )
        .route(
            "/v3/{project}/snapshots/{id}",
            get(snapshots::show)
                .put(snapshots::update)
                .delete(snapshots::delete),
        )
        .route(
            "/v3/{project}/snapshots/{id}/metadata",
            get(snapshot_metadata::show)
                .post(snapshot_metadata::merge)
                .put(snapshot_metadata::replace),
        )
        .route(
            "/v3/{project}/snapshots/{id}/metadata/{key}",
            get(snapshot_metadata::key_show)
                .put(snapshot_metadata::key_set)
                .delete(snapshot_metadata::key_delete),
        )
        .route("/v3/{project}/types", get(types::list).post(types::create))
        .route(
            "/v3/{project}/types/{id}",
            get(types::show).delete(types::delete),
        )
        .route(
            "/v3/{project}/attachments",
            get(attachments::list).post(attachments::create),
        )
        .route(
            "/v3/{project}/attachments/detail",
            get(attachments::list_detail),
        )
        .route(
            "/v3/{project}/attachments/{id}",
            get(attachments::show)
                .put(attachments::update)
                .delete(attachments::delete),
        )
        .route(
            "/v3/{project}/attachments/{id}/action",
            post(attachments::action),
        )
        .route(
            "/v3/{project}/os-quota-sets/{target}",
            get(quotas::show).put(quotas::update).delete(quotas::delete),
        )
        .route(
            "/v3/{project}/os-quota-sets/{target}/defaults",
            get(quotas::defaults),
        )
        .route("/v3/{project}/limits", get(quotas::limits))
        .route("/v3/{project}/os-availability-zone", get(quotas::zones))
        .route("/v3/{project}/extensions", get(extensions::list))
        // Cinder's router has no 405: a method a path does not take is 404
        // (`PUT /volumes/` with an empty id reaches here as `PUT /volumes`).
        .method_not_allowed_fallback(|| async {
            ApiError::not_found("The resource could not be found.")
        })
        .layer(axum::middleware::from_fn(negotiate))
        .with_state(state)
}

/// Negotiates the microversion, hands it to handlers, names it in the reply.
async fn negotiate(mut req: Request, next: Next) -> Response {
    let version = match VERSIONS.negotiate(req.headers()) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(version);
    let mut response = next.run(req).await;
    response
        .headers_mut()
        .extend(VERSIONS.response_headers(version));
    response
}

/// Cinder's version list (300 at the root, 200 at `/v3`).
fn versions(base: &str) -> Value {
    json!({"versions": [{
        "id": "v3.0",
        "status": "CURRENT",
        "version": MAX_VERSION.to_string(),
        "min_version": "3.0",
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"href": "https://docs.openstack.org/", "type": "text/html", "rel": "describedby"},
            {"href": format!("{base}/volume/v3/"), "rel": "self"},
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    }]})
}

/// The object under `key` in a request body (400 if missing).
pub(crate) fn body_object<'a>(
    body: &'a Value,
    key: &str,
) -> Result<&'a Map<String, Value>, ApiError> {
    body.get(key).and_then(Value::as_object).ok_or_else(|| {
        ApiError::bad_request(format!("Missing required element '{key}' in request body."))
    })
}

/// An optional string field (null allowed).
pub(crate) fn opt_str(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value is not a string."
        ))),
    }
}

/// A boolean as Cinder's `strutils.bool_from_string(strict=True)` reads it.
pub(crate) fn parse_bool(key: &str, value: &Value) -> Result<bool, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value is not a valid boolean."
        ))
    };
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "on" | "1" => Ok(true),
            "false" | "f" | "no" | "n" | "off" | "0" => Ok(false),
            _ => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// An integer given as a number or a decimal string.
pub(crate) fn parse_int(key: &str, value: &Value) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {value}. {value} is not an integer."
        ))
    };
    match value {
        Value::Number(n) => n.as_i64().ok_or_else(bad),
        Value::String(s)
            if !s.is_empty()
                && s.len() <= 18
                && s.trim_start_matches('-')
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            s.parse().map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

/// A 3.27+ resource requested at an older microversion is not there.
pub(crate) fn require_version(version: ApiVersion, major: u16, minor: u16) -> Result<(), ApiError> {
    if version.at_least(major, minor) {
        Ok(())
    } else {
        Err(ApiError::not_found("The resource could not be found."))
    }
}

/// Query parameters in order.
pub(crate) type Params = axum::extract::Query<Vec<(String, String)>>;

pub(crate) fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Python's `urlencode` (`quote_plus`) of one query value.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Cinder's `_get_collection_links`: a page gets a `next` link when it is
/// not empty and holds `limit` items (or `count`, with `with_count`) or
/// more; the link repeats the request's query with `marker` (moved to the
/// end) naming the page's last item, as `_get_next_link` builds it.
pub(crate) fn next_links(
    base: &str,
    project: &str,
    collection: &str,
    params: &[(String, String)],
    limit: usize,
    page: &[&str],
    count: Option<usize>,
) -> Option<Value> {
    let last = page.last()?;
    if limit > count.unwrap_or(page.len()) {
        return None;
    }
    let query: Vec<String> = params
        .iter()
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain([("marker", *last)])
        .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
        .collect();
    Some(json!([{
        "rel": "next",
        "href": format!("{base}/volume/v3/{project}/{collection}?{}", query.join("&")),
    }]))
}

/// The state extractor, re-exported for the resource modules.
pub(crate) type S = State<ApiState>;
