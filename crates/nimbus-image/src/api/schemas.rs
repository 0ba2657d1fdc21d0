//! `/v2/schemas/*` (clients such as glanceclient fetch them to validate
//! and render) and `/v2/info/*`. Like Glance, they need a token.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use nimbus_common::RequestContext;
use serde_json::{Value, json};

use crate::app::ImageService;
use crate::app::model::{CONTAINER_FORMATS, DISK_FORMATS};

fn nullable_string(description: &str, max: Option<u64>) -> Value {
    let mut v = json!({"type": ["null", "string"], "readOnly": true, "description": description});
    if let Some(max) = max {
        v["maxLength"] = json!(max);
    }
    v
}

/// The image schema (`glance/api/v2/images.py`, `get_base_properties`).
pub fn image_schema() -> Value {
    let mut disk = DISK_FORMATS.iter().map(|s| json!(s)).collect::<Vec<_>>();
    disk.insert(0, Value::Null);
    let mut container = CONTAINER_FORMATS
        .iter()
        .map(|s| json!(s))
        .collect::<Vec<_>>();
    container.insert(0, Value::Null);
    json!({
        "name": "image",
        "additionalProperties": {"type": "string"},
        "links": [
            {"href": "{self}", "rel": "self"},
            {"href": "{file}", "rel": "enclosure"},
            {"href": "{schema}", "rel": "describedby"}
        ],
        "properties": {
            "id": {"type": "string", "description": "An identifier for the image",
                   "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "name": {"type": ["null", "string"], "maxLength": 255, "description": "Descriptive name for the image"},
            "status": {"type": "string", "readOnly": true, "description": "Status of the image",
                       "enum": ["queued", "saving", "active", "killed", "deleted", "uploading", "importing",
                                "pending_delete", "deactivated"]},
            "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"],
                           "description": "Scope of image accessibility"},
            "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
            "os_hidden": {"type": "boolean", "description": "If true, image will not appear in default image list response."},
            "checksum": nullable_string("md5 hash of image contents.", Some(32)),
            "os_hash_algo": nullable_string("Algorithm to calculate the os_hash_value", Some(64)),
            "os_hash_value": nullable_string("Hexdigest of the image contents using the algorithm specified by the os_hash_algo", Some(128)),
            "owner": {"type": ["null", "string"], "maxLength": 255, "description": "Owner of the image"},
            "size": {"type": ["null", "integer"], "readOnly": true, "description": "Size of image file in bytes"},
            "virtual_size": {"type": ["null", "integer"], "readOnly": true, "description": "Virtual size of image in bytes"},
            "container_format": {"type": ["null", "string"], "enum": container, "description": "Format of the container"},
            "disk_format": {"type": ["null", "string"], "enum": disk, "description": "Format of the disk"},
            "created_at": {"type": "string", "readOnly": true, "description": "Date and time of image registration"},
            "updated_at": {"type": "string", "readOnly": true, "description": "Date and time of the last image modification"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}, "description": "List of strings related to the image"},
            "direct_url": {"type": "string", "readOnly": true, "description": "URL to access the image file kept in external store"},
            "min_ram": {"type": "integer", "minimum": 0, "description": "Amount of ram (in MB) required to boot image."},
            "min_disk": {"type": "integer", "minimum": 0, "description": "Amount of disk space (in GB) required to boot image."},
            "self": {"type": "string", "readOnly": true, "description": "An image self url"},
            "file": {"type": "string", "readOnly": true, "description": "An image file url"},
            "stores": {"type": "string", "readOnly": true, "description": "Store in which image data resides."},
            "schema": {"type": "string", "readOnly": true, "description": "An image schema url"},
            "locations": {"type": "array", "readOnly": true, "description": "A set of URLs to access the image file kept in external store",
                          "items": {"type": "object", "properties": {"url": {"type": "string", "maxLength": 255},
                                    "metadata": {"type": "object"}}, "required": ["url", "metadata"]}}
        }
    })
}

fn member_schema() -> Value {
    json!({
        "name": "member",
        "properties": {
            "created_at": {"type": "string", "description": "Date and time of image member creation"},
            "image_id": {"type": "string", "description": "An identifier for the image"},
            "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
            "status": {"type": "string", "enum": ["pending", "accepted", "rejected"], "description": "The status of this image member"},
            "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
            "schema": {"type": "string", "readOnly": true}
        }
    })
}

/// `GET /v2/schemas/image`.
pub async fn image(_ctx: RequestContext) -> Response {
    axum::Json(image_schema()).into_response()
}

/// `GET /v2/schemas/images`.
pub async fn images(_ctx: RequestContext) -> Response {
    axum::Json(json!({
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": image_schema()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"}
        },
        "links": [
            {"href": "{first}", "rel": "first"},
            {"href": "{next}", "rel": "next"},
            {"href": "{schema}", "rel": "describedby"}
        ]
    }))
    .into_response()
}

/// `GET /v2/schemas/member`.
pub async fn member(_ctx: RequestContext) -> Response {
    axum::Json(member_schema()).into_response()
}

/// `GET /v2/schemas/members`.
pub async fn members(_ctx: RequestContext) -> Response {
    axum::Json(json!({
        "name": "members",
        "properties": {
            "members": {"type": "array", "items": member_schema()},
            "schema": {"type": "string"}
        },
        "links": [{"href": "{schema}", "rel": "describedby"}]
    }))
    .into_response()
}

/// `GET /v2/info/import`.
pub async fn info_import(_ctx: RequestContext) -> Response {
    axum::Json(json!({
        "import-methods": {
            "description": "Import methods available.",
            "type": "array",
            "value": crate::app::upload::IMPORT_METHODS
        }
    }))
    .into_response()
}

/// `GET /v2/info/stores`.
pub async fn info_stores(State(svc): State<ImageService>, _ctx: RequestContext) -> Response {
    let default = svc.stores.default_id().to_string();
    let stores: Vec<Value> = svc
        .stores
        .all()
        .map(|s| {
            let mut v = json!({"id": s.info().id(), "description": s.info().description()});
            if s.info().id() == default {
                v["default"] = json!(true);
            }
            v
        })
        .collect();
    axum::Json(json!({ "stores": stores })).into_response()
}
