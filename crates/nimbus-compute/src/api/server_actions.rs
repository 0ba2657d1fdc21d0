//! `POST /servers/{id}/action`: one JSON key names the action.

use axum::Router;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Value, json};

use super::Microversion;
use super::servers as parse;
use super::views::{self, BaseUrl, View};
use crate::app::ComputeService;
use crate::app::actions::{self, Action};
use crate::app::snapshot::ImageKind;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new().route("/servers/{id}/action", post(server_action))
}

fn reject_extra(args: &Value, allowed: &[&str], action: &str) -> Result<(), ApiError> {
    match args {
        Value::Null => Ok(()),
        Value::Object(map) => {
            for key in map.keys() {
                if !allowed.contains(&key.as_str()) {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute {action}. Additional properties are not allowed ('{key}' was unexpected)"
                    )));
                }
            }
            Ok(())
        }
        other => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {action}. Value: {other}. {other} is not of type 'object'"
        ))),
    }
}

async fn server_action(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Extension(base): Extension<BaseUrl>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let map = body
        .as_object()
        .filter(|m| m.len() == 1)
        .ok_or_else(|| ApiError::bad_request("The action body must name exactly one action."))?;
    let Some((name, args)) = map.iter().next() else {
        return Err(ApiError::bad_request(
            "The action body must name exactly one action.",
        ));
    };
    let simple = |action: Action| {
        let (svc, ctx, id) = (svc.clone(), ctx.clone(), id.clone());
        async move {
            actions::server_action(&svc, &ctx, &id, action).await?;
            Ok::<Response, ApiError>(StatusCode::ACCEPTED.into_response())
        }
    };
    match name.as_str() {
        "os-stop" => {
            reject_extra(args, &[], name)?;
            simple(Action::Stop).await
        }
        "os-start" => {
            reject_extra(args, &[], name)?;
            simple(Action::Start).await
        }
        "pause" => {
            reject_extra(args, &[], name)?;
            simple(Action::Pause).await
        }
        "unpause" => {
            reject_extra(args, &[], name)?;
            simple(Action::Unpause).await
        }
        "suspend" => {
            reject_extra(args, &[], name)?;
            simple(Action::Suspend).await
        }
        "resume" => {
            reject_extra(args, &[], name)?;
            simple(Action::Resume).await
        }
        "reboot" => {
            reject_extra(args, &["type"], name)?;
            let kind = args.get("type").and_then(Value::as_str).unwrap_or("");
            let action = match kind.to_ascii_uppercase().as_str() {
                "SOFT" => Action::RebootSoft,
                "HARD" => Action::RebootHard,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute type. Value: {kind}. '{kind}' is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']"
                    )));
                }
            };
            simple(action).await
        }
        "addFloatingIp" => super::floating_ips::add_action(&svc, &ctx, mv, &id, args).await,
        "removeFloatingIp" => super::floating_ips::remove_action(&svc, &ctx, mv, &id, args).await,
        "addSecurityGroup" | "removeSecurityGroup" => {
            super::security_groups::server_group_action(
                &svc,
                &ctx,
                &id,
                args,
                name == "addSecurityGroup",
            )
            .await
        }
        "lock" => {
            super::lock::lock_action(&svc, &ctx, mv, &id, args).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "unlock" => {
            super::lock::unlock_action(&svc, &ctx, &id).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-getConsoleOutput" => {
            reject_extra(args, &["length"], name)?;
            let length = match args.get("length") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) if n.as_i64() == Some(-1) => None,
                Some(Value::Number(n)) if n.as_u64().is_some() => {
                    n.as_u64().map(|n| usize::try_from(n).unwrap_or(usize::MAX))
                }
                Some(Value::String(s)) if s.trim() == "-1" => None,
                Some(Value::String(s)) if s.trim().parse::<u64>().is_ok() => {
                    s.trim().parse::<usize>().ok()
                }
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute length. Value: {other}."
                    )));
                }
            };
            let output = actions::console_output(&svc, &ctx, &id, length).await?;
            Ok(Json(json!({"output": output})).into_response())
        }
        "changePassword" => {
            reject_extra(args, &["adminPass"], name)?;
            if args.get("adminPass").and_then(Value::as_str).is_none() {
                return Err(ApiError::bad_request(
                    "Invalid input for field/attribute changePassword. 'adminPass' is a required property",
                ));
            }
            actions::change_password(&svc, &ctx, &id).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "rebuild" => {
            let req = rebuild_request(args, mv)?;
            let (instance, admin_pass) =
                crate::app::rebuild::server_rebuild(&svc, &ctx, &id, req).await?;
            let view = if mv.at_least(2, 75) {
                View::Show
            } else {
                View::Update
            };
            let mut one = [views::server(&instance, mv, &ctx, &base, view)];
            crate::app::ports::fill_addresses(&svc, &ctx, &mut one, view == View::Show).await?;
            let [mut server] = one;
            server["adminPass"] = json!(admin_pass);
            // The rebuild reply names the key pair from 2.54 and the user
            // data from 2.57 (nova's rebuild view, before 2.75 too).
            if mv.at_least(2, 54) {
                server["key_name"] = json!(instance.key_name);
            }
            if mv.at_least(2, 57) {
                server["user_data"] = json!(instance.user_data);
            }
            Ok((StatusCode::ACCEPTED, Json(json!({"server": server}))).into_response())
        }
        "createImage" => {
            reject_extra(args, &["name", "metadata"], name)?;
            let image_name = image_name(args, name)?;
            let metadata = image_metadata(args)?;
            let image_id = crate::app::snapshot::server_snapshot(
                &svc,
                &ctx,
                &id,
                &image_name,
                metadata,
                ImageKind::Snapshot,
            )
            .await?;
            Ok(image_reply(mv, &base, &image_id, true))
        }
        "createBackup" => {
            reject_extra(args, &["name", "backup_type", "rotation", "metadata"], name)?;
            let image_name = image_name(args, name)?;
            let backup_type = args
                .get("backup_type")
                .and_then(Value::as_str)
                .ok_or_else(|| required(name, "backup_type"))?
                .to_string();
            let rotation = rotation(
                args.get("rotation")
                    .ok_or_else(|| required(name, "rotation"))?,
            )?;
            let metadata = image_metadata(args)?;
            let image_id = crate::app::snapshot::server_snapshot(
                &svc,
                &ctx,
                &id,
                &image_name,
                metadata,
                ImageKind::Backup {
                    backup_type,
                    rotation,
                },
            )
            .await?;
            // nova names the image only when it will be kept.
            Ok(image_reply(mv, &base, &image_id, rotation > 0))
        }
        // Nimbus never soft-deletes (nova's reclaim_instance_interval = 0):
        // forceDelete is a delete in any state, and nothing is restorable.
        "forceDelete" => {
            reject_extra(args, &[], name)?;
            crate::app::servers::server_delete(&svc, &ctx, &id).await?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "restore" => {
            reject_extra(args, &[], name)?;
            let i = crate::app::servers::server_get(&svc, &ctx, &id).await?;
            Err(ApiError::conflict(format!(
                "Cannot 'restore' instance {} while it is in vm_state {}",
                i.uuid, i.vm_state
            )))
        }
        other => Err(ApiError::bad_request(format!(
            "There is no such action: {other}"
        ))),
    }
}

