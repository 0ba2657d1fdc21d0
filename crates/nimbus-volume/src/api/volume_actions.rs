//! `POST /volumes/{id}/action`: one action per body, each checked against
//! Cinder's schema for it (`api/schemas/volume_actions.py`,
//! `volume_image_metadata.py`) before the volume is looked up.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, ApiVersion, Json, RequestContext};
use serde_json::{Map, Value, json};

use super::{S, opt_str, parse_bool, parse_int};
use crate::app::legacy_attach::LegacyAttach;
use crate::app::upload::{UploadRequest, upload_reply};

fn required(action: &str, key: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {action}. '{key}' is a required property."
    ))
}

/// The action's arguments as an object with only `allowed` keys
/// (`additionalProperties: false`).
fn args_object<'a>(
    action: &str,
    args: &'a Value,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, ApiError> {
    let obj = args.as_object().ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {action}. Value: {args}. {args} is not of type 'object'"
        ))
    })?;
    if let Some(extra) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {action}. Additional properties are not allowed ('{extra}' was unexpected)"
        )));
    }
    Ok(obj)
}

/// A string of at most `max` characters (and at least `min`).
fn bounded_str(
    obj: &Map<String, Value>,
    key: &str,
    min: usize,
    max: usize,
) -> Result<Option<String>, ApiError> {
    let Some(value) = opt_str(obj, key)? else {
        if obj.get(key).is_some_and(Value::is_null) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute {key}. Value: None. None is not of type 'string'"
            )));
        }
        return Ok(None);
    };
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {value}. Length must be {min} to {max} characters."
        )));
    }
    Ok(Some(value))
}

fn uuid_field(key: &str, value: &str) -> Result<(), ApiError> {
    uuid::Uuid::parse_str(value).map(|_| ()).map_err(|_| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute {key}. Value: {value}. '{value}' is not a 'uuid'"
        ))
    })
}

fn os_attach(args: &Value) -> Result<LegacyAttach, ApiError> {
    const ACTION: &str = "os-attach";
    let obj = args_object(
        ACTION,
        args,
        &["instance_uuid", "mountpoint", "host_name", "mode"],
    )?;
    let mountpoint =
        bounded_str(obj, "mountpoint", 1, 255)?.ok_or_else(|| required(ACTION, "mountpoint"))?;
    let instance_uuid = opt_str(obj, "instance_uuid")?;
    if let Some(i) = &instance_uuid {
        uuid_field("instance_uuid", i)?;
    }
    let host_name = bounded_str(obj, "host_name", 0, 255)?;
    if instance_uuid.is_none() && host_name.is_none() {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {ACTION}. Value: {args}. {args} is not valid under any of the given schemas"
        )));
    }
    let mode = match opt_str(obj, "mode")?.as_deref() {
        None => "rw".to_string(),
        Some(m @ ("rw" | "ro")) => m.to_string(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute mode. Value: {other}. '{other}' is not one of ['rw', 'ro']"
            )));
        }
    };
    Ok(LegacyAttach {
        instance_uuid,
        host_name,
        mountpoint,
        mode,
    })
}

/// `connector`: an object, or (schema permitting) null for
/// `os-terminate_connection`.
fn connector_arg(action: &str, args: &Value, null_ok: bool) -> Result<Option<Value>, ApiError> {
    let obj = args_object(action, args, &["connector"])?;
    match obj.get("connector") {
        None => Err(required(action, "connector")),
        Some(Value::Null) if null_ok => Ok(None),
        Some(c @ Value::Object(_)) => Ok(Some(c.clone())),
        Some(_) => Err(ApiError::bad_request(
            "Invalid input received: connector must be an object.",
        )),
    }
}

fn image_metadata_arg(args: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    const ACTION: &str = "os-set_image_metadata";
    let obj = args_object(ACTION, args, &["metadata"])?;
    let meta = obj
        .get("metadata")
        .ok_or_else(|| required(ACTION, "metadata"))?
        .as_object()
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field/attribute metadata. Value is not an object.",
            )
        })?;
    if meta.len() > 128 {
        return Err(ApiError::bad_request(
            "Too many metadata items (at most 128).",
        ));
    }
    meta.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute metadata. Value of '{k}' is not a string."
            ))),
        })
        .collect()
}

/// `os-volume_upload_image`; `visibility` and `protected` exist from 3.1,
/// where the image is `private` unless asked otherwise (Cinder).
fn upload_request(args: &Value, version: ApiVersion) -> Result<UploadRequest, ApiError> {
    const ACTION: &str = "os-volume_upload_image";
    let mut allowed = vec!["image_name", "force", "disk_format", "container_format"];
    if version.at_least(3, 1) {
        allowed.extend(["visibility", "protected"]);
    }
    let args = args_object(ACTION, args, &allowed)?;
    let image_name =
        bounded_str(args, "image_name", 1, 255)?.ok_or_else(|| required(ACTION, "image_name"))?;
    let visibility = match opt_str(args, "visibility")? {
        None if version.at_least(3, 1) => Some("private".to_string()),
        None => None,
        Some(v) if ["community", "public", "private", "shared"].contains(&v.as_str()) => Some(v),
        Some(v) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute visibility. Value: {v}. '{v}' is not one of ['community', 'public', 'private', 'shared']"
            )));
        }
    };
    Ok(UploadRequest {
        image_name,
        disk_format: opt_str(args, "disk_format")?.unwrap_or_else(|| "raw".into()),
        container_format: opt_str(args, "container_format")?.unwrap_or_else(|| "bare".into()),
        force: args
            .get("force")
            .map(|f| parse_bool("force", f))
            .transpose()?
            .unwrap_or(false),
        visibility,
        protected: args
            .get("protected")
            .map(|f| parse_bool("protected", f))
            .transpose()?
            .unwrap_or(false),
    })
}

