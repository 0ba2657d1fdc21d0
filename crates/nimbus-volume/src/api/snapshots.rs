//! `/snapshots`.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, ApiVersion, Json, RequestContext};
use serde_json::{Value, json};

use super::{Params, S, body_object, opt_str, param, parse_bool, views};
use crate::app::check_metadata;

pub(super) async fn create(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let obj = body_object(&body, "snapshot")?;
    let volume_id = opt_str(obj, "volume_id")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute snapshot. 'volume_id' is a required property.",
        )
    })?;
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
        Json(json!({"snapshot": views::snapshot(version, &s)})),
    )
        .into_response())
}

pub(super) async fn list(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    let all_tenants = param(&params, "all_tenants")
        .is_some_and(|v| parse_bool("all_tenants", &json!(v)).unwrap_or(true));
    let all = st.svc.snapshot_list(&ctx, all_tenants).await?;
    let out: Vec<Value> = all
        .iter()
        .filter(|s| param(&params, "volume_id").is_none_or(|v| s.volume_id == v))
        .filter(|s| param(&params, "status").is_none_or(|v| s.status.as_str() == v))
        .filter(|s| param(&params, "name").is_none_or(|v| s.name.as_deref() == Some(v)))
        .map(|s| views::snapshot(version, s))
        .collect();
    Ok(Json(json!({"snapshots": out})).into_response())
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
    Ok(Json(json!({"snapshot": views::snapshot(version, &s)})).into_response())
}

pub(super) async fn delete(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    st.svc.snapshot_delete(&ctx, &id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
