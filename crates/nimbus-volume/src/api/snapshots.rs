//! `/snapshots`.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, ApiVersion, Json, PageParams, RequestContext};
use serde_json::{Value, json};

use super::{Params, S, body_object, next_links, opt_str, param, parse_bool, views};
use crate::app::check_metadata;
use crate::app::model::Snapshot;

/// Cinder's `osapi_max_limit`.
const MAX_LIMIT: usize = 1000;

pub(super) async fn create(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let obj = body_object(&body, "snapshot")?;
    if !obj.contains_key("volume_id") {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute snapshot. 'volume_id' is a required property.",
        ));
    }
    // Cinder's schema allows a null volume_id (uuid_allow_null); the volume
    // lookup then fails: 404.
    let Some(volume_id) = opt_str(obj, "volume_id")? else {
        return Err(ApiError::not_found("Volume None could not be found."));
    };
    let force = obj
        .get("force")
        .map(|f| parse_bool("force", f))
        .transpose()?
        .unwrap_or(false);
    let metadata = match obj.get("metadata") {
        Some(Value::Object(m)) => check_metadata(m)?,
        None | Some(Value::Null) => Default::default(),
        Some(_) => {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute metadata.",
            ));
        }
    };
    let s = st
        .svc
        .snapshot_create(
            &ctx,
            &volume_id,
            opt_str(obj, "name")?.or(opt_str(obj, "display_name")?),
            opt_str(obj, "description")?.or(opt_str(obj, "display_description")?),
            metadata,
            force,
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"snapshot": views::without_extension_attributes(views::snapshot(version, &s))}),
        ),
    )
        .into_response())
}

pub(super) async fn list(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path(project): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    list_any(st, ctx, version, (project, params), false).await
}

pub(super) async fn list_detail(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path(project): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    list_any(st, ctx, version, (project, params), true).await
}

