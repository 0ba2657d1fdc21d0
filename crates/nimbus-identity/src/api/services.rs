//! `/v3/services` and `/v3/endpoints`: the catalog, read-only.

use axum::extract::State;
use nimbus_common::{Json, RequestContext};
use serde_json::{Value, json};

use super::wire::list_links;
use crate::app::Identity;

pub async fn services(State(identity): State<Identity>, _ctx: RequestContext) -> Json<Value> {
    Json(json!({
        "services": identity.catalog().services_json(),
        "links": list_links(identity.public_url(), "services"),
    }))
}

pub async fn endpoints(State(identity): State<Identity>, _ctx: RequestContext) -> Json<Value> {
    Json(json!({
        "endpoints": identity.catalog().endpoints_json(),
        "links": list_links(identity.public_url(), "endpoints"),
    }))
}
