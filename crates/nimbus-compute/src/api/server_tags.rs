//! `/servers/{id}/tags` (2.26, nova's `server_tags.py`), the `tags` of a
//! server create (2.52) and the tag and `locked` filters of listings.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Value, json};

use super::Microversion;
use super::views::BaseUrl;
use crate::app::ComputeService;
use crate::app::tags::{self, ListExtras, MAX_TAG_COUNT, tag_problem};

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route(
            "/servers/{id}/tags",
            get(tags_index).put(tags_update_all).delete(tags_delete_all),
        )
        .route(
            "/servers/{id}/tags/{tag}",
            get(tag_show).put(tag_update).delete(tag_delete),
        )
}

/// Below 2.26 these routes do not exist (nova's 404 for a version-less
/// method).
fn require_2_26(mv: Microversion) -> Result<(), ApiError> {
    if mv.at_least(2, 26) {
        Ok(())
    } else {
        Err(ApiError::not_found("The resource could not be found."))
    }
}

/// A `tags` array as nova's schema takes it (create and update_all).
pub fn parse_tags(v: &Value) -> Result<Vec<String>, ApiError> {
    let invalid = |why: String| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute tags. Value: {v}. {why}"
        ))
    };
    let items = v
        .as_array()
        .ok_or_else(|| invalid(format!("{v} is not of type 'array'")))?;
    if items.len() > MAX_TAG_COUNT {
        return Err(invalid(format!("{v} is too long")));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let tag = item
            .as_str()
            .ok_or_else(|| invalid(format!("{item} is not of type 'string'")))?;
        if let Some(problem) = tag_problem(tag) {
            return Err(invalid(problem));
        }
        out.push(tag.to_string());
    }
    Ok(out)
}

/// The tag filters (2.26; comma-separated lists) and `locked` (2.73) of a
/// listing query.
pub fn list_extras(pairs: &[(String, String)], mv: Microversion) -> Result<ListExtras, ApiError> {
    let get = |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let split = |v: String| v.split(',').map(str::to_string).collect::<Vec<_>>();
    let mut out = ListExtras::default();
    if mv.at_least(2, 26) {
        out.tags = get("tags").map(split);
        out.tags_any = get("tags-any").map(split);
        out.not_tags = get("not-tags").map(split);
        out.not_tags_any = get("not-tags-any").map(split);
    }
    if mv.at_least(2, 73)
        && let Some(v) = get("locked")
    {
        out.locked = Some(strict_bool(&v)?);
    }
    Ok(out)
}

/// oslo's `bool_from_string(strict=True)` (nova's `common.is_locked`).
fn strict_bool(v: &str) -> Result<bool, ApiError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Ok(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Invalid input received: Unrecognized value '{v}', acceptable values are: '0', \
             '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
        ))),
    }
}

async fn tags_index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_2_26(mv)?;
    Ok(Json(
        json!({"tags": tags::tags_list(&svc, &ctx, &id).await?}),
    ))
}

async fn tags_update_all(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    require_2_26(mv)?;
    let map = body.as_object().ok_or_else(|| {
        ApiError::bad_request(format!(
            "Invalid input for field/attribute body. Value: {body}. {body} is not of type 'object'"
        ))
    })?;
    if let Some(key) = map.keys().find(|k| k.as_str() != "tags") {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute body. Additional properties are not allowed \
             ('{key}' was unexpected)"
        )));
    }
    let wanted = parse_tags(map.get("tags").ok_or_else(|| {
        ApiError::bad_request(
            "Invalid input for field/attribute body. 'tags' is a required property",
        )
    })?)?;
    let now = tags::tags_replace(&svc, &ctx, &id, &wanted).await?;
    Ok(Json(json!({"tags": now})))
}

async fn tags_delete_all(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_2_26(mv)?;
    tags::tags_delete_all(&svc, &ctx, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    require_2_26(mv)?;
    tags::tag_check(&svc, &ctx, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn tag_update(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Extension(base): Extension<BaseUrl>,
    Path((id, tag)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_2_26(mv)?;
    // nova's schema for this body is `null`: nothing, or JSON null.
    let text = std::str::from_utf8(&body).unwrap_or("?").trim();
    if !text.is_empty() && text != "null" {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute body. Value: {text}. {text} is not of type 'null'"
        )));
    }
    if !tags::tag_add(&svc, &ctx, &id, &tag).await? {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut response = StatusCode::CREATED.into_response();
    let location = base.versioned(&format!("servers/{id}/tags/{}", encode_segment(&tag)));
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert("location", v);
    }
    Ok(response)
}

async fn tag_delete(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path((id, tag)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    require_2_26(mv)?;
    tags::tag_delete(&svc, &ctx, &id, &tag).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Percent-encodes a path segment (a tag may hold spaces or non-ASCII).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use nimbus_common::ApiVersion;

    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn tag_arrays_are_checked_as_nova_schema() {
        assert_eq!(parse_tags(&json!(["a", "b c"])).unwrap(), vec!["a", "b c"]);
        assert!(parse_tags(&json!(["a/b"])).is_err());
        assert!(parse_tags(&json!([""])).is_err());
        assert!(parse_tags(&json!([1])).is_err());
        assert!(parse_tags(&json!("a")).is_err());
        let fifty: Vec<String> = (0..50).map(|n| format!("t{n}")).collect();
        assert_eq!(parse_tags(&json!(fifty)).unwrap().len(), 50);
        let too_many: Vec<String> = (0..51).map(|n| format!("t{n}")).collect();
        assert!(parse_tags(&json!(too_many)).is_err());
    }

    #[test]
    fn list_filters_depend_on_the_microversion() {
        let q = pairs(&[("tags", "a,b"), ("not-tags-any", "c"), ("locked", "true")]);
        let old = list_extras(&q, Microversion(ApiVersion::new(2, 25))).unwrap();
        assert_eq!(old, ListExtras::default());
        let mid = list_extras(&q, Microversion(ApiVersion::new(2, 26))).unwrap();
        assert_eq!(mid.tags, Some(vec!["a".into(), "b".into()]));
        assert_eq!(mid.not_tags_any, Some(vec!["c".into()]));
        assert_eq!(mid.locked, None);
        let new = list_extras(&q, Microversion(ApiVersion::new(2, 73))).unwrap();
        assert_eq!(new.locked, Some(true));
        let bad = pairs(&[("locked", "maybe")]);
        assert!(list_extras(&bad, Microversion(ApiVersion::new(2, 73))).is_err());
    }

    #[test]
    fn locations_encode_the_tag() {
        assert_eq!(encode_segment("a b/ü"), "a%20b%2F%C3%BC");
    }
}