fn required(action: &str, field: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {action}. '{field}' is a required property"
    ))
}

/// nova's `parameter_types.name` for `createImage`/`createBackup`.
fn image_name(args: &Value, action: &str) -> Result<String, ApiError> {
    let name = args
        .get("name")
        .ok_or_else(|| required(action, "name"))?
        .as_str()
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input for field/attribute name. Value: {}. It is not of type 'string'",
                args["name"]
            ))
        })?;
    if name.trim().is_empty() || name.chars().count() > 255 {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute name. Value: {name}. It must be 1 to 255 \
             characters, not only spaces"
        )));
    }
    Ok(name.to_string())
}

fn image_metadata(args: &Value) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    match args.get("metadata") {
        Some(v) => parse::metadata(v),
        None => Ok(Default::default()),
    }
}

/// nova's `parameter_types.non_negative_integer`: an integer or a string of
/// digits.
fn rotation(v: &Value) -> Result<u64, ApiError> {
    let parsed = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    };
    parsed.ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute rotation. Value: {v}. It must be a non-negative \
             integer"
        ))
    })
}

/// The 202 of `createImage`/`createBackup`: the image id in the body from
/// 2.45, before that in a `Location` header (nova's compute image proxy
/// URL, `{application_url}/images/{id}`), which a backup with rotation 0
/// leaves out.
fn image_reply(mv: Microversion, base: &BaseUrl, image_id: &str, locate: bool) -> Response {
    if mv.at_least(2, 45) {
        return (StatusCode::ACCEPTED, Json(json!({"image_id": image_id}))).into_response();
    }
    let mut response = StatusCode::ACCEPTED.into_response();
    let location = format!("{}/compute/v2.1/images/{image_id}", base.0);
    if locate && let Ok(v) = axum::http::HeaderValue::from_str(&location) {
        response.headers_mut().insert("location", v);
    }
    response
}

