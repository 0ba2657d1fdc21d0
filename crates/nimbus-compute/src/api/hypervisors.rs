//! `/os-hypervisors` (admins): this host's one hypervisor, measured when
//! asked; list, detail, show, statistics and uptime per microversion
//! (nova's `hypervisors.py`: 2.28 cpu_info object, 2.33 paging, 2.53 uuids
//! and query filters, 2.88 the resource fields replaced by `uptime`).

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use nimbus_common::{ApiError, Json, PageParams, RequestContext};
use serde_json::{Value, json};

use crate::api::flavors::{MAX_LIMIT, Params, parse_bool_text, query_map};
use crate::api::{Microversion, PublicBase};
use crate::app::ComputeService;
use crate::app::hosts::{self, HostStats, RESERVED_HOST_MEMORY_MB};
use crate::store::services::ServiceRow;

/// The hypervisor routes.
pub fn routes() -> Router<ComputeService> {
    Router::new()
        .route("/os-hypervisors", get(hypervisor_index))
        .route("/os-hypervisors/detail", get(hypervisor_detail))
        .route("/os-hypervisors/statistics", get(hypervisor_statistics))
        .route("/os-hypervisors/{id}", get(hypervisor_show))
        .route("/os-hypervisors/{id}/uptime", get(hypervisor_uptime))
}

/// The hypervisor's ids: the compute service's integer id before 2.53 and
/// its uuid from 2.53 (one compute node per service here).
fn id_of(service: &ServiceRow, v: Microversion) -> Value {
    if v.at_least(2, 53) {
        json!(service.uuid)
    } else {
        json!(service.id)
    }
}

fn view(
    service: &ServiceRow,
    stats: Option<&HostStats>,
    servers: Option<&[(String, String)]>,
    v: Microversion,
) -> Value {
    let mut out = json!({
        "id": id_of(service, v),
        "hypervisor_hostname": service.host,
        "state": if service.forced_down { "down" } else { "up" },
        "status": if service.disabled { "disabled" } else { "enabled" },
    });
    if let Some(s) = stats {
        out["hypervisor_type"] = json!(s.hypervisor_type);
        out["hypervisor_version"] = json!(s.hypervisor_version);
        out["host_ip"] = json!(s.host_ip);
        out["service"] = json!({
            "id": id_of(service, v),
            "host": service.host,
            "disabled_reason": service.disabled_reason,
        });
        if v.at_least(2, 88) {
            out["uptime"] = json!(s.uptime);
        } else {
            for (key, value) in resources(s) {
                out[key] = json!(value);
            }
            out["cpu_info"] = if v.at_least(2, 28) {
                s.cpu_info.clone()
            } else {
                json!(s.cpu_info.to_string())
            };
        }
    }
    if let Some(servers) = servers {
        let list: Vec<Value> = servers
            .iter()
            .map(|(uuid, name)| json!({"uuid": uuid, "name": name}))
            .collect();
        // nova leaves the key out for a host without servers before 2.75.
        if !list.is_empty() || v.at_least(2, 75) {
            out["servers"] = json!(list);
        }
    }
    out
}

/// nova's resource tracker figures: used = instances + the host's reserve.
fn resources(s: &HostStats) -> [(&'static str, i64); 11] {
    let memory_used = s.used.memory_mb + RESERVED_HOST_MEMORY_MB;
    [
        ("vcpus", s.vcpus),
        ("memory_mb", s.memory_mb),
        ("local_gb", s.local_gb),
        ("vcpus_used", s.used.vcpus),
        ("memory_mb_used", memory_used),
        ("local_gb_used", s.used.local_gb),
        ("free_ram_mb", s.memory_mb - memory_used),
        ("free_disk_gb", s.local_gb - s.used.local_gb),
        ("current_workload", s.used.busy),
        ("running_vms", s.used.instances),
        ("disk_available_least", s.disk_available_gb),
    ]
}

struct ListQuery {
    limit: usize,
    marker: Option<String>,
    pattern: Option<String>,
    with_servers: bool,
}

fn list_query(params: &[(String, String)], v: Microversion) -> Result<ListQuery, ApiError> {
    let mut known = vec![];
    if v.at_least(2, 33) {
        known.extend(["limit", "marker"]);
    }
    if v.at_least(2, 53) {
        known.extend(["hypervisor_hostname_pattern", "with_servers"]);
    }
    let q = query_map(params, &known, v.at_least(2, 53))?;
    let page = PageParams::parse(
        q.get("limit").map(String::as_str),
        q.get("marker").map(String::as_str),
        MAX_LIMIT,
    )?;
    let pattern = q.get("hypervisor_hostname_pattern").cloned();
    if pattern.is_some() && (q.contains_key("limit") || page.marker.is_some()) {
        return Err(ApiError::bad_request(
            "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is \
             not supported.",
        ));
    }
    Ok(ListQuery {
        limit: page.limit,
        marker: page.marker,
        pattern,
        with_servers: with_servers(&q)?,
    })
}

fn with_servers(q: &std::collections::BTreeMap<String, String>) -> Result<bool, ApiError> {
    match q.get("with_servers") {
        None => Ok(false),
        Some(text) => parse_bool_text(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input for query parameters with_servers. Value: {text}."
            ))
        }),
    }
}

