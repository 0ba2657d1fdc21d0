//! Metadata definitions (Glance's metadefs): the catalog of namespaces and
//! the objects, properties, tags and resource-type associations in them,
//! and the checks that turn request bodies into them (Glance validates
//! against the JSON schemas in `api/metadef_schemas.rs`; these are the
//! same rules written out).

use nimbus_common::ApiError;
use serde_json::{Map, Value};

/// A namespace row.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// Internal key; clients address a namespace by its name.
    pub id: String,
    /// The unique name.
    pub namespace: String,
    /// Name for UIs.
    pub display_name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// `public` or `private`.
    pub visibility: String,
    /// Whether deletes in it are refused.
    pub protected: bool,
    /// Owning project.
    pub owner: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

/// What an item row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// An object: a named group of property definitions.
    Object,
    /// A property definition.
    Property,
    /// A tag.
    Tag,
}

impl ItemKind {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Object => "object",
            ItemKind::Property => "property",
            ItemKind::Tag => "tag",
        }
    }

    /// The word in Glance's messages.
    pub fn noun(self) -> &'static str {
        match self {
            ItemKind::Object => "Metadata definition object",
            ItemKind::Property => "Metadata definition property",
            ItemKind::Tag => "Metadata definition tag",
        }
    }
}

/// An object, property or tag: a name and a JSON document (an object's
/// description/required/properties, a property's schema, `{}` for a tag).
#[derive(Debug, Clone)]
pub struct Item {
    /// Unique per namespace and kind.
    pub name: String,
    /// The document without `name`.
    pub body: Value,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

/// A namespace's association with a resource type.
#[derive(Debug, Clone)]
pub struct Association {
    /// The resource type, e.g. `OS::Glance::Image`.
    pub name: String,
    /// Prefix for the namespace's property names on that resource.
    pub prefix: Option<String>,
    /// Which metadata of the resource the properties go to.
    pub properties_target: Option<String>,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

/// A resource type.
#[derive(Debug, Clone)]
pub struct ResourceType {
    /// E.g. `OS::Nova::Flavor`.
    pub name: String,
    /// Microseconds since the epoch.
    pub created_at: i64,
    /// Microseconds since the epoch.
    pub updated_at: i64,
}

/// A namespace with what its create request nests.
#[derive(Debug, Clone)]
pub struct NewNamespace {
    /// The namespace.
    pub namespace: Namespace,
    /// Objects, properties and tags.
    pub items: Vec<(ItemKind, Item)>,
    /// Resource type associations.
    pub associations: Vec<Association>,
}

/// The resource types of the services Nimbus runs, present from the start
/// as in a Glance whose operator loaded the default metadefs (clients such
/// as Horizon and Tempest pick from this list before associating).
pub const DEFAULT_RESOURCE_TYPES: [&str; 4] = [
    "OS::Cinder::Volume",
    "OS::Glance::Image",
    "OS::Nova::Flavor",
    "OS::Nova::Server",
];

/// Names of namespaces, objects, properties, tags and resource types.
pub const NAME_MAX: usize = 80;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg.into())
}

/// The body as a JSON object, with Glance's 403 for read-only attributes.
pub fn body_object(body: Value, read_only: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(map) = body else {
        return Err(bad("The request body must be a JSON object."));
    };
    for key in read_only {
        if map.contains_key(*key) {
            return Err(ApiError::forbidden(format!(
                "Attribute '{key}' is read-only."
            )));
        }
    }
    Ok(map)
}

/// Refuses keys not in `allowed` (the schemas say `additionalProperties: false`).
pub fn only_keys(map: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), ApiError> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad(format!(
            "Additional properties are not allowed ('{k}' was unexpected) in {what}"
        ))),
        None => Ok(()),
    }
}

/// A string field of at most `max` characters; `None` when absent or null.
pub fn opt_string(
    map: &Map<String, Value>,
    key: &str,
    max: Option<usize>,
) -> Result<Option<String>, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            if let Some(max) = max
                && s.chars().count() > max
            {
                return Err(bad(format!("'{key}' is longer than {max} characters")));
            }
            Ok(Some(s.clone()))
        }
        Some(_) => Err(bad(format!("'{key}' must be a string"))),
    }
}

/// A required name: a non-empty string of at most [`NAME_MAX`] characters.
pub fn required_name(map: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    match opt_string(map, key, Some(NAME_MAX))? {
        Some(s) if !s.is_empty() => Ok(s),
        Some(_) => Err(bad(format!("'{key}' must not be empty"))),
        None => Err(bad(format!("'{key}' is a required property"))),
    }
}

/// A name taken from a URL path: the same limits as in a body.
pub fn path_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(bad(format!("Names are 1 to {NAME_MAX} characters long.")));
    }
    Ok(())
}