/// nova's rebuild schema at `mv` (personality until 2.56).
fn rebuild_request(
    args: &Value,
    mv: Microversion,
) -> Result<crate::app::rebuild::RebuildRequest, ApiError> {
    let mut allowed = vec![
        "imageRef",
        "name",
        "adminPass",
        "metadata",
        "preserve_ephemeral",
        "OS-DCF:diskConfig",
        "accessIPv4",
        "accessIPv6",
    ];
    if !mv.at_least(2, 57) {
        allowed.push("personality");
    }
    if mv.at_least(2, 19) {
        allowed.push("description");
    }
    if mv.at_least(2, 54) {
        allowed.push("key_name");
    }
    if mv.at_least(2, 57) {
        allowed.push("user_data");
    }
    reject_extra(args, &allowed, "rebuild")?;
    let s = parse::object(args, "rebuild")?;
    let image = s.get("imageRef").ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute rebuild. 'imageRef' is a required property",
        )
    })?;
    let mut req = crate::app::rebuild::RebuildRequest {
        image_ref: parse::image_id(image)?,
        ..Default::default()
    };
    if req.image_ref.is_empty() {
        return Err(ApiError::bad_request("Invalid imageRef provided."));
    }
    if let Some(v) = s.get("name") {
        req.name = Some(parse::name(v)?);
    }
    if let Some(v) = s.get("adminPass") {
        req.admin_pass = Some(parse::string(v, "adminPass", 255)?);
    }
    if let Some(v) = s.get("metadata") {
        req.metadata = Some(parse::metadata(v)?);
    }
    if let Some(v) = s.get("personality") {
        req.personality = parse::personality(v)?;
    }
    if let Some(v) = s.get("OS-DCF:diskConfig") {
        req.disk_config = Some(parse::disk_config(v)?);
    }
    if let Some(v) = s.get("description") {
        req.description = Some(parse::description(v)?);
    }
    if let Some(v) = s.get("key_name") {
        req.key_name = Some(match v {
            Value::Null => None,
            v => Some(parse::string(v, "key_name", 255)?),
        });
    }
    if let Some(v) = s.get("user_data") {
        req.user_data = Some(match v {
            Value::Null => None,
            v => {
                let text = parse::string(v, "user_data", 65535)?;
                if crate::app::servers::decode_base64(&text).is_none() {
                    return Err(ApiError::bad_request(
                        "User data needs to be valid base 64.",
                    ));
                }
                Some(text)
            }
        });
    }
    Ok(req)
}