async fn list(
    svc: &ComputeService,
    ctx: &RequestContext,
    v: Microversion,
    base: &PublicBase,
    params: &[(String, String)],
    detail: bool,
) -> Result<Value, ApiError> {
    let action = if detail { "list-detail" } else { "list" };
    ctx.require_admin(&format!("os_compute_api:os-hypervisors:{action}"))?;
    let q = list_query(params, v)?;
    let compute = hosts::compute_service(svc).await?;
    let mut nodes = vec![compute];
    if let Some(pattern) = &q.pattern {
        // nova matches the pattern as a SQL LIKE '%pattern%'.
        nodes.retain(|n| n.host.contains(pattern.as_str()));
        if nodes.is_empty() {
            return Err(ApiError::not_found(format!(
                "No hypervisor matching '{pattern}' could be found."
            )));
        }
    }
    if let Some(marker) = &q.marker {
        let position = nodes
            .iter()
            .position(|n| id_of(n, v).to_string().trim_matches('"') == marker)
            .ok_or_else(|| ApiError::bad_request(format!("marker [{marker}] not found")))?;
        nodes.drain(..=position);
    }
    nodes.truncate(q.limit);
    let stats = if detail {
        Some(hosts::host_stats(svc).await?)
    } else {
        None
    };
    let servers = if q.with_servers {
        Some(crate::store::services::host_instances(svc.db()).await?)
    } else {
        None
    };
    let items: Vec<Value> = nodes
        .iter()
        .map(|n| view(n, stats.as_ref(), servers.as_deref(), v))
        .collect();
    let mut out = json!({ "hypervisors": items });
    if v.at_least(2, 33)
        && q.pattern.is_none()
        && nodes.len() == q.limit
        && let Some(last) = nodes.last()
    {
        let path = if detail {
            "os-hypervisors/detail"
        } else {
            "os-hypervisors"
        };
        let marker = id_of(last, v).to_string();
        out["hypervisors_links"] = base.next(&format!(
            "{path}?{}",
            crate::api::flavors::next_query(params, marker.trim_matches('"'))
        ));
    }
    Ok(out)
}

async fn hypervisor_index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    base: PublicBase,
    axum::extract::Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(list(&svc, &ctx, v, &base, &params, false).await?))
}

async fn hypervisor_detail(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    base: PublicBase,
    axum::extract::Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(list(&svc, &ctx, v, &base, &params, true).await?))
}

/// The compute node `id` names, with nova's checks of the id's form.
async fn find(svc: &ComputeService, id: &str, v: Microversion) -> Result<ServiceRow, ApiError> {
    let not_found =
        || ApiError::not_found(format!("Hypervisor with ID '{id}' could not be found."));
    if v.at_least(2, 53) {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ApiError::bad_request(format!("Invalid uuid {id}")));
        }
    } else if id.parse::<i64>().is_err() {
        return Err(not_found());
    }
    let compute = hosts::compute_service(svc).await?;
    if id_of(&compute, v).to_string().trim_matches('"') == id {
        Ok(compute)
    } else {
        Err(not_found())
    }
}

async fn hypervisor_show(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(id): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    ctx.require_admin("os_compute_api:os-hypervisors:show")?;
    let known: &[&str] = if v.at_least(2, 53) {
        &["with_servers"]
    } else {
        &[]
    };
    let q = query_map(&params, known, v.at_least(2, 53))?;
    let node = find(&svc, &id, v).await?;
    let stats = hosts::host_stats(&svc).await?;
    let servers = if with_servers(&q)? {
        Some(crate::store::services::host_instances(svc.db()).await?)
    } else {
        None
    };
    Ok(Json(
        json!({ "hypervisor": view(&node, Some(&stats), servers.as_deref(), v) }),
    ))
}

async fn hypervisor_uptime(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if v.at_least(2, 88) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    ctx.require_admin("os_compute_api:os-hypervisors:uptime")?;
    let node = find(&svc, &id, v).await?;
    let stats = hosts::host_stats(&svc).await?;
    let mut out = view(&node, None, None, v);
    out["uptime"] = json!(stats.uptime);
    Ok(Json(json!({ "hypervisor": out })))
}

async fn hypervisor_statistics(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
) -> Result<Json<Value>, ApiError> {
    if v.at_least(2, 88) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    ctx.require_admin("os_compute_api:os-hypervisors:statistics")?;
    let stats = hosts::host_stats(&svc).await?;
    let mut out = json!({"count": 1});
    for (key, value) in resources(&stats) {
        out[key] = json!(value);
    }
    Ok(Json(json!({ "hypervisor_statistics": out })))
}
