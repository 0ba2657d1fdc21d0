//! Nova's image proxy (`/images` below 2.36, nova's `images.py` and
//! `views/images.py`): Glance's images in nova's shape. Visibility and
//! policy are Glance's, through the in-process image service. Listings take
//! nova's filters (`name`, `status`, `changes-since`, `server`, `type`,
//! `minRam`, `minDisk`, `property-*`) and `limit`/`marker` pages with an
//! `images_links` next link.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use nimbus_image::app::model::{Image, Status};
use serde_json::{Map, Value, json};

use super::flavors::{Params, next_query};
use super::require_proxy;
use super::views::isotime;
use super::{Microversion, PublicBase};
use crate::app::ComputeService;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/images", get(index))
        .route("/images/detail", get(detail))
        .route("/images/{id}", get(show).delete(destroy))
}

fn not_found() -> ApiError {
    ApiError::not_found("Image not found.")
}

/// nova's `_get_status`: Glance's status in nova's vocabulary.
fn status(s: Status) -> &'static str {
    match s.as_str() {
        "active" => "ACTIVE",
        "queued" | "saving" => "SAVING",
        "deleted" | "pending_delete" => "DELETED",
        "killed" => "ERROR",
        _ => "UNKNOWN",
    }
}

fn brief(base: &PublicBase, img: &Image) -> Value {
    json!({
        "id": img.id,
        "name": img.name,
        "links": links(base, img),
    })
}

fn links(base: &PublicBase, img: &Image) -> Value {
    let mut l = base.links(&format!("images/{}", img.id));
    if let Some(arr) = l.as_array_mut() {
        arr.push(json!({
            "rel": "alternate",
            "type": "application/vnd.openstack.image",
            "href": format!("{}/image/images/{}", base.0, img.id),
        }));
    }
    l
}

/// nova's `ViewBuilder.show`.
fn full(base: &PublicBase, img: &Image) -> Value {
    let metadata: Map<String, Value> = img
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let st = status(img.status);
    // nova's `_get_progress`.
    let progress = match img.status.as_str() {
        "active" => 100,
        "saving" => 50,
        "queued" => 25,
        _ => 0,
    };
    let mut out = json!({
        "id": img.id,
        "name": img.name,
        "minRam": img.min_ram,
        "minDisk": img.min_disk,
        "progress": progress,
        "status": st,
        "created": isotime(img.created_at),
        "updated": isotime(img.updated_at),
        "metadata": metadata,
        "OS-EXT-IMG-SIZE:size": img.size,
        "links": links(base, img),
    });
    if let Some(server) = img.properties.get("instance_uuid") {
        out["server"] = json!({
            "id": server,
            "links": base.links(&format!("servers/{server}")),
        });
    }
    if let Some(auto) = img.properties.get("auto_disk_config") {
        // oslo's non-strict bool_from_string.
        let on = matches!(
            auto.to_ascii_lowercase().as_str(),
            "1" | "t" | "true" | "on" | "y" | "yes"
        );
        out["OS-DCF:diskConfig"] = json!(if on { "AUTO" } else { "MANUAL" });
    }
    out
}

/// nova's `max_limit`: the most one listing returns.
const MAX_LIMIT: usize = 1000;

/// Images asked of Glance per call while collecting a listing.
const GLANCE_PAGE: usize = 1000;

/// A listing request: what Glance filters (`glance`, Glance v2 query
/// parameters as nova's `_extract_query_params_v2` makes them) and what
/// this proxy filters after it, because Glance v2 compares `min_ram` and
/// `min_disk` for equality and takes `updated_at=gte:` where ours has no
/// time filter.
#[derive(Debug, Default, PartialEq)]
struct ListQuery {
    glance: Vec<(String, String)>,
    changes_since: Option<i64>,
    min_ram: Option<i64>,
    min_disk: Option<i64>,
    /// `None`: every image (nova with no or a zero `limit`).
    limit: Option<usize>,
    marker: Option<String>,
    /// A listing this long gets a `next` link (0: never), as nova's
    /// `_get_collection_links`: min(limit, max_limit), max_limit without a
    /// limit.
    full_page: usize,
}

impl ListQuery {
    fn keeps(&self, img: &Image) -> bool {
        self.changes_since.is_none_or(|t| img.updated_at >= t)
            && self.min_ram.is_none_or(|r| img.min_ram == r)
            && self.min_disk.is_none_or(|d| img.min_disk == d)
    }
}

fn integer(key: &str, value: &str) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .map_err(|_| ApiError::bad_request(format!("Invalid value for {key}: '{value}'")))
}

/// A `changes-since` time: ISO 8601, with or without a zone (UTC then).
fn parse_time(value: &str) -> Result<i64, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(t.timestamp_micros());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(value, fmt) {
            return Ok(t.and_utc().timestamp_micros());
        }
    }
    Err(ApiError::bad_request(format!(
        "Bad \"changes-since\" query filter format. Use ISO 8601 DateTime notation. Got '{value}'."
    )))
}

