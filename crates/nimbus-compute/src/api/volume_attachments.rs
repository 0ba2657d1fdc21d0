//! `/servers/{id}/os-volume_attachments`: nova's VolumeAttachmentController
//! (`nova/api/openstack/compute/volume_attachments.py`): list, show,
//! attach (200), update (202), detach (202).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use regex::Regex;
use serde_json::{Map, Value, json};

use super::Microversion;
use super::flavors::Params;
use crate::app::ComputeService;
use crate::app::servers::server_get;
use crate::app::volumes::{self, AttachRequest};
use crate::store::bdms::Bdm;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route(
            "/servers/{id}/os-volume_attachments",
            get(attachment_index).post(attachment_create),
        )
        .route(
            "/servers/{id}/os-volume_attachments/{volume_id}",
            get(attachment_show)
                .put(attachment_update)
                .delete(attachment_delete),
        )
}

/// nova's `_translate_attachment_detail_view` at `mv`.
pub fn attachment_view(bdm: &Bdm, mv: Microversion) -> Value {
    let mut d = Map::new();
    let volume_id = bdm.volume_id.clone().unwrap_or_default();
    if !mv.at_least(2, 89) {
        d.insert("id".into(), json!(volume_id));
    }
    d.insert("volumeId".into(), json!(volume_id));
    d.insert("serverId".into(), json!(bdm.instance_uuid));
    if let Some(device) = bdm.device_name.as_ref().filter(|d| !d.is_empty()) {
        d.insert("device".into(), json!(device));
    }
    if mv.at_least(2, 70) {
        d.insert("tag".into(), json!(bdm.tag));
    }
    if mv.at_least(2, 79) {
        d.insert(
            "delete_on_termination".into(),
            json!(bdm.delete_on_termination),
        );
    }
    if mv.at_least(2, 89) {
        d.insert("attachment_id".into(), json!(bdm.attachment_id));
        d.insert("bdm_uuid".into(), json!(bdm.uuid));
    }
    Value::Object(d)
}

fn invalid(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {why}"
    ))
}

fn is_uuid_like(text: &str) -> bool {
    uuid::Uuid::parse_str(text).is_ok()
}

/// nova's `parameter_types.boolean` (JSON booleans and their string forms).
fn boolean(v: &Value, field: &str) -> Result<bool, ApiError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
            "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
            _ => Err(invalid(field, format!("{v} is not of type 'boolean'"))),
        },
        _ => Err(invalid(field, format!("{v} is not of type 'boolean'"))),
    }
}

/// The `volumeAttachment` object of a body, its keys checked against the
/// schema of `mv` (`additionalProperties: false`).
fn attachment_object<'a>(
    body: &'a Value,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, ApiError> {
    let top = body
        .as_object()
        .ok_or_else(|| invalid("body", format!("{body} is not of type 'object'")))?;
    if let Some(key) = top.keys().find(|k| *k != "volumeAttachment") {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute body. Additional properties are not allowed ('{key}' was unexpected)"
        )));
    }
    let att = top
        .get("volumeAttachment")
        .ok_or_else(|| {
            ApiError::bad_request(
                "Invalid input for field/attribute body. 'volumeAttachment' is a required property",
            )
        })?
        .as_object()
        .ok_or_else(|| invalid("volumeAttachment", "is not of type 'object'"))?;
    if let Some(key) = att.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute volumeAttachment. Additional properties are not allowed ('{key}' was unexpected)"
        )));
    }
    Ok(att)
}

fn volume_id_of(att: &Map<String, Value>) -> Result<String, ApiError> {
    let v = att.get("volumeId").ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute volumeAttachment. 'volumeId' is a required property",
        )
    })?;
    match v.as_str() {
        Some(s) if is_uuid_like(s) => Ok(s.to_string()),
        _ => Err(invalid("volumeId", format!("{v} is not a 'uuid'"))),
    }
}

/// nova's `match_device` pattern (schema of `device`).
fn check_device(v: &Value) -> Result<Option<String>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => {
            let pattern = Regex::new(r"(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$")
                .map_err(ApiError::internal)?;
            if s.len() > 255 || !pattern.is_match(s) {
                return Err(invalid(
                    "device",
                    format!(
                        "'{s}' does not match '(^/dev/x{{0,1}}[a-z]{{0,1}}d{{0,1}})([a-z]+)[0-9]*$'"
                    ),
                ));
            }
            Ok(Some(s.clone()))
        }
        _ => Err(invalid(
            "device",
            format!("{v} is not of type 'string', 'null'"),
        )),
    }
}

