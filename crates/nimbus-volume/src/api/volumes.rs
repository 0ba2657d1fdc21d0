//! `/volumes`: create, list, show, update, delete, actions, metadata.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, ApiVersion, Json, PageParams, RequestContext};
use serde_json::{Map, Value, json};

use super::{
    ApiState, Params, S, body_object, next_links, opt_str, param, parse_bool, parse_int, views,
};
use crate::app::check_metadata;
use crate::app::model::Volume;
use crate::app::volumes::{VolumeCreate, VolumeFilters};

/// Cinder's `osapi_max_limit`.
const MAX_LIMIT: usize = 1000;

async fn detail(
    st: &ApiState,
    ctx: &RequestContext,
    version: ApiVersion,
    v: &Volume,
) -> Result<Value, ApiError> {
    let type_name = st.svc.type_name(&v.volume_type_id).await?;
    let attachments = st.svc.volume_attachments(&v.id).await?;
    Ok(views::volume_detail(
        &st.base,
        ctx,
        version,
        v,
        &type_name,
        &attachments,
    ))
}

fn metadata_of(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<BTreeMap<String, String>>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(check_metadata(m)?)),
        Some(_) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value is not an object."
        ))),
    }
}

pub(super) async fn create(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let obj = body_object(&body, "volume")?;
    let size = match obj.get("size") {
        None | Some(Value::Null) => None,
        Some(v) => Some(parse_int("size", v)?),
    };
    let req = VolumeCreate {
        name: opt_str(obj, "name")?.or(opt_str(obj, "display_name")?),
        description: opt_str(obj, "description")?.or(opt_str(obj, "display_description")?),
        size,
        volume_type: opt_str(obj, "volume_type")?,
        snapshot_id: opt_str(obj, "snapshot_id")?,
        source_volid: opt_str(obj, "source_volid")?,
        image_id: opt_str(obj, "imageRef")?.or(opt_str(obj, "image_id")?),
        metadata: metadata_of(obj, "metadata")?.unwrap_or_default(),
        availability_zone: opt_str(obj, "availability_zone")?,
    };
    if obj.get("multiattach").is_some_and(|m| m == &json!(true)) {
        return Err(ApiError::bad_request(
            "Invalid input received: multiattach volumes are not supported by this backend.",
        ));
    }
    if opt_str(obj, "backup_id")?.is_some() {
        return Err(ApiError::bad_request(
            "Invalid input received: backups are not supported.",
        ));
    }
    let v = st.svc.volume_create(&ctx, req).await?;
    let body = views::without_extension_attributes(detail(&st, &ctx, version, &v).await?);
    Ok((StatusCode::ACCEPTED, Json(json!({"volume": body}))).into_response())
}

/// The list filters; `None` when they can match nothing (a `metadata`
/// filter that is not a dict of strings: Cinder's query then finds nothing).
fn filters(
    ctx: &RequestContext,
    params: &[(String, String)],
) -> Result<Option<VolumeFilters>, ApiError> {
    let mut f = VolumeFilters::default();
    for (k, v) in params {
        match k.as_str() {
            "name" | "display_name" => f.name = Some(v.clone()),
            "status" => f.status = Some(v.clone()),
            "availability_zone" => f.availability_zone = Some(v.clone()),
            "bootable" => f.bootable = Some(parse_bool("bootable", &json!(v))?),
            "all_tenants" => {
                f.all_tenants =
                    ctx.is_admin() && parse_bool("all_tenants", &json!(v)).unwrap_or(true)
            }
            "project_id" if ctx.is_admin() => f.project_id = Some(v.clone()),
            "metadata" => match super::literal::parse_str_dict(v) {
                Some(m) => f.metadata = m,
                None => return Ok(None),
            },
            _ => {}
        }
    }
    Ok(Some(f))
}

