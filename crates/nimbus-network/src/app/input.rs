//! Request bodies: neutron's attribute validation, with its messages.

use nimbus_common::{ApiError, RequestContext};
use serde_json::{Map, Value};

use crate::error::{bad_request, invalid_attr};

/// The attributes of one resource in a request body, taken one by one;
/// whatever is left at the end was not recognised.
#[derive(Debug)]
pub struct Attrs {
    map: Map<String, Value>,
}

/// Attributes clients may send back from a GET but never set (networks
/// take `router:external` before this check; on subnets it is read-only).
const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "created_at",
    "updated_at",
    "revision_number",
    "subnets",
    "tags",
    "router:external",
];

/// Most resources one bulk request may create. Neutron has no such limit
/// (quotas bound it for projects); this keeps one request from running
/// for minutes on an unlimited admin.
pub const MAX_BULK: usize = 1000;

/// A creation body.
#[derive(Debug)]
pub enum Create {
    /// `{"<resource>": {...}}`.
    One(Attrs),
    /// `{"<collection>": [...]}`: neutron's bulk form, all or nothing.
    Bulk(Vec<Attrs>),
}

impl Attrs {
    /// `{"<resource>": {...}}` into its attributes.
    pub fn from_body(body: Value, resource: &str) -> Result<Attrs, ApiError> {
        let Value::Object(mut outer) = body else {
            return Err(bad_request("Body contains invalid data"));
        };
        match outer.remove(resource) {
            Some(Value::Object(map)) => Ok(Attrs { map }),
            Some(_) => Err(bad_request("Body contains invalid data")),
            None => Err(bad_request(format!(
                "Unable to find '{resource}' in request body"
            ))),
        }
    }

