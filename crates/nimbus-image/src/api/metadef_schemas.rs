//! `/v2/schemas/metadefs/*`: the JSON schemas Glance publishes for the
//! metadefs documents (`glance/api/v2/metadef_*.py`, `glance/schema.py`).
//! Item schemas are closed (`additionalProperties: false`); collections
//! carry first/next/schema links.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, RequestContext};
use serde_json::{Value, json};

const TYPES: [Option<&str>; 7] = [
    Some("array"),
    Some("boolean"),
    Some("integer"),
    Some("number"),
    Some("object"),
    Some("string"),
    None,
];

fn positive_integers() -> Value {
    json!({
        "positiveInteger": {"type": "integer", "minimum": 0},
        "positiveIntegerDefault0": {"allOf": [{"$ref": "#/definitions/positiveInteger"}, {"default": 0}]},
    })
}

/// The fields of one property definition.
fn property_fields() -> Value {
    json!({
        "name": {"type": "string", "maxLength": 80},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": TYPES},
        "required": {"$ref": "#/definitions/stringArray"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "maxLength": {"$ref": "#/definitions/positiveInteger"},
        "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"},
        "readonly": {"type": "boolean"},
        "default": {},
        "items": {"type": "object", "properties": {
            "type": {"type": "string", "enum": TYPES},
            "enum": {"type": "array"}
        }},
        "maxItems": {"$ref": "#/definitions/positiveInteger"},
        "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "uniqueItems": {"type": "boolean", "default": false},
        "additionalItems": {"type": "boolean"}
    })
}

/// The definitions namespaces and objects refer to.
fn namespace_definitions() -> Value {
    let mut defs = positive_integers();
    defs["stringArray"] =
        json!({"type": "array", "items": {"type": "string"}, "uniqueItems": true});
    defs["property"] = json!({
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "required": ["title", "type"],
            "properties": property_fields()
        }
    });
    defs
}

fn read_only_date(what: &str) -> Value {
    json!({"type": "string", "readOnly": true, "description": what, "format": "date-time"})
}

fn item_schema(
    name: &str,
    properties: Value,
    required: &[&str],
    definitions: Option<Value>,
) -> Value {
    let mut schema = json!({
        "name": name,
        "properties": properties,
        "additionalProperties": false,
    });
    if let Some(d) = definitions {
        schema["definitions"] = d;
    }
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// A list collection: `{name: [item]}` plus links; definitions move up.
fn collection(name: &str, mut item: Value, dict: bool) -> Value {
    let definitions = item.as_object_mut().and_then(|m| m.remove("definitions"));
    let items = if dict {
        json!({"type": "object", "additionalProperties": item})
    } else {
        json!({"type": "array", "items": item})
    };
    let mut schema = json!({
        "name": name,
        "properties": {
            name: items,
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    });
    if let Some(d) = definitions {
        schema["definitions"] = d;
    }
    schema
}

fn namespace() -> Value {
    let props = json!({
        "namespace": {"type": "string", "description": "The unique namespace text.", "maxLength": 80},
        "display_name": {"type": "string", "description": "The user friendly name for the namespace. Used by UI if available.", "maxLength": 80},
        "description": {"type": "string", "description": "Provides a user friendly description of the namespace.", "maxLength": 500},
        "visibility": {"type": "string", "description": "Scope of namespace accessibility.", "enum": ["public", "private"]},
        "protected": {"type": "boolean", "description": "If true, namespace will not be deletable."},
        "owner": {"type": "string", "description": "Owner of the namespace.", "maxLength": 255},
        "created_at": read_only_date("Date and time of namespace creation"),
        "updated_at": read_only_date("Date and time of the last namespace modification"),
        "schema": {"readOnly": true, "type": "string"},
        "self": {"readOnly": true, "type": "string"},
        "resource_type_associations": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "prefix": {"type": "string"}, "properties_target": {"type": "string"}
        }}},
        "properties": {"$ref": "#/definitions/property"},
        "objects": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "description": {"type": "string"},
            "required": {"$ref": "#/definitions/stringArray"},
            "properties": {"$ref": "#/definitions/property"}
        }}},
        "tags": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}
    });
    item_schema(
        "namespace",
        props,
        &["namespace"],
        Some(namespace_definitions()),
    )
}

