//! `/attachments` (3.27+).

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, ApiVersion, Json, RequestContext};
use serde_json::{Value, json};

use super::{Params, S, body_object, opt_str, param, parse_bool, require_version, views};

pub(super) async fn create(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    require_version(version, 3, 27)?;
    let obj = body_object(&body, "attachment")?;
    let volume = opt_str(obj, "volume_uuid")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute attachment. 'volume_uuid' is a required property.",
        )
    })?;
    let instance = opt_str(obj, "instance_uuid")?;
    let connector = obj.get("connector").filter(|c| !c.is_null()).cloned();
    let mode = if version.at_least(3, 54) {
        opt_str(obj, "mode")?
    } else {
        None
    };
    let a = st
        .svc
        .attachment_create(
            &ctx,
            &volume,
            instance.as_deref(),
            connector,
            mode.as_deref(),
        )
        .await?;
    Ok(Json(json!({"attachment": views::attachment(&a, true)})).into_response())
}

async fn list_any(
    st: super::ApiState,
    ctx: RequestContext,
    version: ApiVersion,
    params: Vec<(String, String)>,
    detail: bool,
) -> Result<Response, ApiError> {
    require_version(version, 3, 27)?;
    let all_tenants = param(&params, "all_tenants")
        .is_some_and(|v| parse_bool("all_tenants", &json!(v)).unwrap_or(true));
    let all = st
        .svc
        .attachment_list(&ctx, param(&params, "instance_id"), all_tenants)
        .await?;
    let out: Vec<Value> = all
        .iter()
        .filter(|a| param(&params, "volume_id").is_none_or(|v| a.volume_id == v))
        .map(|a| views::attachment(a, detail))
        .collect();
    Ok(Json(json!({"attachments": out})).into_response())
}

pub(super) async fn list(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    list_any(st, ctx, version, params, false).await
}

pub(super) async fn list_detail(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    list_any(st, ctx, version, params, true).await
}

pub(super) async fn show(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path((_p, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_version(version, 3, 27)?;
    let a = st.svc.attachment_get(&ctx, &id).await?;
    Ok(Json(json!({"attachment": views::attachment(&a, true)})).into_response())
}

pub(super) async fn update(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path((_p, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    require_version(version, 3, 27)?;
    let obj = body_object(&body, "attachment")?;
    let connector = obj
        .get("connector")
        .filter(|c| !c.is_null())
        .cloned()
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field/attribute attachment. 'connector' is a required property.",
            )
        })?;
    let a = st.svc.attachment_update(&ctx, &id, connector).await?;
    Ok(Json(json!({"attachment": views::attachment(&a, true)})).into_response())
}

pub(super) async fn delete(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path((_p, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    require_version(version, 3, 27)?;
    let remaining = st.svc.attachment_delete(&ctx, &id).await?;
    let out: Vec<Value> = remaining
        .iter()
        .map(|a| views::attachment(a, false))
        .collect();
    Ok(Json(json!({"attachments": out})).into_response())
}

pub(super) async fn action(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path((_p, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    require_version(version, 3, 44)?;
    match body
        .as_object()
        .and_then(|o| o.keys().next())
        .map(String::as_str)
    {
        Some("os-complete") => {
            st.svc.attachment_complete(&ctx, &id).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Some(other) => Err(ApiError::bad_request(format!(
            "There is no such action: {other}"
        ))),
        None => Err(ApiError::bad_request(
            "Malformed request body: one action expected.",
        )),
    }
}
