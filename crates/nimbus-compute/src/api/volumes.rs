//! Nova's volume proxy (`os-volumes` below 2.36, nova's `volumes.py`):
//! the volume service's volumes in nova's camel-case view. Tenancy and
//! policy are the volume service's, called with the user's context as nova
//! calls Cinder with the user's token.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nimbus_common::error::ErrorKind;
use nimbus_common::{ApiError, Json, RequestContext};
use nimbus_volume::app::volumes::{VolumeCreate, VolumeFilters};
use nimbus_volume::{AttachStatus, Volume};
use serde_json::{Map, Value, json};

use super::flavors::Params;
use super::servers::invalid;
use super::views::naive_time;
use super::{Microversion, PublicBase, require_proxy};
use crate::app::ComputeService;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/os-volumes", get(index).post(create))
        .route("/os-volumes/detail", get(detail))
        .route("/os-volumes/{id}", get(show).delete(destroy))
}

/// nova's `max_limit`: the most one listing returns.
const MAX_LIMIT: usize = 1000;

/// A non-negative integer query parameter (the last one given, as webob
/// reads it).
fn non_negative(params: &[(String, String)], key: &str) -> Result<Option<usize>, ApiError> {
    match params.iter().rev().find(|(k, _)| k == key) {
        Some((_, v)) => v.parse::<usize>().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid input for query parameters {key}. Value: {v}. '{v}' does not match '^[0-9]+$'"
            ))
        }),
        None => Ok(None),
    }
}

/// nova's `common.limited`: `offset` and `limit` over a whole listing; no
/// limit (or 0) means `max_limit`.
pub(crate) fn limited<T>(items: Vec<T>, params: &[(String, String)]) -> Result<Vec<T>, ApiError> {
    let offset = non_negative(params, "offset")?.unwrap_or(0);
    let limit = match non_negative(params, "limit")? {
        Some(0) | None => MAX_LIMIT,
        Some(n) => n.min(MAX_LIMIT),
    };
    Ok(items.into_iter().skip(offset).take(limit).collect())
}

/// A quota error of the volume service (413) is nova's 403 (`OverQuota`).
pub(crate) fn over_quota_is_forbidden(e: ApiError) -> ApiError {
    match e.kind() {
        ErrorKind::OverLimit | ErrorKind::PayloadTooLarge => ApiError::forbidden(e.message()),
        _ => e,
    }
}

/// nova's `_translate_volume_summary_view` (the detail view is the same).
async fn view(svc: &ComputeService, v: &Volume) -> Result<Value, ApiError> {
    let attachments = svc.volume().volume_attachments(&v.id).await?;
    // nova shows the first attachment only, with the volume's id as the
    // attachment's, and a list with one empty object when detached.
    let attached = attachments
        .iter()
        .find(|a| a.attach_status == AttachStatus::Attached && a.instance_uuid.is_some());
    let attachments = match attached {
        Some(a) => {
            let mut one = json!({
                "id": v.id,
                "volumeId": v.id,
                "serverId": a.instance_uuid,
            });
            if let Some(device) = a.mountpoint.as_deref().filter(|d| !d.is_empty()) {
                one["device"] = json!(device);
            }
            json!([one])
        }
        None => json!([{}]),
    };
    let volume_type = svc.volume().type_name(&v.volume_type_id).await?;
    Ok(json!({
        "id": v.id,
        "status": v.status.as_str(),
        "size": v.size,
        "availabilityZone": v.availability_zone,
        "createdAt": naive_time(v.created_at),
        "attachments": attachments,
        "displayName": v.name,
        "displayDescription": v.description,
        "volumeType": volume_type,
        "snapshotId": v.snapshot_id,
        "metadata": v.metadata,
    }))
}

async fn list(
    svc: &ComputeService,
    ctx: &RequestContext,
    mv: Microversion,
    params: &[(String, String)],
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let all = svc
        .volume()
        .volume_list(ctx, &VolumeFilters::default())
        .await?;
    let mut out = Vec::new();
    for v in limited(all, params)? {
        out.push(view(svc, &v).await?);
    }
    Ok(Json(json!({ "volumes": out })))
}

async fn index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    list(&svc, &ctx, mv, &params.0).await
}

async fn detail(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    list(&svc, &ctx, mv, &params.0).await
}

async fn show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let v = svc.volume().volume_get(&ctx, &id).await?;
    Ok(Json(json!({ "volume": view(&svc, &v).await? })))
}

