//! Version-discovery documents of the services whose APIs are not built yet,
//! exactly as those services answer them (what openstacksdk and
//! keystoneauth parse). Each service crate takes its document over when it lands.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use nimbus_common::{ApiError, ErrorStyle, Json, RequestContext, render_errors};
use serde_json::{Value, json};

/// The highest volume microversion served. Only 3.0 until the volume API lands.
pub const VOLUME_MAX_VERSION: &str = "3.0";

/// Shared by the discovery handlers: the public base URL.
#[derive(Clone)]
pub struct Base(pub String);

/// `/volume`: Cinder's version list (300 at the root, 200 at `/v3/`).
pub fn volume(base: &str) -> Router {
    Router::new()
        .route(
            "/",
            get(|State(b): State<Base>| async move {
                (StatusCode::MULTIPLE_CHOICES, Json(volume_versions(&b.0)))
            }),
        )
        .route(
            "/v3",
            get(|State(b): State<Base>| async move { Json(volume_versions(&b.0)) }),
        )
        .fallback(not_found)
        .layer(render_errors(ErrorStyle::Cinder))
        .with_state(Base(base.to_string()))
}

fn volume_versions(base: &str) -> Value {
    json!({"versions": [{
        "id": "v3.0",
        "status": "CURRENT",
        "version": VOLUME_MAX_VERSION,
        "min_version": "3.0",
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"href": "https://docs.openstack.org/", "type": "text/html", "rel": "describedby"},
            {"href": format!("{base}/volume/v3/"), "rel": "self"},
        ],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}],
    }]})
}

/// `/network`: Neutron's version list, and the (authenticated) v2.0
/// resource list, empty until the network API lands.
pub fn network(base: &str, auth: nimbus_identity::AuthLayer) -> Router {
    let authed = Router::new()
        .route(
            "/v2.0",
            get(|State(b): State<Base>, _ctx: RequestContext| async move {
                let _ = b;
                Json(json!({"resources": []}))
            }),
        )
        .route_layer(auth);
    Router::new()
        .route(
            "/",
            get(|State(b): State<Base>| async move {
                Json(json!({"versions": [{
                    "id": "v2.0",
                    "status": "CURRENT",
                    "links": [{"href": format!("{}/network/v2.0/", b.0), "rel": "self"}],
                }]}))
            }),
        )
        .merge(authed)
        .fallback(not_found)
        .layer(render_errors(ErrorStyle::Neutron))
        .with_state(Base(base.to_string()))
}

async fn not_found() -> impl IntoResponse {
    ApiError::not_found("The resource could not be found.")
}
