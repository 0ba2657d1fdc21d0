//! `/os-quota-sets`, `/limits`, `/os-availability-zone`.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Map, Value, json};

use super::{Params, S, body_object, param, parse_bool, parse_int};
use crate::app::quotas::{DEFAULTS, QuotaUsage};

/// Per-type quotas Cinder adds for each type (`volumes___DEFAULT__`, ...).
fn per_type(out: &mut Map<String, Value>, usage: bool) {
    for r in ["volumes", "gigabytes", "snapshots"] {
        let v = if usage {
            json!({"limit": -1, "in_use": 0, "reserved": 0})
        } else {
            json!(-1)
        };
        out.insert(format!("{r}___DEFAULT__"), v);
    }
}

fn quota_set(project: &str, q: &QuotaUsage, usage: bool) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(project));
    for (k, limit) in &q.limits {
        let v = if usage {
            json!({"limit": limit, "in_use": q.in_use.get(k).copied().unwrap_or(0), "reserved": 0})
        } else {
            json!(limit)
        };
        out.insert(k.clone(), v);
    }
    per_type(&mut out, usage);
    json!({"quota_set": out})
}

pub(super) async fn show(
    State(st): S,
    ctx: RequestContext,
    Path((_p, target)): Path<(String, String)>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    let usage = param(&params, "usage")
        .map(|u| parse_bool("usage", &json!(u)))
        .transpose()?
        .unwrap_or(false);
    let q = st.svc.quota_show(&ctx, &target).await?;
    Ok(Json(quota_set(&target, &q, usage)).into_response())
}

pub(super) async fn defaults(
    Path((_p, target)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut out = Map::new();
    out.insert("id".into(), json!(target));
    for (k, v) in DEFAULTS {
        out.insert(k.into(), json!(v));
    }
    per_type(&mut out, false);
    Ok(Json(json!({"quota_set": out})).into_response())
}

pub(super) async fn update(
    State(st): S,
    ctx: RequestContext,
    Path((_p, target)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Result<Response, ApiError> {
    let obj = body_object(&body, "quota_set")?;
    let mut values = BTreeMap::new();
    for (k, v) in obj {
        // Per-type quotas are accepted and stay unlimited (one backend).
        if k == "tenant_id" || k == "id" || k.contains("___") {
            continue;
        }
        values.insert(k.clone(), parse_int(k, v)?);
    }
    let q = st.svc.quota_update(&ctx, &target, &values).await?;
    let mut body = quota_set(&target, &q, false);
    if let Some(o) = body["quota_set"].as_object_mut() {
        o.remove("id");
    }
    Ok(Json(body).into_response())
}

pub(super) async fn delete(
    State(st): S,
    ctx: RequestContext,
    Path((_p, target)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    st.svc.quota_delete(&ctx, &target).await?;
    Ok(StatusCode::OK.into_response())
}

pub(super) async fn limits(State(st): S, ctx: RequestContext) -> Result<Response, ApiError> {
    let project = ctx.require_project()?.to_string();
    let q = st.svc.quota_usage(&project).await?;
    let l = |k: &str| q.limits.get(k).copied().unwrap_or(-1);
    let u = |k: &str| q.in_use.get(k).copied().unwrap_or(0);
    Ok(Json(json!({"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": l("volumes"),
        "maxTotalSnapshots": l("snapshots"),
        "maxTotalVolumeGigabytes": l("gigabytes"),
        "maxTotalBackups": l("backups"),
        "maxTotalBackupGigabytes": l("backup_gigabytes"),
        "totalVolumesUsed": u("volumes"),
        "totalSnapshotsUsed": u("snapshots"),
        "totalGigabytesUsed": u("gigabytes"),
        "totalBackupsUsed": 0,
        "totalBackupGigabytesUsed": 0,
    }}}))
    .into_response())
}

pub(super) async fn zones(State(st): S, _ctx: RequestContext) -> Result<Response, ApiError> {
    Ok(Json(json!({"availabilityZoneInfo": [{
        "zoneName": st.svc.config().storage_availability_zone,
        "zoneState": {"available": true},
    }]}))
    .into_response())
}