/// Sorts by Cinder's `sort=key:dir,...` (or `sort_key`/`sort_dir`); the
/// default is newest first.
fn sort(volumes: &mut [Volume], params: &[(String, String)]) -> Result<(), ApiError> {
    let spec = match (param(params, "sort"), param(params, "sort_key")) {
        (Some(s), _) => s.to_string(),
        (None, Some(k)) => format!("{k}:{}", param(params, "sort_dir").unwrap_or("desc")),
        (None, None) => return Ok(()),
    };
    let mut keys = Vec::new();
    for part in spec.split(',') {
        let (key, dir) = part.split_once(':').unwrap_or((part, "desc"));
        // Cinder sorts by columns: `name` is its `display_name`.
        let key = match key.trim() {
            "display_name" => "name",
            other => other,
        };
        let desc = match dir.trim() {
            "desc" => true,
            "asc" => false,
            other => {
                return Err(ApiError::bad_request(format!(
                    "Invalid sort direction '{other}'."
                )));
            }
        };
        if ![
            "id",
            "name",
            "size",
            "status",
            "created_at",
            "updated_at",
            "bootable",
        ]
        .contains(&key.trim())
        {
            return Err(ApiError::bad_request(format!(
                "Invalid sort key '{}'.",
                key.trim()
            )));
        }
        keys.push((key.trim().to_string(), desc));
    }
    volumes.sort_by(|a, b| {
        for (key, desc) in &keys {
            let ord = match key.as_str() {
                "id" => a.id.cmp(&b.id),
                "name" => a.name.cmp(&b.name),
                "size" => a.size.cmp(&b.size),
                "status" => a.status.as_str().cmp(b.status.as_str()),
                "updated_at" => a.updated_at.cmp(&b.updated_at),
                "bootable" => a.bootable.cmp(&b.bootable),
                _ => a.created_at.cmp(&b.created_at),
            };
            let ord = if *desc { ord.reverse() } else { ord };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    });
    Ok(())
}

async fn list_any(
    st: ApiState,
    ctx: RequestContext,
    version: ApiVersion,
    (project, params): (String, Vec<(String, String)>),
    full: bool,
    path: &str,
) -> Result<Response, ApiError> {
    let page = PageParams::parse(param(&params, "limit"), param(&params, "marker"), MAX_LIMIT)?;
    let mut all = match filters(&ctx, &params)? {
        Some(f) => st.svc.volume_list(&ctx, &f).await?,
        None => Vec::new(),
    };
    sort(&mut all, &params)?;
    let count = all.len();
    let mut start = 0;
    if let Some(m) = &page.marker {
        start = all
            .iter()
            .position(|v| &v.id == m)
            .map(|i| i + 1)
            .ok_or_else(|| ApiError::not_found(format!("Marker {m} could not be found.")))?;
    }
    if let Some(o) = param(&params, "offset") {
        let o: usize = o
            .parse()
            .map_err(|_| ApiError::bad_request("offset must be a non-negative integer."))?;
        start = start.saturating_add(o);
    }
    let items: Vec<&Volume> = all.iter().skip(start).take(page.limit).collect();
    let mut out = Vec::with_capacity(items.len());
    for v in &items {
        out.push(if full {
            detail(&st, &ctx, version, v).await?
        } else {
            views::volume_summary(&st.base, v)
        });
    }
    let mut body = json!({"volumes": out});
    let with_count = version.at_least(3, 45)
        && param(&params, "with_count")
            .is_some_and(|v| parse_bool("with_count", &json!(v)).unwrap_or(false));
    let ids: Vec<&str> = items.iter().map(|v| v.id.as_str()).collect();
    if let Some(links) = next_links(
        &st.base,
        &project,
        path,
        &params,
        page.limit,
        &ids,
        with_count.then_some(count),
    ) {
        body["volumes_links"] = links;
    }
    if with_count {
        body["count"] = json!(count);
    }
    Ok(Json(body).into_response())
}

/// `GET /v3/{project}/volumes/summary` (3.12): count and size of the volumes
/// the caller would list; from 3.36 also every metadata key with its values.
pub(super) async fn summary(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    if !version.at_least(3, 12) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let all = match filters(&ctx, &params)? {
        Some(f) => st.svc.volume_list(&ctx, &f).await?,
        None => Vec::new(),
    };
    let total_size: i64 = all.iter().map(|v| v.size).sum();
    let mut body = json!({"total_size": total_size, "total_count": all.len()});
    if version.at_least(3, 36) {
        let mut metadata: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for v in &all {
            for (k, val) in &v.metadata {
                let values = metadata.entry(k.as_str()).or_default();
                if !values.contains(&val.as_str()) {
                    values.push(val.as_str());
                }
            }
        }
        body["metadata"] = json!(metadata);
    }
    Ok(Json(json!({ "volume-summary": body })).into_response())
}

pub(super) async fn list(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path(project): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    list_any(st, ctx, version, (project, params), false, "volumes").await
}

pub(super) async fn list_detail(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path(project): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    list_any(st, ctx, version, (project, params), true, "volumes/detail").await
}

pub(super) async fn show(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path((_p, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let v = st.svc.volume_get(&ctx, &id).await?;
    Ok(Json(json!({"volume": detail(&st, &ctx, version, &v).await?})).into_response())
}

pub(super) async fn update(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path((_p, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let obj = body_object(&body, "volume")?;
    let text = |a: &str, b: &str| -> Result<Option<Option<String>>, ApiError> {
        if obj.contains_key(a) {
            Ok(Some(opt_str(obj, a)?))
        } else if obj.contains_key(b) {
            Ok(Some(opt_str(obj, b)?))
        } else {
            Ok(None)
        }
    };
    let name = text("name", "display_name")?;
    let description = text("description", "display_description")?;
    let metadata = metadata_of(obj, "metadata")?;
    if name.is_none() && description.is_none() && metadata.is_none() {
        return Err(ApiError::bad_request(
            "Invalid input received: volume update needs name, description or metadata.",
        ));
    }
    let v = st
        .svc
        .volume_update(&ctx, &id, name, description, metadata)
        .await?;
    let body = views::without_extension_attributes(detail(&st, &ctx, version, &v).await?);
    Ok(Json(json!({"volume": body})).into_response())
}

pub(super) async fn delete(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id)): Path<(String, String)>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    let cascade = param(&params, "cascade")
        .map(|c| parse_bool("cascade", &json!(c)))
        .transpose()?
        .unwrap_or(false);
    st.svc.volume_delete(&ctx, &id, cascade).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub(super) async fn metadata_show(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let v = st.svc.volume_get(&ctx, &id).await?;
    Ok(Json(json!({"metadata": v.metadata})).into_response())
}

async fn metadata_set(
    st: ApiState,
    ctx: RequestContext,
    id: String,
    body: Value,
    replace: bool,
) -> Result<Response, ApiError> {
    let m = body_object(&body, "metadata")?;
    let items = check_metadata(m)?;
    let all = st
        .svc
        .volume_metadata_set(&ctx, &id, items, replace)
        .await?;
    Ok(Json(json!({"metadata": all})).into_response())
}

pub(super) async fn metadata_merge(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    metadata_set(st, ctx, id, body, false).await
}

pub(super) async fn metadata_replace(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    metadata_set(st, ctx, id, body, true).await
}

pub(super) async fn metadata_key_show(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id, key)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let v = st.svc.volume_get(&ctx, &id).await?;
    let value = v.metadata.get(&key).ok_or_else(|| {
        ApiError::not_found(format!("Volume {id} has no metadata with key {key}."))
    })?;
    Ok(Json(json!({"meta": {key: value}})).into_response())
}

pub(super) async fn metadata_key_set(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id, key)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let meta = body_object(&body, "meta")?;
    if meta.len() != 1 || !meta.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let items = check_metadata(meta)?;
    st.svc
        .volume_metadata_set(&ctx, &id, items.clone(), false)
        .await?;
    Ok(Json(json!({"meta": items})).into_response())
}

pub(super) async fn metadata_key_delete(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id, key)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    st.svc.volume_metadata_delete(&ctx, &id, &key).await?;
    Ok(StatusCode::OK.into_response())
}