/// nova's `_get_filters` and `get_pagination_params`. A repeated
/// parameter counts with its last value, as webob reads it.
fn list_query(params: &[(String, String)]) -> Result<ListQuery, ApiError> {
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in params {
        last.insert(k.as_str(), v.as_str());
    }
    let mut q = ListQuery {
        full_page: MAX_LIMIT,
        ..ListQuery::default()
    };
    for (&key, &value) in &last {
        match key {
            "name" => q.glance.push(("name".into(), value.into())),
            // Glance's statuses are lower case.
            "status" => q.glance.push(("status".into(), value.to_ascii_lowercase())),
            // A server id, or a link to the server: its last segment.
            "server" => {
                let id = value.rsplit_once('/').map_or(value, |(_, id)| id);
                q.glance.push(("instance_uuid".into(), id.into()));
            }
            "type" => q.glance.push(("image_type".into(), value.into())),
            "changes-since" => q.changes_since = Some(parse_time(value)?),
            "minRam" => q.min_ram = Some(integer(key, value)?),
            "minDisk" => q.min_disk = Some(integer(key, value)?),
            "limit" => {
                let n = usize::try_from(integer(key, value)?).map_err(|_| {
                    ApiError::bad_request(format!("Invalid value for limit: '{value}'"))
                })?;
                q.limit = (n > 0).then_some(n);
                q.full_page = n.min(MAX_LIMIT);
            }
            "marker" => q.marker = Some(value.to_string()).filter(|m| !m.is_empty()),
            // Validated as nova's schema does; Glance is not given them.
            "page_size" | "offset" => {
                integer(key, value)?;
            }
            _ => {
                // Custom properties; nova strips the prefix (with Python's
                // lstrip, which also eats leading letters of the name:
                // Nimbus strips the prefix only).
                if let Some(prop) = key.strip_prefix("property-")
                    && !prop.is_empty()
                {
                    q.glance.push((prop.into(), value.into()));
                }
            }
        }
    }
    Ok(q)
}

/// The images of a listing: Glance's pages, filtered, up to the limit.
async fn collect(
    svc: &ComputeService,
    ctx: &RequestContext,
    q: &ListQuery,
) -> Result<Vec<Image>, ApiError> {
    let glance = svc.images().service();
    let mut out = Vec::new();
    let mut marker = q.marker.clone();
    loop {
        let mut query = q.glance.clone();
        query.push(("limit".into(), GLANCE_PAGE.to_string()));
        if let Some(m) = &marker {
            query.push(("marker".into(), m.clone()));
        }
        let (page, more) = glance.image_list(ctx, &query).await?;
        let next = page.last().map(|i| i.id.clone());
        for img in page {
            if q.keeps(&img) {
                out.push(img);
                if q.limit.is_some_and(|l| out.len() >= l) {
                    return Ok(out);
                }
            }
        }
        match next {
            // Each round moves the marker forward, so this ends.
            Some(id) if more && marker.as_deref() != Some(id.as_str()) => marker = Some(id),
            _ => return Ok(out),
        }
    }
}

/// nova's `_list_view`: the images and, when the page is full, a `next`
/// link to `path` with the query and the last image as the marker.
async fn list(
    svc: &ComputeService,
    ctx: &RequestContext,
    base: &PublicBase,
    params: &[(String, String)],
    path: &str,
    render: impl Fn(&PublicBase, &Image) -> Value,
) -> Result<Json<Value>, ApiError> {
    let q = list_query(params)?;
    let images = collect(svc, ctx, &q).await?;
    let items: Vec<Value> = images.iter().map(|i| render(base, i)).collect();
    let mut out = json!({ "images": items });
    if q.full_page > 0
        && images.len() == q.full_page
        && let Some(last) = images.last()
    {
        out["images_links"] = base.next(&format!("{path}?{}", next_query(params, &last.id)));
    }
    Ok(Json(out))
}

async fn index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    base: PublicBase,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    list(&svc, &ctx, &base, &params.0, "images", brief).await
}

async fn detail(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    base: PublicBase,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    list(&svc, &ctx, &base, &params.0, "images/detail", full).await
}

async fn show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    base: PublicBase,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let img = svc
        .images()
        .image_get(&ctx, &id)
        .await
        .map_err(|_| not_found())?;
    Ok(Json(json!({ "image": full(&base, &img) })))
}

async fn destroy(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_proxy(mv)?;
    svc.images().service().image_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn novas_filters_become_glance_queries() {
        let q = list_query(&params(&[
            ("name", "a"),
            ("status", "ACTIVE"),
            ("server", "http://cloud/compute/v2.1/servers/abc"),
            ("type", "snapshot"),
            ("property-os_type", "linux"),
            ("minRam", "64"),
            ("limit", "5"),
            ("limit", "2"),
            ("marker", "m"),
        ]))
        .unwrap();
        let mut glance = q.glance.clone();
        glance.sort();
        assert_eq!(
            glance,
            params(&[
                ("image_type", "snapshot"),
                ("instance_uuid", "abc"),
                ("name", "a"),
                ("os_type", "linux"),
                ("status", "active"),
            ])
        );
        assert_eq!(q.min_ram, Some(64));
        assert_eq!(q.limit, Some(2));
        assert_eq!(q.full_page, 2);
        assert_eq!(q.marker.as_deref(), Some("m"));

        let q = list_query(&params(&[("limit", "0"), ("server", "abc")])).unwrap();
        assert_eq!((q.limit, q.full_page), (None, 0));
        assert_eq!(q.glance, params(&[("instance_uuid", "abc")]));
        assert_eq!(list_query(&[]).unwrap().full_page, MAX_LIMIT);
        assert_eq!(
            list_query(&params(&[("changes-since", "2026-01-02T03:04:05Z")]))
                .unwrap()
                .changes_since,
            Some(1_767_323_045_000_000)
        );
        for bad in [
            ("limit", "-1"),
            ("limit", "x"),
            ("minDisk", "big"),
            ("changes-since", "yesterday"),
        ] {
            assert!(list_query(&params(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn status_follows_nova_map() {
        assert_eq!(status(Status::Active), "ACTIVE");
        assert_eq!(status(Status::Queued), "SAVING");
        assert_eq!(status(Status::Saving), "SAVING");
        assert_eq!(status(Status::PendingDelete), "DELETED");
        assert_eq!(status(Status::Killed), "ERROR");
        assert_eq!(status(Status::Deactivated), "UNKNOWN");
        assert_eq!(status(Status::Importing), "UNKNOWN");
    }
}
