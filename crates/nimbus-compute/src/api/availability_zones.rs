//! `/os-availability-zone` (everyone) and `/detail` (admins): the zone
//! `nova` holding this host's nova-compute, and for admins the `internal`
//! zone of the other services (nova's `availability_zone.py`).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Map, Value, json};

use crate::api::keypairs::timestamp;
use crate::app::ComputeService;
use crate::app::hosts;

/// The availability zone routes.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/os-availability-zone", get(zone_index))
        .route("/os-availability-zone/detail", get(zone_detail))
}

async fn zone_index(
    State(svc): State<ComputeService>,
    _ctx: RequestContext,
) -> Result<Json<Value>, ApiError> {
    let services = hosts::services(&svc).await?;
    // A zone is available while one of its compute services is enabled.
    let mut zones: BTreeMap<&str, bool> = BTreeMap::new();
    for s in services.iter().filter(|s| s.binary == "nova-compute") {
        *zones.entry(hosts::zone_of(&s.binary)).or_default() |= !s.disabled;
    }
    let items: Vec<Value> = zones
        .iter()
        .map(|(zone, available)| {
            json!({"zoneName": zone, "zoneState": {"available": available}, "hosts": null})
        })
        .collect();
    Ok(Json(json!({ "availabilityZoneInfo": items })))
}

async fn zone_detail(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("os_compute_api:os-availability-zone:detail")?;
    let services = hosts::services(&svc).await?;
    let now = timestamp(chrono::Utc::now().timestamp_micros());
    let mut zones: BTreeMap<&str, (bool, Map<String, Value>)> = BTreeMap::new();
    for s in &services {
        let zone = hosts::zone_of(&s.binary);
        let entry = zones
            .entry(zone)
            .or_insert((zone == "internal", Map::new()));
        if s.binary == "nova-compute" {
            entry.0 |= !s.disabled;
        }
        let host = entry.1.entry(s.host.clone()).or_insert_with(|| json!({}));
        host[s.binary.as_str()] = json!({
            // nova: available = the service is up, active = not disabled.
            "available": !s.forced_down,
            "active": !s.disabled,
            "updated_at": now,
        });
    }
    let items: Vec<Value> = zones
        .into_iter()
        .map(|(zone, (available, hosts))| {
            json!({"zoneName": zone, "zoneState": {"available": available}, "hosts": hosts})
        })
        .collect();
    Ok(Json(json!({ "availabilityZoneInfo": items })))
}