/// nova's `parameter_types.tag`: up to 60 characters, no `/` or `,`.
fn check_tag(v: &Value) -> Result<String, ApiError> {
    match v.as_str() {
        Some(s) if !s.is_empty() && s.chars().count() <= 60 && !s.contains(['/', ',']) => {
            Ok(s.to_string())
        }
        _ => Err(invalid("tag", format!("{v} is not a valid tag"))),
    }
}

/// Parses an attach body at `mv` (`create`, `create_v249`, `create_v279`).
pub fn parse_attach(body: &Value, mv: Microversion) -> Result<AttachRequest, ApiError> {
    let mut allowed = vec!["volumeId", "device"];
    if mv.at_least(2, 49) {
        allowed.push("tag");
    }
    if mv.at_least(2, 79) {
        allowed.push("delete_on_termination");
    }
    let att = attachment_object(body, &allowed)?;
    Ok(AttachRequest {
        volume_id: volume_id_of(att)?,
        device: match att.get("device") {
            Some(v) => check_device(v)?,
            None => None,
        },
        tag: att.get("tag").map(check_tag).transpose()?,
        delete_on_termination: match att.get("delete_on_termination") {
            Some(v) => boolean(v, "delete_on_termination")?,
            None => false,
        },
    })
}

fn non_negative(params: &[(String, String)], key: &str) -> Result<Option<usize>, ApiError> {
    match params.iter().rev().find(|(k, _)| k == key) {
        Some((_, v)) => v
            .parse::<usize>()
            .map(Some)
            .map_err(|_| invalid(key, format!("'{v}' does not match '^[0-9]+$'"))),
        None => Ok(None),
    }
}

async fn attachment_index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Value>, ApiError> {
    let params = params.0;
    if mv.at_least(2, 75)
        && let Some((key, _)) = params.iter().find(|(k, _)| k != "limit" && k != "offset")
    {
        return Err(ApiError::bad_request(format!(
            "Invalid input for query parameters {key}. Value: Additional properties are not allowed ('{key}' was unexpected)"
        )));
    }
    let limit = non_negative(&params, "limit")?;
    let offset = non_negative(&params, "offset")?.unwrap_or(0);
    let (_, all) = volumes::attachment_list(&svc, &ctx, &id).await?;
    // nova's `common.limited`: at most osapi_max_limit (1000) items.
    let limit = limit.unwrap_or(1000).min(1000);
    let items: Vec<Value> = all
        .iter()
        .filter(|b| b.volume_id.is_some())
        .skip(offset)
        .take(limit)
        .map(|b| attachment_view(b, mv))
        .collect();
    Ok(Json(json!({"volumeAttachments": items})))
}

