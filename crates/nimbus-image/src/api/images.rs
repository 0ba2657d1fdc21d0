//! `/v2/images`, `/v2/images/{id}`, tags and actions.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Value, json};

use super::wire::image_json;
use super::{encode, media_type};
use crate::app::ImageService;
use crate::app::images::{PatchFlavor, PatchOp};

/// `GET /v2/images`.
pub async fn list(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let (images, more) = svc.image_list(&ctx, &query).await?;
    let admin = svc.shows_locations(&ctx);
    let kept: Vec<String> = query
        .iter()
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    let first = if kept.is_empty() {
        "/v2/images".to_string()
    } else {
        format!("/v2/images?{}", kept.join("&"))
    };
    let mut body = json!({
        "images": images.iter().map(|i| image_json(i, admin)).collect::<Vec<_>>(),
        "first": first,
        "schema": "/v2/schemas/images",
    });
    if more && let Some(last) = images.last() {
        let mut params = kept.clone();
        params.push(format!("marker={}", encode(&last.id)));
        body["next"] = Value::String(format!("/v2/images?{}", params.join("&")));
    }
    Ok(axum::Json(body).into_response())
}

/// `POST /v2/images`.
pub async fn create(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        ));
    };
    let image = svc.image_create(&ctx, &body).await?;
    let location = format!("/v2/images/{}", image.id);
    let mut response = (
        StatusCode::CREATED,
        axum::Json(image_json(&image, svc.shows_locations(&ctx))),
    )
        .into_response();
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// `GET /v2/images/{id}`.
pub async fn show(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let image = svc.image_visible(&ctx, &id).await?;
    Ok(axum::Json(image_json(&image, svc.shows_locations(&ctx))).into_response())
}

/// The operation name and path of one change: JSON-patch draft 10
/// (`{"op": "replace", "path": "/name"}`, media type v2.1) or draft 4
/// (`{"replace": "/name"}`, media type v2.0, what Tempest's client sends),
/// as Glance's `_get_change_operation_d10` / `_d4`.
fn op_and_path(
    obj: &mut serde_json::Map<String, Value>,
    flavor: PatchFlavor,
) -> Result<(String, String), ApiError> {
    if flavor == PatchFlavor::V21 {
        let op = obj
            .remove("op")
            .and_then(|v| v.as_str().map(str::to_string));
        let path = obj
            .remove("path")
            .and_then(|v| v.as_str().map(str::to_string));
        return match (op, path) {
            (Some(op), Some(path)) => Ok((op, path)),
            _ => Err(ApiError::bad_request(
                "Operation objects must contain 'op' and 'path'.",
            )),
        };
    }
    let ops: Vec<&str> = ["add", "remove", "replace"]
        .into_iter()
        .filter(|k| obj.contains_key(*k))
        .collect();
    let [op] = ops[..] else {
        return Err(ApiError::bad_request(
            "Operation objects must contain exactly one member named \"add\", \"remove\", or \"replace\".",
        ));
    };
    let path = obj
        .remove(op)
        .and_then(|v| v.as_str().map(str::to_string))
        .ok_or_else(|| ApiError::bad_request(format!("Unable to find '{op}' path.")))?;
    Ok((op.to_string(), path))
}

/// Parses a JSON-patch body into operations on top-level attributes.
fn patch_ops(body: &[u8], flavor: PatchFlavor) -> Result<Vec<PatchOp>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        ApiError::bad_request("Malformed request body: the body is not valid JSON.")
    })?;
    let Value::Array(items) = value else {
        return Err(ApiError::bad_request(
            "Request body must be a JSON array of operation objects.",
        ));
    };
    let mut ops = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(mut obj) = item else {
            return Err(ApiError::bad_request("Operations must be JSON objects."));
        };
        let (op, path) = op_and_path(&mut obj, flavor)?;
        let name = pointer_name(&path)?;
        let value = obj.remove("value");
        ops.push(match (op.as_str(), value) {
            ("add", Some(v)) => PatchOp::Add(name, v),
            ("replace", Some(v)) => PatchOp::Replace(name, v),
            ("remove", None) => PatchOp::Remove(name),
            ("add" | "replace", None) => {
                return Err(ApiError::bad_request(format!(
                    "Operation \"{op}\" requires a member named \"value\"."
                )));
            }
            ("remove", Some(_)) => {
                return Err(ApiError::bad_request(
                    "Operation \"remove\" must not have a \"value\".",
                ));
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid operation: `{op}`: must be one of add, remove, replace."
                )));
            }
        });
    }
    Ok(ops)
}

