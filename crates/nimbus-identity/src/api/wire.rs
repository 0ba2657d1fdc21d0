//! Wire helpers shared by the handlers: JSON shapes and query parsing.

use std::collections::HashMap;

use nimbus_common::ApiError;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::model::{Domain, ListFilter, Project, Role, User};

/// Unknown routes: Keystone's 404.
pub async fn not_found() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}

/// `{"self": url, "previous": null, "next": null}` for lists.
pub fn list_links(base: &str, path: &str) -> Value {
    json!({"self": format!("{base}/identity/v3/{path}"), "previous": null, "next": null})
}

fn link(base: &str, path: &str, id: &str) -> Value {
    json!({"self": format!("{base}/identity/v3/{path}/{id}")})
}

/// A domain as Keystone shows it.
pub fn domain_json(base: &str, d: &Domain) -> Value {
    json!({
        "id": d.id, "name": d.name, "description": d.description, "enabled": d.enabled,
        "tags": [], "options": {}, "links": link(base, "domains", &d.id),
    })
}

/// A project as Keystone shows it (top-level: the parent is the domain).
pub fn project_json(base: &str, p: &Project) -> Value {
    json!({
        "id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
        "enabled": p.enabled, "parent_id": p.domain_id, "is_domain": false,
        "tags": [], "options": {}, "links": link(base, "projects", &p.id),
    })
}

/// A user as Keystone shows it (never the password hash).
pub fn user_json(base: &str, u: &User) -> Value {
    let mut v = json!({
        "id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
        "password_expires_at": null, "options": {}, "links": link(base, "users", &u.id),
    });
    if let Some(p) = &u.default_project_id {
        v["default_project_id"] = json!(p);
    }
    if !u.description.is_empty() {
        v["description"] = json!(u.description);
    }
    if let Some(e) = &u.email {
        v["email"] = json!(e);
    }
    v
}

/// A role as Keystone shows it.
pub fn role_json(base: &str, r: &Role) -> Value {
    json!({
        "id": r.id, "name": r.name, "domain_id": null, "description": r.description,
        "options": {}, "links": link(base, "roles", &r.id),
    })
}

/// Parses `true`/`false` the way Keystone's query filters do.
pub fn parse_bool(field: &str, text: &str) -> Result<bool, ApiError> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Invalid value for '{field}': {text}."
        ))),
    }
}

/// `name`, `domain_id`, `enabled` filters from a query.
pub fn list_filter(query: &HashMap<String, String>) -> Result<ListFilter, ApiError> {
    Ok(ListFilter {
        name: query.get("name").cloned(),
        domain_id: query.get("domain_id").cloned(),
        enabled: query
            .get("enabled")
            .map(|e| parse_bool("enabled", e))
            .transpose()?,
    })
}

/// Deserializes a field that may be absent (`None`), null (`Some(None)`) or set.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}