async fn attachment_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path((id, volume_id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let bdm = volumes::attachment_show(&svc, &ctx, &id, &volume_id).await?;
    Ok(Json(json!({"volumeAttachment": attachment_view(&bdm, mv)})))
}

async fn attachment_create(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let req = parse_attach(&body, mv)?;
    let bdm = volumes::volume_attach(&svc, &ctx, &id, req.clone()).await?;
    // nova answers from the request plus the reserved device name.
    let mut a = json!({
        "id": req.volume_id,
        "serverId": id,
        "volumeId": req.volume_id,
        "device": bdm.device_name,
    });
    if mv.at_least(2, 70) {
        a["tag"] = json!(req.tag);
    }
    if mv.at_least(2, 79) {
        a["delete_on_termination"] = json!(req.delete_on_termination);
    }
    Ok(Json(json!({"volumeAttachment": a})))
}

async fn attachment_update(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path((id, volume_id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<StatusCode, ApiError> {
    let allowed: &[&str] = if mv.at_least(2, 85) {
        &[
            "volumeId",
            "device",
            "tag",
            "delete_on_termination",
            "serverId",
            "id",
        ]
    } else {
        &["volumeId"]
    };
    let att = attachment_object(&body, allowed)?;
    let new_volume = volume_id_of(att)?;
    let instance = server_get(&svc, &ctx, &id).await?;
    let only_swap = !mv.at_least(2, 85);
    if !only_swap {
        let current = volumes::attachment_show(&svc, &ctx, &id, &volume_id)
            .await
            .map_err(|_| {
                ApiError::not_found(format!(
                    "No volume Block Device Mapping with id {volume_id}."
                ))
            })?;
        let immutable = |key: &str, now: Value| -> Result<(), ApiError> {
            match att.get(key) {
                Some(v) if *v != now => Err(ApiError::bad_request(format!(
                    "The {key} property is not mutable"
                ))),
                _ => Ok(()),
            }
        };
        immutable("id", json!(volume_id))?;
        immutable("serverId", json!(instance.uuid))?;
        immutable("device", json!(current.device_name))?;
        immutable("tag", json!(current.tag))?;
        let delete = att
            .get("delete_on_termination")
            .map(|v| boolean(v, "delete_on_termination"))
            .transpose()?;
        volumes::attachment_update(&svc, &ctx, &id, &volume_id, delete).await?;
        if new_volume == volume_id {
            return Ok(StatusCode::ACCEPTED);
        }
    }
    // Swapping is Cinder's to ask for during a volume migration (nova's
    // swap policy is admin-only), and no Nimbus volume ever migrates.
    if !ctx.is_admin() {
        return Err(ApiError::policy(
            "os_compute_api:os-volumes-attachments:swap",
        ));
    }
    let old = svc.volume().volume_get(&ctx, &volume_id).await?;
    Err(ApiError::conflict(format!(
        "volume {} is not migrating; this API should only be called by Cinder",
        old.id
    )))
}

async fn attachment_delete(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    Path((id, volume_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    volumes::volume_detach(&svc, &ctx, &id, &volume_id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Replaces the `os-extended-volumes:volumes_attached` of each server view
/// in `servers` with its mappings (`delete_on_termination` from 2.3).
pub async fn fill_volumes_attached(
    svc: &ComputeService,
    mv: Microversion,
    servers: &mut [Value],
) -> Result<(), ApiError> {
    let uuids: Vec<String> = servers
        .iter()
        .filter_map(|s| s.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let mut attached = volumes::volumes_attached(svc, &uuids, mv.at_least(2, 3)).await?;
    for s in servers.iter_mut() {
        let Some(id) = s.get("id").and_then(Value::as_str).map(str::to_string) else {
            continue;
        };
        if s.get("os-extended-volumes:volumes_attached").is_some()
            && let Some(list) = attached.remove(&id)
        {
            s["os-extended-volumes:volumes_attached"] = list;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_common::ApiVersion;

    fn mv(minor: u16) -> Microversion {
        Microversion(ApiVersion::new(2, minor))
    }

    #[test]
    fn attach_bodies_follow_the_schema_of_each_microversion() {
        let vol = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f";
        let ok = parse_attach(&json!({"volumeAttachment": {"volumeId": vol}}), mv(1)).unwrap();
        assert_eq!(ok.volume_id, vol);
        assert!(!ok.delete_on_termination);
        let full = parse_attach(
            &json!({"volumeAttachment": {"volumeId": vol, "device": "/dev/vdc", "tag": "db", "delete_on_termination": true}}),
            mv(79),
        )
        .unwrap();
        assert_eq!(full.device.as_deref(), Some("/dev/vdc"));
        assert_eq!(full.tag.as_deref(), Some("db"));
        assert!(full.delete_on_termination);
        for (body, v) in [
            (
                json!({"volumeAttachment": {"volumeId": vol, "tag": "db"}}),
                48,
            ),
            (
                json!({"volumeAttachment": {"volumeId": vol, "delete_on_termination": true}}),
                78,
            ),
            (json!({"volumeAttachment": {"volumeId": "not-a-uuid"}}), 1),
            (json!({"volumeAttachment": {}}), 1),
            (
                json!({"volumeAttachment": {"volumeId": vol, "device": "vdb"}}),
                1,
            ),
            (
                json!({"volumeAttachment": {"volumeId": vol, "device": 5}}),
                1,
            ),
            (
                json!({"volumeAttachment": {"volumeId": vol, "tag": "a/b"}}),
                49,
            ),
            (json!({"volumeAttachment": {"volumeId": vol}, "x": 1}), 1),
            (json!([]), 1),
        ] {
            let err = parse_attach(&body, mv(v)).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{body}");
        }
    }

    #[test]
    fn the_view_has_nova_fields_per_microversion() {
        let mut bdm = Bdm::new("srv", "volume", Some("vol"));
        bdm.device_name = Some("/dev/vdb".into());
        bdm.attachment_id = Some("att".into());
        let old = attachment_view(&bdm, mv(1));
        assert_eq!(
            old,
            json!({"id": "vol", "volumeId": "vol", "serverId": "srv", "device": "/dev/vdb"})
        );
        let v79 = attachment_view(&bdm, mv(79));
        assert_eq!(v79["tag"], Value::Null);
        assert_eq!(v79["delete_on_termination"], false);
        let v89 = attachment_view(&bdm, mv(89));
        assert!(v89.get("id").is_none());
        assert_eq!(v89["attachment_id"], "att");
        assert_eq!(v89["bdm_uuid"], json!(bdm.uuid));
    }
}