/// The list and detail views with Cinder's filters (`name`, `status`,
/// `volume_id`, `metadata`), sorting and paging. The two views are the same
/// but for the `os-extended-snapshot-attributes` Cinder's extension adds to
/// `detail` (and show) only.
async fn list_any(
    st: super::ApiState,
    ctx: RequestContext,
    version: ApiVersion,
    (project, params): (String, Vec<(String, String)>),
    detail: bool,
) -> Result<Response, ApiError> {
    let path = if detail {
        "snapshots/detail"
    } else {
        "snapshots"
    };
    let all_tenants = param(&params, "all_tenants")
        .is_some_and(|v| parse_bool("all_tenants", &json!(v)).unwrap_or(true));
    // Bad paging or sorting is refused before anything is read (Cinder).
    let page = PageParams::parse(param(&params, "limit"), param(&params, "marker"), MAX_LIMIT)?;
    let offset = match param(&params, "offset") {
        None => 0,
        Some(o) => o
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request("offset must be a non-negative integer."))?,
    };
    let keys = sort_keys(&params)?;
    // A metadata filter that is not a dict of strings matches nothing.
    let metadata = match param(&params, "metadata") {
        None => Some(Default::default()),
        Some(m) => super::literal::parse_str_dict(m),
    };
    let mut all: Vec<Snapshot> = match metadata {
        None => Vec::new(),
        Some(metadata) => st
            .svc
            .snapshot_list(&ctx, all_tenants)
            .await?
            .into_iter()
            .filter(|s| param(&params, "volume_id").is_none_or(|v| s.volume_id == v))
            .filter(|s| param(&params, "status").is_none_or(|v| s.status.as_str() == v))
            .filter(|s| param(&params, "name").is_none_or(|v| s.name.as_deref() == Some(v)))
            .filter(|s| metadata.iter().all(|(k, v)| s.metadata.get(k) == Some(v)))
            .collect(),
    };
    all.sort_by(|a, b| {
        for (key, desc) in &keys {
            let ord = match key.as_str() {
                "id" => a.id.cmp(&b.id),
                "name" => a.name.cmp(&b.name),
                "size" => a.size.cmp(&b.size),
                "status" => a.status.as_str().cmp(b.status.as_str()),
                "updated_at" => a.updated_at.cmp(&b.updated_at),
                _ => a.created_at.cmp(&b.created_at),
            };
            let ord = if *desc { ord.reverse() } else { ord };
            if ord.is_ne() {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    });
    let start = match &page.marker {
        None => 0,
        Some(m) => all
            .iter()
            .position(|s| &s.id == m)
            .map(|i| i + 1)
            .ok_or_else(|| ApiError::not_found(format!("Marker {m} could not be found.")))?,
    };
    let items: Vec<&Snapshot> = all
        .iter()
        .skip(start.saturating_add(offset))
        .take(page.limit)
        .collect();
    let out: Vec<Value> = items
        .iter()
        .map(|s| match detail {
            true => views::snapshot(version, s),
            false => views::without_extension_attributes(views::snapshot(version, s)),
        })
        .collect();
    let mut body = json!({"snapshots": out});
    let with_count = version.at_least(3, 45)
        && param(&params, "with_count")
            .is_some_and(|v| parse_bool("with_count", &json!(v)).unwrap_or(false));
    let ids: Vec<&str> = items.iter().map(|s| s.id.as_str()).collect();
    if let Some(links) = next_links(
        &st.base,
        &project,
        path,
        &params,
        page.limit,
        &ids,
        with_count.then_some(all.len()),
    ) {
        body["snapshots_links"] = links;
    }
    if with_count {
        body["count"] = json!(all.len());
    }
    Ok(Json(body).into_response())
}

/// `sort` (`k1:dir,k2`) or `sort_key`/`sort_dir` as Cinder reads them;
/// `created_at` descending when none is given.
fn sort_keys(params: &[(String, String)]) -> Result<Vec<(String, bool)>, ApiError> {
    let spec = match (param(params, "sort"), param(params, "sort_key")) {
        (Some(s), _) => s.to_string(),
        (None, Some(k)) => format!("{k}:{}", param(params, "sort_dir").unwrap_or("desc")),
        (None, None) => "created_at:desc".to_string(),
    };
    let mut keys = Vec::new();
    for part in spec.split(',') {
        let (key, dir) = part.split_once(':').unwrap_or((part, "desc"));
        let desc = match dir.trim() {
            "desc" => true,
            "asc" => false,
            other => {
                return Err(ApiError::bad_request(format!(
                    "Invalid sort direction '{other}'."
                )));
            }
        };
        // Cinder sorts by columns: `name` is its `display_name`.
        let key = match key.trim() {
            "display_name" => "name",
            other => other,
        };
        if !["id", "name", "size", "status", "created_at", "updated_at"].contains(&key) {
            return Err(ApiError::bad_request(format!("Invalid sort key '{key}'.")));
        }
        keys.push((key.to_string(), desc));
    }
    Ok(keys)
}

pub(super) async fn show(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path((_p, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let s = st.svc.snapshot_get(&ctx, &id).await?;
    Ok(Json(json!({"snapshot": views::snapshot(version, &s)})).into_response())
}

pub(super) async fn update(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path((_p, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let obj = body_object(&body, "snapshot")?;
    let pick = |a: &str, b: &str| -> Result<Option<Option<String>>, ApiError> {
        if obj.contains_key(a) {
            Ok(Some(opt_str(obj, a)?))
        } else if obj.contains_key(b) {
            Ok(Some(opt_str(obj, b)?))
        } else {
            Ok(None)
        }
    };
    let metadata = match obj.get("metadata") {
        Some(Value::Object(m)) => Some(check_metadata(m)?),
        _ => None,
    };
    let s = st
        .svc
        .snapshot_update(
            &ctx,
            &id,
            pick("name", "display_name")?,
            pick("description", "display_description")?,
            metadata,
        )
        .await?;
    Ok(
        Json(
            json!({"snapshot": views::without_extension_attributes(views::snapshot(version, &s))}),
        )
        .into_response(),
    )
}

pub(super) async fn delete(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    st.svc.snapshot_delete(&ctx, &id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