/// `/name` -> `name`, with JSON-pointer escapes; deeper paths are refused
/// (Glance allows them only for `locations`, which is admin-only here).
fn pointer_name(path: &str) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request(format!("Invalid JSON pointer for this resource: '{path}'"));
    let rest = path.strip_prefix('/').ok_or_else(bad)?;
    if rest.is_empty() || rest.contains('/') {
        if rest.starts_with("locations") {
            return Err(ApiError::forbidden("Attribute 'locations' is read-only."));
        }
        return Err(bad());
    }
    if rest.replace("~0", "").replace("~1", "").contains('~') {
        return Err(bad());
    }
    Ok(rest.replace("~1", "/").replace("~0", "~"))
}

/// `PATCH /v2/images/{id}`.
pub async fn update(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let flavor = match media_type(&headers).as_str() {
        "application/openstack-images-v2.1-json-patch" => PatchFlavor::V21,
        "application/openstack-images-v2.0-json-patch" => PatchFlavor::V20,
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "Unsupported Content-Type '{other}': use application/openstack-images-v2.1-json-patch."
            )));
        }
    };
    let ops = patch_ops(&body, flavor)?;
    let image = svc.image_update(&ctx, &id, flavor, &ops).await?;
    Ok(axum::Json(image_json(&image, svc.shows_locations(&ctx))).into_response())
}

/// `DELETE /v2/images/{id}`.
pub async fn delete(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    svc.image_delete(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /v2/images/{id}/tags/{tag}`.
pub async fn tag_add(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    svc.tag_add(&ctx, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v2/images/{id}/tags/{tag}`.
pub async fn tag_delete(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    svc.tag_delete(&ctx, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v2/images/{id}/actions/deactivate`.
pub async fn deactivate(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    svc.image_deactivate(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v2/images/{id}/actions/reactivate`.
pub async fn reactivate(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    svc.image_reactivate(&ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_bodies_parse() {
        let ops = patch_ops(
            br#"[{"op":"add","path":"/a~1b","value":"x"},{"op":"remove","path":"/k"}]"#,
            PatchFlavor::V21,
        )
        .unwrap();
        assert_eq!(
            ops,
            vec![
                PatchOp::Add("a/b".into(), json!("x")),
                PatchOp::Remove("k".into())
            ]
        );
        assert_eq!(
            patch_ops(br#"[{"op":"move","path":"/a"}]"#, PatchFlavor::V21)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            patch_ops(br#"[{"op":"add","path":"a","value":1}]"#, PatchFlavor::V21)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            patch_ops(br#"{"op":"add"}"#, PatchFlavor::V21)
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            patch_ops(
                br#"[{"op":"add","path":"/locations/-","value":{}}]"#,
                PatchFlavor::V21
            )
            .unwrap_err()
            .status(),
            403
        );
    }

    #[test]
    fn draft_4_bodies_parse_under_the_v2_0_media_type() {
        let ops = patch_ops(
            br#"[{"replace":"/name","value":"new"},{"remove":"/k"}]"#,
            PatchFlavor::V20,
        )
        .unwrap();
        assert_eq!(
            ops,
            vec![
                PatchOp::Replace("name".into(), json!("new")),
                PatchOp::Remove("k".into())
            ]
        );
        // Two operation members, or none, are refused.
        for body in [
            br#"[{"add":"/a","replace":"/a","value":1}]"#.as_slice(),
            br#"[{"op":"add","path":"/a","value":1}]"#.as_slice(),
        ] {
            assert_eq!(patch_ops(body, PatchFlavor::V20).unwrap_err().status(), 400);
        }
    }
}
