//! Nova's `os-tenant-networks` proxy (below 2.36, nova's
//! `tenant_networks.py`): the networks the caller sees in the network
//! service, in the shape nova-network once gave them. Creating and deleting
//! went with nova-network: nova answers 410 at every microversion.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use nimbus_common::error::ErrorKind;
use nimbus_common::{ApiError, Json, RequestContext};
use nimbus_network::app::model::Network;
use serde_json::{Value, json};

use super::Microversion;
use super::require_proxy;
use crate::app::ComputeService;

/// The routes of this module.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/os-tenant-networks", get(index).post(gone))
        .route("/os-tenant-networks/{id}", get(show).delete(gone))
}

/// nova's `network_dict`: `cidr` is the string "None" since nova proxies
/// to neutron (nova keeps it for compatibility, and so does its schema).
fn view(n: &Network) -> Value {
    json!({
        "id": n.id,
        "cidr": "None",
        "label": n.name,
    })
}

async fn index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    // nova lists what neutron lists for the caller: its own networks and
    // the shared and external ones.
    let nets = svc.network().network_list(&ctx).await?;
    let out: Vec<Value> = nets.iter().map(view).collect();
    Ok(Json(json!({ "networks": out })))
}

async fn show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    mv: Microversion,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_proxy(mv)?;
    let net = svc
        .network()
        .network_visible(&ctx, &id)
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => ApiError::not_found("Network not found"),
            _ => e,
        })?;
    Ok(Json(json!({ "network": view(&net) })))
}

/// Create and delete were nova-network's (removed in nova 21.0.0).
async fn gone(_ctx: RequestContext) -> ApiError {
    ApiError::new(
        ErrorKind::Gone,
        // webob's HTTPGone explanation, which nova sends.
        "This resource is no longer available.  No forwarding address is given.",
    )
}