fn opt_bool(map: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(format!("'{key}' must be a boolean"))),
    }
}

/// A string array with unique items (`stringArray`); `min_items` as the
/// schema in use says (1 for a property's, 0 for an object's).
fn string_array(value: &Value, key: &str, min_items: usize) -> Result<(), ApiError> {
    let Value::Array(items) = value else {
        return Err(bad(format!("'{key}' must be an array of strings")));
    };
    if items.len() < min_items {
        return Err(bad(format!("'{key}' must have at least {min_items} item")));
    }
    let mut seen = std::collections::HashSet::new();
    for item in items {
        let Value::String(s) = item else {
            return Err(bad(format!("'{key}' must be an array of strings")));
        };
        if !seen.insert(s) {
            return Err(bad(format!("'{key}' has non-unique elements")));
        }
    }
    Ok(())
}

const PROPERTY_TYPES: [&str; 6] = ["array", "boolean", "integer", "number", "object", "string"];

fn type_value(value: &Value, key: &str) -> Result<(), ApiError> {
    match value {
        Value::Null => Ok(()),
        Value::String(s) if PROPERTY_TYPES.contains(&s.as_str()) => Ok(()),
        _ => Err(bad(format!(
            "'{key}' must be one of {}",
            PROPERTY_TYPES.join(", ")
        ))),
    }
}

const PROPERTY_KEYS: [&str; 19] = [
    "name",
    "title",
    "description",
    "operators",
    "type",
    "required",
    "minimum",
    "maximum",
    "maxLength",
    "minLength",
    "pattern",
    "enum",
    "readonly",
    "default",
    "items",
    "maxItems",
    "minItems",
    "uniqueItems",
    "additionalItems",
];

/// Checks a property definition (the schema's `property` definition) and
/// returns it without `name`. `min_required` is the minimum length of its
/// `required` list.
pub fn property_body(mut map: Map<String, Value>, min_required: usize) -> Result<Value, ApiError> {
    only_keys(&map, &PROPERTY_KEYS, "property")?;
    opt_string(&map, "name", Some(NAME_MAX))?;
    if !matches!(map.get("title"), Some(Value::String(_))) {
        return Err(bad("'title' is a required property and must be a string"));
    }
    match map.get("type") {
        Some(t) => type_value(t, "type")?,
        None => return Err(bad("'type' is a required property")),
    }
    opt_string(&map, "description", None)?;
    opt_string(&map, "pattern", None)?;
    for key in ["readonly", "uniqueItems", "additionalItems"] {
        opt_bool(&map, key)?;
    }
    for key in ["minimum", "maximum"] {
        if let Some(v) = map.get(key)
            && !v.is_number()
        {
            return Err(bad(format!("'{key}' must be a number")));
        }
    }
    for key in ["maxLength", "minLength", "maxItems", "minItems"] {
        if let Some(v) = map.get(key)
            && v.as_u64().is_none()
        {
            return Err(bad(format!("'{key}' must be a non-negative integer")));
        }
    }
    if let Some(v) = map.get("operators") {
        string_array(v, "operators", 0)?;
    }
    if let Some(v) = map.get("required") {
        string_array(v, "required", min_required)?;
    }
    if let Some(v) = map.get("enum")
        && !v.is_array()
    {
        return Err(bad("'enum' must be an array"));
    }
    if let Some(items) = map.get("items") {
        let Value::Object(items) = items else {
            return Err(bad("'items' must be an object"));
        };
        if let Some(t) = items.get("type") {
            type_value(t, "items.type")?;
        }
        if let Some(e) = items.get("enum")
            && !e.is_array()
        {
            return Err(bad("'items.enum' must be an array"));
        }
    }
    map.remove("name");
    Ok(Value::Object(map))
}

/// A map of property name to definition (a namespace's or an object's
/// `properties`).
pub fn property_map(value: &Value) -> Result<Vec<(String, Value)>, ApiError> {
    let Value::Object(map) = value else {
        return Err(bad("'properties' must be an object"));
    };
    let mut out = Vec::with_capacity(map.len());
    for (name, def) in map {
        path_name(name)?;
        let Value::Object(def) = def else {
            return Err(bad(format!("property '{name}' must be an object")));
        };
        out.push((name.clone(), property_body(def.clone(), 1)?));
    }
    Ok(out)
}

