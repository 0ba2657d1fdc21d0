//! `GET /os-aggregates` (admins). Nimbus has one host and no way yet to
//! create host aggregates, so the list holds none; clients such as
//! `openstack hypervisor show` read it to name the host's aggregates.

use axum::Router;
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Value, json};

use crate::app::ComputeService;

/// The aggregate routes.
pub fn routes() -> Router<ComputeService> {
    Router::new().route("/os-aggregates", get(aggregate_index))
}

async fn aggregate_index(ctx: RequestContext) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("os_compute_api:os-aggregates:index")?;
    Ok(Json(json!({ "aggregates": [] })))
}