fn object() -> Value {
    let props = json!({
        "name": {"type": "string", "maxLength": 80},
        "description": {"type": "string"},
        "required": {"$ref": "#/definitions/stringArray"},
        "properties": {"$ref": "#/definitions/property"},
        "schema": {"readOnly": true, "type": "string"},
        "self": {"readOnly": true, "type": "string"},
        "created_at": read_only_date("Date and time of object creation"),
        "updated_at": read_only_date("Date and time of the last object modification"),
    });
    item_schema("object", props, &["name"], Some(namespace_definitions()))
}

fn property(require_name: bool) -> Value {
    let mut defs = positive_integers();
    defs["stringArray"] =
        json!({"type": "array", "items": {"type": "string"}, "minItems": 1, "uniqueItems": true});
    let required: &[&str] = if require_name {
        &["type", "title", "name"]
    } else {
        &["type", "title"]
    };
    item_schema("property", property_fields(), required, Some(defs))
}

fn tag() -> Value {
    let props = json!({
        "name": {"type": "string", "maxLength": 80},
        "created_at": read_only_date("Date and time of tag creation"),
        "updated_at": read_only_date("Date and time of the last tag modification"),
    });
    item_schema("tag", props, &["name"], None)
}

fn resource_type() -> Value {
    let props = json!({
        "name": {"type": "string", "maxLength": 80,
                 "description": "Resource type names should be aligned with Heat resource types whenever possible: https://docs.openstack.org/heat/latest/template_guide/openstack.html"},
        "prefix": {"type": "string", "maxLength": 80,
                   "description": "Specifies the prefix to use for the given resource type. Any properties in the namespace should be prefixed with this prefix when being applied to the specified resource type. Must include prefix separator (e.g. a colon :)."},
        "properties_target": {"type": "string", "maxLength": 80,
                              "description": "Some resource types allow more than one key / value pair per instance.  For example, Cinder allows user and image metadata on volumes. Only the image properties metadata is evaluated by Nova (scheduling or drivers). This property allows a namespace target to remove the ambiguity."},
        "created_at": read_only_date("Date and time of resource type association"),
        "updated_at": read_only_date("Date and time of the last resource type association modification"),
    });
    item_schema("resource_type_association", props, &["name"], None)
}

/// The schema called `name`, if there is one.
pub fn metadef_schema(name: &str) -> Option<Value> {
    Some(match name {
        "namespace" => namespace(),
        "namespaces" => collection("namespaces", namespace(), false),
        "object" => object(),
        "objects" => collection("objects", object(), false),
        "property" => property(true),
        "properties" => collection("properties", property(false), true),
        "tag" => tag(),
        "tags" => collection("tags", tag(), false),
        "resource_type" => resource_type(),
        "resource_types" => collection("resource_type_associations", resource_type(), false),
        _ => return None,
    })
}

/// `GET /v2/schemas/metadefs/{name}`.
pub async fn show(_ctx: RequestContext, Path(name): Path<String>) -> Result<Response, ApiError> {
    metadef_schema(&name)
        .map(|s| axum::Json(s).into_response())
        .ok_or_else(|| ApiError::not_found("The resource could not be found."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_is_named_as_tempest_expects() {
        for (path, name) in [
            ("namespace", "namespace"),
            ("namespaces", "namespaces"),
            ("object", "object"),
            ("objects", "objects"),
            ("property", "property"),
            ("properties", "properties"),
            ("tag", "tag"),
            ("tags", "tags"),
            ("resource_type", "resource_type_association"),
            ("resource_types", "resource_type_associations"),
        ] {
            let schema = metadef_schema(path).unwrap();
            assert_eq!(schema["name"], json!(name), "{path}");
        }
        assert!(metadef_schema("image").is_none());
        let ns = metadef_schema("namespaces").unwrap();
        assert!(ns["definitions"]["property"].is_object());
        assert!(
            ns["properties"]["namespaces"]["items"]
                .get("definitions")
                .is_none()
        );
    }
}
