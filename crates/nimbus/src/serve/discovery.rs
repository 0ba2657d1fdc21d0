//! Version-discovery documents of the services whose APIs are not built yet,
//! exactly as those services answer them (what openstacksdk and
//! keystoneauth parse). Each service crate takes its document over when it lands.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use nimbus_common::{ApiError, ErrorStyle, Json, RequestContext, render_errors};
use serde_json::json;

/// Shared by the discovery handlers: the public base URL.
#[derive(Clone)]
pub struct Base(pub String);

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