const ACCEPTED: StatusCode = StatusCode::ACCEPTED;

/// `POST /volumes/{id}/action`.
pub(super) async fn action(
    State(st): S,
    ctx: RequestContext,
    Extension(version): Extension<ApiVersion>,
    Path((_p, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let obj = body
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| ApiError::bad_request("Malformed request body: one action expected."))?;
    let Some((name, args)) = obj.iter().next() else {
        return Err(ApiError::bad_request(
            "Malformed request body: one action expected.",
        ));
    };
    let svc = &st.svc;
    match name.as_str() {
        "os-extend" | "extend" => {
            let new_size = args
                .get("new_size")
                .ok_or_else(|| required("os-extend", "new_size"))?;
            svc.volume_extend(&ctx, &id, parse_int("new_size", new_size)?)
                .await?;
            Ok(ACCEPTED.into_response())
        }
        "os-set_bootable" => {
            let b = args
                .get("bootable")
                .ok_or_else(|| required("os-set_bootable", "bootable"))?;
            svc.volume_set_bootable(&ctx, &id, parse_bool("bootable", b)?)
                .await?;
            Ok(StatusCode::OK.into_response())
        }
        "os-reset_status" => {
            let status = args
                .get("status")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request("Must specify 'status'"))?;
            svc.volume_reset_status(&ctx, &id, status).await?;
            Ok(ACCEPTED.into_response())
        }
        "os-volume_upload_image" => {
            let req = upload_request(args, version)?;
            let (v, image_id) = svc.volume_upload_image(&ctx, &id, req.clone()).await?;
            let type_name = svc.type_name(&v.volume_type_id).await?;
            let reply = upload_reply(&v, &image_id, &req, &type_name);
            Ok((ACCEPTED, Json(reply)).into_response())
        }
        // Cinder's schemas for these four accept any value (`{}`).
        "os-reserve" => {
            svc.volume_reserve(&ctx, &id).await?;
            Ok(ACCEPTED.into_response())
        }
        "os-unreserve" => {
            svc.volume_unreserve(&ctx, &id).await?;
            Ok(ACCEPTED.into_response())
        }
        "os-begin_detaching" => {
            svc.volume_begin_detaching(&ctx, &id).await?;
            Ok(ACCEPTED.into_response())
        }
        "os-roll_detaching" => {
            svc.volume_roll_detaching(&ctx, &id).await?;
            Ok(ACCEPTED.into_response())
        }
        "os-attach" => {
            let req = os_attach(args)?;
            svc.volume_attach(&ctx, &id, req).await?;
            Ok(ACCEPTED.into_response())
        }
        "os-detach" => {
            let attachment_id = match args {
                Value::Null => None,
                _ => opt_str(
                    args_object("os-detach", args, &["attachment_id"])?,
                    "attachment_id",
                )?,
            };
            if let Some(a) = &attachment_id {
                uuid_field("attachment_id", a)?;
            }
            svc.volume_detach(&ctx, &id, attachment_id.as_deref())
                .await?;
            Ok(ACCEPTED.into_response())
        }
        "os-initialize_connection" => {
            let connector = connector_arg("os-initialize_connection", args, false)?
                .ok_or_else(|| required("os-initialize_connection", "connector"))?;
            let info = svc
                .volume_initialize_connection(&ctx, &id, connector)
                .await?;
            Ok(Json(json!({"connection_info": info})).into_response())
        }
        "os-terminate_connection" => {
            let connector = connector_arg("os-terminate_connection", args, true)?;
            svc.volume_terminate_connection(&ctx, &id, connector)
                .await?;
            Ok(ACCEPTED.into_response())
        }
        "os-update_readonly_flag" => {
            let obj = args_object("os-update_readonly_flag", args, &["readonly"])?;
            let flag = obj
                .get("readonly")
                .ok_or_else(|| required("os-update_readonly_flag", "readonly"))?;
            svc.volume_update_readonly_flag(&ctx, &id, parse_bool("readonly", flag)?)
                .await?;
            Ok(ACCEPTED.into_response())
        }
        "os-set_image_metadata" => {
            let items = image_metadata_arg(args)?;
            let all = svc.volume_image_metadata_set(&ctx, &id, items).await?;
            Ok(Json(json!({"metadata": all})).into_response())
        }
        "os-unset_image_metadata" => {
            let obj = args_object("os-unset_image_metadata", args, &["key"])?;
            let key = bounded_str(obj, "key", 1, 255)?
                .ok_or_else(|| required("os-unset_image_metadata", "key"))?;
            svc.volume_image_metadata_unset(&ctx, &id, &key).await?;
            Ok(StatusCode::OK.into_response())
        }
        "os-show_image_metadata" => {
            let all = svc.volume_image_metadata_get(&ctx, &id).await?;
            Ok(Json(json!({"metadata": all})).into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "There is no such action: {other}"
        ))),
    }
}
