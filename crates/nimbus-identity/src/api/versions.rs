//! Version discovery, as keystoneauth reads it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use nimbus_common::Json;
use serde_json::{Value, json};

use crate::app::Identity;

fn v3_entry(identity: &Identity) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/identity/v3/", identity.public_url())}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

/// `GET /identity`: 300 Multiple Choices, one version.
pub async fn versions(State(identity): State<Identity>) -> impl IntoResponse {
    (
        StatusCode::MULTIPLE_CHOICES,
        Json(json!({"versions": {"values": [v3_entry(&identity)]}})),
    )
}

/// `GET /identity/v3`.
pub async fn v3(State(identity): State<Identity>) -> impl IntoResponse {
    Json(json!({"version": v3_entry(&identity)}))
}