    /// A creation body: `{"<resource>": {...}}`, or the bulk form
    /// `{"<collection>": [...]}` whose items are the attributes themselves
    /// or wrapped as `{"<resource>": {...}}` (neutron's
    /// `prepare_request_body` accepts both).
    pub fn from_create_body(
        body: Value,
        resource: &str,
        collection: &str,
    ) -> Result<Create, ApiError> {
        let Value::Object(mut outer) = body else {
            return Err(bad_request("Body contains invalid data"));
        };
        let Some(items) = outer.remove(collection) else {
            return Attrs::from_body(Value::Object(outer), resource).map(Create::One);
        };
        let Value::Array(items) = items else {
            return Err(bad_request("Body contains invalid data"));
        };
        if items.is_empty() {
            return Err(bad_request("Resources required"));
        }
        if items.len() > MAX_BULK {
            return Err(bad_request(format!(
                "A bulk request may create at most {MAX_BULK} {collection}"
            )));
        }
        items
            .into_iter()
            .map(|item| match item {
                Value::Object(map) if map.contains_key(resource) => {
                    Attrs::from_body(Value::Object(map), resource)
                }
                Value::Object(map) => Ok(Attrs { map }),
                _ => Err(bad_request("Body contains invalid data")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Create::Bulk)
    }

    /// Attributes given directly (in-process callers, router actions).
    pub fn from_map(map: Map<String, Value>) -> Attrs {
        Attrs { map }
    }

    /// Whether `key` was given.
    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// The raw value of `key`, removed.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    /// A string of at most `max` characters (`null` is refused).
    pub fn string(&mut self, key: &str, max: usize) -> Result<Option<String>, ApiError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s)),
            Some(Value::String(s)) => Err(invalid_attr(
                key,
                format!("'{s}' exceeds maximum length of {max}"),
            )),
            Some(other) => Err(invalid_attr(
                key,
                format!("'{other}' is not a valid string"),
            )),
        }
    }

    /// A string or `null` (`Some(None)`).
    pub fn nullable_string(
        &mut self,
        key: &str,
        max: usize,
    ) -> Result<Option<Option<String>>, ApiError> {
        if matches!(self.map.get(key), Some(Value::Null)) {
            self.map.remove(key);
            return Ok(Some(None));
        }
        Ok(self.string(key, max)?.map(Some))
    }

    /// A boolean as neutron's `convert_to_boolean` accepts it.
    pub fn boolean(&mut self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(v) => to_bool(&v)
                .map(Some)
                .ok_or_else(|| invalid_attr(key, format!("'{v}' cannot be converted to boolean"))),
        }
    }

    /// An integer (JSON number or decimal string), or `null`.
    pub fn int(&mut self, key: &str) -> Result<Option<Option<i64>>, ApiError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(None)),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(Some(n.as_i64())),
            Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => {
                Ok(Some(s.trim().parse::<i64>().ok()))
            }
            Some(other) => Err(invalid_attr(key, format!("'{other}' is not an integer"))),
        }
    }

    /// A list of strings (`null` is an empty list).
    pub fn string_list(
        &mut self,
        key: &str,
        max_items: usize,
    ) -> Result<Option<Vec<String>>, ApiError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(Vec::new())),
            Some(Value::Array(items)) => {
                if items.len() > max_items {
                    return Err(invalid_attr(
                        key,
                        format!("too many items, at most {max_items} are allowed"),
                    ));
                }
                items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) if s.len() <= 255 => Ok(s),
                        other => Err(invalid_attr(
                            key,
                            format!("'{other}' is not a valid string"),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            }
            Some(other) => Err(invalid_attr(key, format!("'{other}' is not a list"))),
        }
    }

    /// A list of objects (`null` is an empty list).
    pub fn object_list(
        &mut self,
        key: &str,
        max_items: usize,
    ) -> Result<Option<Vec<Map<String, Value>>>, ApiError> {
        match self.map.remove(key) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(Vec::new())),
            Some(Value::Array(items)) => {
                if items.len() > max_items {
                    return Err(invalid_attr(
                        key,
                        format!("too many items, at most {max_items} are allowed"),
                    ));
                }
                items
                    .into_iter()
                    .map(|v| match v {
                        Value::Object(m) => Ok(m),
                        other => Err(invalid_attr(key, format!("'{other}' is not a dictionary"))),
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some)
            }
            Some(other) => Err(invalid_attr(key, format!("'{other}' is not a list"))),
        }
    }

    /// The owning project of a new resource: the caller's, or (admins only)
    /// the `project_id` / `tenant_id` given.
    pub fn owner(&mut self, ctx: &RequestContext) -> Result<String, ApiError> {
        let project = self.string("project_id", 255)?;
        let tenant = self.string("tenant_id", 255)?;
        if let (Some(p), Some(t)) = (&project, &tenant)
            && p != t
        {
            return Err(bad_request("project_id and tenant_id do not match"));
        }
        let own = ctx.project_id.clone().unwrap_or_default();
        match project.or(tenant) {
            Some(p) if p != own && !ctx.is_admin() => Err(bad_request(
                "Specifying 'project_id' or 'tenant_id' other than the authenticated project in request requires admin privileges",
            )),
            Some(p) if !p.is_empty() => Ok(p),
            _ if own.is_empty() => Err(bad_request("Tenant-id was missing from request.")),
            _ => Ok(own),
        }
    }

    /// Refuses whatever is left: read-only attributes by name, the rest as
    /// unrecognised (neutron's messages).
    pub fn finish(self, method: &str) -> Result<(), ApiError> {
        if let Some(key) = self.map.keys().find(|k| READ_ONLY.contains(&k.as_str())) {
            return Err(bad_request(format!(
                "Attribute '{key}' not allowed in {method}"
            )));
        }
        if self.map.is_empty() {
            return Ok(());
        }
        let mut keys: Vec<&str> = self.map.keys().map(String::as_str).collect();
        keys.sort_unstable();
        Err(bad_request(format!(
            "Unrecognized attribute(s) '{}'",
            keys.join(", ")
        )))
    }
}

/// neutron-lib's `convert_to_boolean`.
pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(0) => Some(false),
            Some(1) => Some(true),
            _ => None,
        },
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}