/// Checks an object's body and returns its document without `name`.
pub fn object_body(map: &Map<String, Value>) -> Result<(String, Value), ApiError> {
    only_keys(
        map,
        &["name", "description", "required", "properties"],
        "object",
    )?;
    let name = required_name(map, "name")?;
    let mut doc = Map::new();
    if let Some(d) = opt_string(map, "description", None)? {
        doc.insert("description".into(), Value::String(d));
    }
    if let Some(r) = map.get("required") {
        string_array(r, "required", 0)?;
        doc.insert("required".into(), r.clone());
    }
    let mut props = Map::new();
    if let Some(p) = map.get("properties") {
        for (k, v) in property_map(p)? {
            props.insert(k, v);
        }
    }
    doc.insert("properties".into(), Value::Object(props));
    Ok((name, Value::Object(doc)))
}

/// A tag's name from `{"name": ...}`.
pub fn tag_name(map: &Map<String, Value>) -> Result<String, ApiError> {
    only_keys(map, &["name"], "tag")?;
    required_name(map, "name")
}

/// A resource type association from its body.
pub fn association_body(map: &Map<String, Value>, now: i64) -> Result<Association, ApiError> {
    only_keys(
        map,
        &["name", "prefix", "properties_target"],
        "resource_type_association",
    )?;
    Ok(Association {
        name: required_name(map, "name")?,
        prefix: opt_string(map, "prefix", Some(NAME_MAX))?,
        properties_target: opt_string(map, "properties_target", Some(NAME_MAX))?,
        created_at: now,
        updated_at: now,
    })
}

/// The attributes of a namespace body (create and update), with Glance's
/// defaults for what is missing: private, unprotected, owned by `owner`.
pub fn namespace_attrs(
    map: &Map<String, Value>,
    owner: Option<&str>,
    ns: &mut Namespace,
) -> Result<(), ApiError> {
    ns.namespace = required_name(map, "namespace")?;
    ns.display_name = opt_string(map, "display_name", Some(NAME_MAX))?;
    ns.description = opt_string(map, "description", Some(500))?;
    ns.visibility = match opt_string(map, "visibility", None)?.as_deref() {
        None => "private".into(),
        Some(v @ ("public" | "private")) => v.into(),
        Some(v) => return Err(bad(format!("Invalid visibility value: {v}"))),
    };
    ns.protected = opt_bool(map, "protected")?.unwrap_or(false);
    ns.owner = match opt_string(map, "owner", Some(255))? {
        Some(o) => Some(o),
        None => owner.map(str::to_string),
    };
    Ok(())
}

/// Namespace body keys (`additionalProperties: false`).
pub const NAMESPACE_KEYS: [&str; 10] = [
    "namespace",
    "display_name",
    "description",
    "visibility",
    "protected",
    "owner",
    "resource_type_associations",
    "properties",
    "objects",
    "tags",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn property_needs_title_and_a_known_type() {
        let ok = property_body(obj(json!({"name": "x", "title": "X", "type": "string"})), 1);
        assert_eq!(ok.unwrap(), json!({"title": "X", "type": "string"}));
        assert!(property_body(obj(json!({"type": "string"})), 1).is_err());
        assert!(property_body(obj(json!({"title": "X", "type": "blob"})), 1).is_err());
        assert!(property_body(obj(json!({"title": "X", "type": "string", "x": 1})), 1).is_err());
        assert!(
            property_body(
                obj(json!({"title": "X", "type": "integer", "minLength": -1})),
                1
            )
            .is_err()
        );
    }

    #[test]
    fn object_keeps_its_properties_and_refuses_bad_ones() {
        let (name, doc) = object_body(&obj(json!({
            "name": "o", "required": ["a"],
            "properties": {"a": {"title": "A", "type": "integer", "minimum": 0}}
        })))
        .unwrap();
        assert_eq!(name, "o");
        assert_eq!(doc["properties"]["a"]["minimum"], json!(0));
        assert!(object_body(&obj(json!({"name": "o", "properties": {"a": {}}}))).is_err());
        assert!(object_body(&obj(json!({"name": "o", "required": ["a", "a"]}))).is_err());
        assert!(object_body(&obj(json!({"name": ""}))).is_err());
    }

    #[test]
    fn namespace_defaults_and_limits() {
        let mut ns = Namespace {
            id: String::new(),
            namespace: String::new(),
            display_name: None,
            description: None,
            visibility: String::new(),
            protected: true,
            owner: None,
            created_at: 0,
            updated_at: 0,
        };
        namespace_attrs(&obj(json!({"namespace": "N"})), Some("p"), &mut ns).unwrap();
        assert_eq!((ns.visibility.as_str(), ns.protected), ("private", false));
        assert_eq!(ns.owner.as_deref(), Some("p"));
        let long = "x".repeat(81);
        assert!(namespace_attrs(&obj(json!({"namespace": long})), None, &mut ns).is_err());
        assert!(
            namespace_attrs(
                &obj(json!({"namespace": "N", "visibility": "shared"})),
                None,
                &mut ns
            )
            .is_err()
        );
    }
}
