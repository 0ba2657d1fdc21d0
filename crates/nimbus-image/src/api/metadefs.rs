//! `/v2/metadefs/*`: namespaces, objects, properties, tags, resource types
//! and associations, in the documents `glance/api/v2/metadef_*.py` render.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Map, Value, json};

use super::header_str;
use super::wire::timestamp;
use crate::app::ImageService;
use crate::app::metadef_model::{Association, Item, ItemKind, Namespace};

/// Glance's `limit_param_default` and `api_limit_max`.
const LIMIT_DEFAULT: usize = 25;
const LIMIT_MAX: usize = 1000;

fn ns_href(ns: &str) -> String {
    format!("/v2/metadefs/namespaces/{ns}")
}

fn namespace_json(ns: &Namespace) -> Map<String, Value> {
    let mut doc = Map::new();
    doc.insert("namespace".into(), json!(ns.namespace));
    if let Some(d) = &ns.display_name {
        doc.insert("display_name".into(), json!(d));
    }
    if let Some(d) = &ns.description {
        doc.insert("description".into(), json!(d));
    }
    doc.insert("visibility".into(), json!(ns.visibility));
    doc.insert("protected".into(), json!(ns.protected));
    if let Some(o) = &ns.owner {
        doc.insert("owner".into(), json!(o));
    }
    doc.insert("created_at".into(), json!(timestamp(ns.created_at)));
    doc.insert("updated_at".into(), json!(timestamp(ns.updated_at)));
    doc.insert("self".into(), json!(ns_href(&ns.namespace)));
    doc.insert("schema".into(), json!("/v2/schemas/metadefs/namespace"));
    doc
}

fn association_json(a: &Association) -> Value {
    let mut doc = json!({
        "name": a.name,
        "created_at": timestamp(a.created_at),
        "updated_at": timestamp(a.updated_at),
    });
    if let Some(p) = &a.prefix {
        doc["prefix"] = json!(p);
    }
    if let Some(t) = &a.properties_target {
        doc["properties_target"] = json!(t);
    }
    doc
}