async fn destroy(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require_proxy(mv)?;
    svc.volume().volume_delete(&ctx, &id, false).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// An optional string member of a request body.
pub(crate) fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(key, format!("{other} is not of type 'string'"))),
    }
}

/// The members of `obj` must all be in `allowed` (nova's schemas say
/// `additionalProperties: false`).
pub(crate) fn only(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), ApiError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(
            what,
            format!("Additional properties are not allowed ('{k}' was unexpected)"),
        )),
        None => Ok(()),
    }
}

/// nova's create schema: `size` is required, an integer or a string of
/// digits, at least 1.
fn size(v: Option<&Value>) -> Result<i64, ApiError> {
    let n = match v {
        None => return Err(invalid("volume", "'size' is a required property")),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i64>().ok()
        }
        Some(other) => {
            return Err(invalid(
                "size",
                format!("{other} is not valid under any of the given schemas"),
            ));
        }
    };
    match n {
        Some(n) if n >= 1 => Ok(n),
        _ => Err(ApiError::bad_request(
            "Invalid input received: Volume size must be an integer and greater than 0.",
        )),
    }
}

fn create_request(body: &Value) -> Result<VolumeCreate, ApiError> {
    let top = body
        .as_object()
        .ok_or_else(|| invalid("body", format!("{body} is not of type 'object'")))?;
    only(top, &["volume"], "body")?;
    let vol = match top.get("volume") {
        Some(Value::Object(o)) => o,
        Some(other) => {
            return Err(invalid(
                "volume",
                format!("{other} is not of type 'object'"),
            ));
        }
        None => return Err(invalid("body", "'volume' is a required property")),
    };
    only(
        vol,
        &[
            "volume_type",
            "metadata",
            "snapshot_id",
            "size",
            "availability_zone",
            "display_name",
            "display_description",
        ],
        "volume",
    )?;
    let mut metadata = BTreeMap::new();
    match vol.get("metadata") {
        None => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                // Cinder keeps string values only.
                let Some(v) = v.as_str() else {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input received: Metadata property key {k} value must be a string."
                    )));
                };
                metadata.insert(k.clone(), v.to_string());
            }
        }
        Some(other) => {
            return Err(invalid(
                "metadata",
                format!("{other} is not of type 'object'"),
            ));
        }
    }
    Ok(VolumeCreate {
        name: opt_string(vol, "display_name")?,
        description: opt_string(vol, "display_description")?,
        size: Some(size(vol.get("size"))?),
        volume_type: opt_string(vol, "volume_type")?,
        snapshot_id: opt_string(vol, "snapshot_id")?,
        metadata,
        availability_zone: opt_string(vol, "availability_zone")?,
        ..VolumeCreate::default()
    })
}

async fn create(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    base: PublicBase,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    require_proxy(mv)?;
    let req = create_request(&body)?;
    let v = svc
        .volume()
        .volume_create(&ctx, req)
        .await
        .map_err(over_quota_is_forbidden)?;
    let mut response = Json(json!({ "volume": view(&svc, &v).await? })).into_response();
    if let Ok(location) =
        HeaderValue::from_str(&format!("{}/compute/v2.1/os-volumes/{}", base.0, v.id))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_follows_novas_schema() {
        assert_eq!(size(Some(&json!(2))).unwrap(), 2);
        assert_eq!(size(Some(&json!("3"))).unwrap(), 3);
        for bad in [
            json!(0),
            json!("0"),
            json!(""),
            json!("#$%"),
            json!(-1),
            json!(1.5),
        ] {
            assert_eq!(
                size(Some(&bad)).unwrap_err().status(),
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
        assert!(size(None).is_err());
    }

    #[test]
    fn limited_is_offset_then_limit_capped_at_max_limit() {
        let p = |q: &[(&str, &str)]| -> Vec<(String, String)> {
            q.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let items: Vec<u32> = (0..5).collect();
        assert_eq!(
            limited(items.clone(), &p(&[("offset", "1"), ("limit", "2")])).unwrap(),
            vec![1, 2]
        );
        assert_eq!(
            limited(items.clone(), &p(&[("limit", "0")])).unwrap().len(),
            5
        );
        assert_eq!(
            limited(items.clone(), &p(&[("offset", "9")])).unwrap(),
            Vec::<u32>::new()
        );
        assert!(limited(items, &p(&[("limit", "-1")])).is_err());
    }
}
