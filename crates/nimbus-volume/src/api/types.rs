//! `/types`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Value, json};

use super::{S, body_object, opt_str, parse_bool, views};
use crate::app::check_metadata;

pub(super) async fn list(State(st): S, ctx: RequestContext) -> Result<Response, ApiError> {
    let all = st.svc.type_list(&ctx).await?;
    let out: Vec<Value> = all.iter().map(|t| views::volume_type(&ctx, t)).collect();
    Ok(Json(json!({"volume_types": out})).into_response())
}

pub(super) async fn show(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let t = st.svc.type_get(&ctx, &id).await?;
    Ok(Json(json!({"volume_type": views::volume_type(&ctx, &t)})).into_response())
}

pub(super) async fn create(
    State(st): S,
    ctx: RequestContext,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let obj = body_object(&body, "volume_type")?;
    let name = opt_str(obj, "name")?.ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute volume_type. 'name' is a required property.",
        )
    })?;
    let is_public = match obj.get("os-volume-type-access:is_public") {
        Some(v) => parse_bool("os-volume-type-access:is_public", v)?,
        None => true,
    };
    let specs = match obj.get("extra_specs") {
        Some(Value::Object(m)) => check_metadata(m)?,
        _ => Default::default(),
    };
    let t = st
        .svc
        .type_create(&ctx, &name, opt_str(obj, "description")?, is_public, specs)
        .await?;
    Ok(Json(json!({"volume_type": views::volume_type(&ctx, &t)})).into_response())
}

pub(super) async fn delete(
    State(st): S,
    ctx: RequestContext,
    Path((_p, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    st.svc.type_delete(&ctx, &id).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}