fn object_json(ns: &str, o: &Item) -> Value {
    let mut doc = match &o.body {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    doc.insert("name".into(), json!(o.name));
    doc.insert("created_at".into(), json!(timestamp(o.created_at)));
    doc.insert("updated_at".into(), json!(timestamp(o.updated_at)));
    doc.insert(
        "self".into(),
        json!(format!("{}/objects/{}", ns_href(ns), o.name)),
    );
    doc.insert("schema".into(), json!("/v2/schemas/metadefs/object"));
    Value::Object(doc)
}

fn property_json(p: &Item) -> Value {
    let mut doc = p.body.clone();
    doc["name"] = json!(p.name);
    doc
}

fn tag_json(t: &Item) -> Value {
    json!({
        "name": t.name,
        "created_at": timestamp(t.created_at),
        "updated_at": timestamp(t.updated_at),
    })
}

/// Property definitions keyed by name, names prefixed with `prefix`.
fn properties_json(props: &[Item], prefix: &str) -> Value {
    let map: Map<String, Value> = props
        .iter()
        .map(|p| (format!("{prefix}{}", p.name), p.body.clone()))
        .collect();
    Value::Object(map)
}

fn created(doc: Value, location: Option<String>) -> Response {
    let mut resp = (StatusCode::CREATED, axum::Json(doc)).into_response();
    if let Some(loc) = location
        && let Ok(v) = loc.parse()
    {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn parse_limit(q: &HashMap<String, String>) -> Result<usize, ApiError> {
    match q.get("limit") {
        None => Ok(LIMIT_DEFAULT),
        Some(l) => l
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request("limit param must be an integer"))
            .and_then(|n| {
                usize::try_from(n)
                    .map_err(|_| ApiError::bad_request("limit param must be positive"))
            })
            .map(|n| n.min(LIMIT_MAX)),
    }
}

/// `GET /v2/metadefs/namespaces`: filters `visibility` and
/// `resource_types` (comma-separated), `sort_key`/`sort_dir`,
/// `limit`/`marker`.
pub async fn namespace_list(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let limit = parse_limit(&q)?;
    let desc = match q.get("sort_dir").map(String::as_str) {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(d) => {
            return Err(ApiError::bad_request(format!(
                "Invalid sort direction: {d}"
            )));
        }
    };
    let sort_key = q
        .get("sort_key")
        .map(String::as_str)
        .unwrap_or("created_at");
    if !["created_at", "updated_at", "namespace", "display_name"].contains(&sort_key) {
        return Err(ApiError::bad_request(format!(
            "Invalid sort key: {sort_key}"
        )));
    }
    let visibility = q.get("visibility").map(String::as_str);
    if let Some(v) = visibility
        && !["public", "private"].contains(&v)
    {
        return Err(ApiError::bad_request(format!(
            "Invalid visibility value: {v}"
        )));
    }
    let wanted_types: Vec<&str> = q
        .get("resource_types")
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut rows = Vec::new();
    for ns in svc.namespace_list(&ctx).await? {
        if visibility.is_some_and(|v| v != ns.visibility) {
            continue;
        }
        let assocs = svc.associations_of(&ns).await?;
        if !wanted_types.is_empty()
            && !assocs
                .iter()
                .any(|a| wanted_types.contains(&a.name.as_str()))
        {
            continue;
        }
        rows.push((ns, assocs));
    }
    rows.sort_by(|(a, _), (b, _)| {
        let ord = match sort_key {
            "updated_at" => a.updated_at.cmp(&b.updated_at),
            "namespace" => a.namespace.cmp(&b.namespace),
            "display_name" => a.display_name.cmp(&b.display_name),
            _ => a.created_at.cmp(&b.created_at),
        }
        .then_with(|| a.namespace.cmp(&b.namespace));
        if desc { ord.reverse() } else { ord }
    });
    let start = match q.get("marker") {
        None => 0,
        Some(m) => {
            rows.iter()
                .position(|(ns, _)| &ns.namespace == m)
                .ok_or_else(|| {
                    ApiError::not_found(format!("Metadata definition namespace={m} was not found."))
                })?
                + 1
        }
    };
    let page: Vec<_> = rows.iter().skip(start).take(limit).collect();
    let namespaces: Vec<Value> = page
        .iter()
        .map(|(ns, assocs)| {
            let mut doc = namespace_json(ns);
            if !assocs.is_empty() {
                doc.insert(
                    "resource_type_associations".into(),
                    Value::Array(assocs.iter().map(association_json).collect()),
                );
            }
            Value::Object(doc)
        })
        .collect();
    let mut params: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| k.as_str() != "marker")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    params.sort();
    let query = |params: &[(String, String)]| {
        params
            .iter()
            .map(|(k, v)| format!("{}={}", super::encode(k), super::encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    };
    let mut first = "/v2/metadefs/namespaces".to_string();
    if !params.is_empty() {
        first = format!("{first}?{}", query(&params));
    }
    let mut doc = json!({
        "namespaces": namespaces,
        "first": first,
        "schema": "/v2/schemas/metadefs/namespaces",
    });
    if !page.is_empty()
        && page.len() == limit
        && let Some((last, _)) = page.last()
    {
        params.push(("marker".into(), last.namespace.clone()));
        doc["next"] = json!(format!("/v2/metadefs/namespaces?{}", query(&params)));
    }
    Ok(axum::Json(doc).into_response())
}

/// `POST /v2/metadefs/namespaces`.
pub async fn namespace_create(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let nested = body.clone();
    let ns = svc.namespace_create(&ctx, body).await?;
    // As Glance: the reply echoes what the request nested.
    let mut doc = namespace_json(&ns);
    for key in [
        "resource_type_associations",
        "properties",
        "objects",
        "tags",
    ] {
        if let Some(v) = nested.get(key) {
            doc.insert(key.into(), v.clone());
        }
    }
    Ok(created(Value::Object(doc), Some(ns_href(&ns.namespace))))
}

/// `GET /v2/metadefs/namespaces/{ns}`: the namespace with everything in it;
/// `?resource_type=X` prefixes property names with X's prefix.
pub async fn namespace_show(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let ns = svc.namespace_visible(&ctx, &name).await?;
    let (objects, properties, tags, assocs) = svc.namespace_contents(&ns).await?;
    let prefix = q
        .get("resource_type")
        .and_then(|rt| assocs.iter().find(|a| &a.name == rt))
        .and_then(|a| a.prefix.clone())
        .unwrap_or_default();
    let mut doc = namespace_json(&ns);
    if !assocs.is_empty() {
        doc.insert(
            "resource_type_associations".into(),
            Value::Array(assocs.iter().map(association_json).collect()),
        );
    }
    if !properties.is_empty() {
        doc.insert("properties".into(), properties_json(&properties, &prefix));
    }
    if !objects.is_empty() {
        let list = objects
            .iter()
            .map(|o| {
                let mut doc = object_json(&ns.namespace, o);
                if !prefix.is_empty() {
                    prefix_object(&mut doc, &prefix);
                }
                doc
            })
            .collect();
        doc.insert("objects".into(), Value::Array(list));
    }
    if !tags.is_empty() {
        let list = tags.iter().map(|t| json!({"name": t.name})).collect();
        doc.insert("tags".into(), Value::Array(list));
    }
    Ok(axum::Json(Value::Object(doc)).into_response())
}

fn prefix_object(doc: &mut Value, prefix: &str) {
    if let Some(Value::Object(props)) = doc.get("properties") {
        let renamed: Map<String, Value> = props
            .iter()
            .map(|(k, v)| (format!("{prefix}{k}"), v.clone()))
            .collect();
        doc["properties"] = Value::Object(renamed);
    }
    if let Some(Value::Array(req)) = doc.get("required") {
        let renamed: Vec<Value> = req
            .iter()
            .filter_map(Value::as_str)
            .map(|k| json!(format!("{prefix}{k}")))
            .collect();
        doc["required"] = Value::Array(renamed);
    }
}

/// `PUT /v2/metadefs/namespaces/{ns}`.
pub async fn namespace_update(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let ns = svc.namespace_update(&ctx, &name, body).await?;
    Ok(axum::Json(Value::Object(namespace_json(&ns))).into_response())
}

/// `DELETE /v2/metadefs/namespaces/{ns}`.
pub async fn namespace_delete(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    svc.namespace_delete(&ctx, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn kind_of(segment: &str) -> Result<ItemKind, ApiError> {
    match segment {
        "objects" => Ok(ItemKind::Object),
        "properties" => Ok(ItemKind::Property),
        "tags" => Ok(ItemKind::Tag),
        _ => Err(ApiError::not_found("The resource could not be found.")),
    }
}

fn item_json(ns: &str, kind: ItemKind, item: &Item) -> Value {
    match kind {
        ItemKind::Object => object_json(ns, item),
        ItemKind::Property => property_json(item),
        ItemKind::Tag => tag_json(item),
    }
}

/// `GET /v2/metadefs/namespaces/{ns}/{objects,properties,tags}`.
pub async fn item_list(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((ns, segment)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let kind = kind_of(&segment)?;
    let (namespace, items) = svc.item_list(&ctx, &ns, kind).await?;
    let doc = match kind {
        ItemKind::Object => json!({
            "objects": items.iter().map(|o| object_json(&namespace.namespace, o)).collect::<Vec<_>>(),
            "schema": "v2/schemas/metadefs/objects",
        }),
        ItemKind::Property => json!({"properties": properties_json(&items, "")}),
        ItemKind::Tag => json!({"tags": items.iter().map(tag_json).collect::<Vec<_>>()}),
    };
    Ok(axum::Json(doc).into_response())
}

/// `POST /v2/metadefs/namespaces/{ns}/{objects,properties}` and the bulk
/// `POST .../tags` (`X-Openstack-Append: true` keeps existing tags).
pub async fn item_create(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((ns, segment)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let kind = kind_of(&segment)?;
    if kind == ItemKind::Tag {
        let append = header_str(&headers, "x-openstack-append")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let tags = svc.tags_create(&ctx, &ns, body, append).await?;
        let list: Vec<Value> = tags.iter().map(|t| json!({"name": t.name})).collect();
        return Ok(created(json!({"tags": list}), None));
    }
    let item = svc.item_create(&ctx, &ns, kind, Some(body), None).await?;
    let location = format!("{}/{segment}/{}", ns_href(&ns), item.name);
    Ok(created(item_json(&ns, kind, &item), Some(location)))
}

/// `DELETE /v2/metadefs/namespaces/{ns}/{objects,properties,tags}`.
pub async fn item_delete_all(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((ns, segment)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    svc.item_delete(&ctx, &ns, kind_of(&segment)?, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v2/metadefs/namespaces/{ns}/{kind}/{name}`.
pub async fn item_show(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((ns, segment, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let kind = kind_of(&segment)?;
    let item = svc.item_show(&ctx, &ns, kind, &name).await?;
    Ok(axum::Json(item_json(&ns, kind, &item)).into_response())
}

/// `POST /v2/metadefs/namespaces/{ns}/tags/{tag}`: one tag, no body.
pub async fn tag_create(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((ns, segment, name)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    if kind_of(&segment)? != ItemKind::Tag {
        return Err(ApiError::new(
            nimbus_common::error::ErrorKind::MethodNotAllowed,
            "The method is not allowed for this resource.",
        ));
    }
    let item = svc
        .item_create(&ctx, &ns, ItemKind::Tag, None, Some(&name))
        .await?;
    let location = format!("{}/tags/{}", ns_href(&ns), item.name);
    Ok(created(tag_json(&item), Some(location)))
}

/// `PUT /v2/metadefs/namespaces/{ns}/{kind}/{name}`.
pub async fn item_update(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((ns, segment, name)): Path<(String, String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let kind = kind_of(&segment)?;
    let item = svc.item_update(&ctx, &ns, kind, &name, body).await?;
    Ok(axum::Json(item_json(&ns, kind, &item)).into_response())
}

/// `DELETE /v2/metadefs/namespaces/{ns}/{kind}/{name}`.
pub async fn item_delete(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((ns, segment, name)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    svc.item_delete(&ctx, &ns, kind_of(&segment)?, Some(&name))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v2/metadefs/resource_types`.
pub async fn resource_type_list(
    State(svc): State<ImageService>,
    ctx: RequestContext,
) -> Result<Response, ApiError> {
    let types = svc.resource_type_list(&ctx).await?;
    let list: Vec<Value> = types
        .iter()
        .map(|t| {
            json!({"name": t.name, "created_at": timestamp(t.created_at),
                   "updated_at": timestamp(t.updated_at)})
        })
        .collect();
    Ok(axum::Json(json!({"resource_types": list})).into_response())
}

/// `GET /v2/metadefs/namespaces/{ns}/resource_types`.
pub async fn association_list(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(ns): Path<String>,
) -> Result<Response, ApiError> {
    let list = svc.association_list(&ctx, &ns).await?;
    let list: Vec<Value> = list.iter().map(association_json).collect();
    Ok(axum::Json(json!({"resource_type_associations": list})).into_response())
}

/// `POST /v2/metadefs/namespaces/{ns}/resource_types`.
pub async fn association_create(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path(ns): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let assoc = svc.association_create(&ctx, &ns, body).await?;
    Ok(created(association_json(&assoc), None))
}

/// `DELETE /v2/metadefs/namespaces/{ns}/resource_types/{rt}`.
pub async fn association_delete(
    State(svc): State<ImageService>,
    ctx: RequestContext,
    Path((ns, rt)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    svc.association_delete(&ctx, &ns, &rt).await?;
    Ok(StatusCode::NO_CONTENT)
}
