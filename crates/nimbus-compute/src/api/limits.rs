//! `GET /limits`: the project's absolute limits and usage, named and
//! filtered per microversion as nova's `limits.py` and `views/limits.py`.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::{Map, Value, json};

use crate::api::Microversion;
use crate::api::flavors::{Params, query_map};
use crate::app::ComputeService;
use crate::app::quotas;

/// The limits route.
pub fn routes() -> Router<ComputeService> {
    Router::new().route("/limits", get(limits_index))
}

/// Quota resource -> the absolute limit names nova shows for it.
const LIMIT_NAMES: [(&str, &[&str]); 12] = [
    ("ram", &["maxTotalRAMSize"]),
    ("instances", &["maxTotalInstances"]),
    ("cores", &["maxTotalCores"]),
    ("key_pairs", &["maxTotalKeypairs"]),
    ("floating_ips", &["maxTotalFloatingIps"]),
    ("metadata_items", &["maxServerMeta", "maxImageMeta"]),
    ("injected_files", &["maxPersonality"]),
    ("injected_file_content_bytes", &["maxPersonalitySize"]),
    ("security_groups", &["maxSecurityGroups"]),
    ("security_group_rules", &["maxSecurityGroupRules"]),
    ("server_groups", &["maxServerGroups"]),
    ("server_group_members", &["maxServerGroupMembers"]),
];

const USED_NAMES: [(&str, &str); 6] = [
    ("totalRAMUsed", "ram"),
    ("totalCoresUsed", "cores"),
    ("totalInstancesUsed", "instances"),
    ("totalFloatingIpsUsed", "floating_ips"),
    ("totalSecurityGroupsUsed", "security_groups"),
    ("totalServerGroupsUsed", "server_groups"),
];

/// The resources a version no longer shows.
fn filtered(v: Microversion) -> &'static [&'static str] {
    if v.at_least(2, 57) {
        &[
            "floating_ips",
            "security_groups",
            "security_group_rules",
            "injected_files",
            "injected_file_content_bytes",
        ]
    } else if v.at_least(2, 36) {
        &["floating_ips", "security_groups", "security_group_rules"]
    } else {
        &[]
    }
}

/// The `absolute` object at `v`.
pub(crate) fn absolute(
    limits: &BTreeMap<String, i64>,
    used: &BTreeMap<String, i64>,
    v: Microversion,
) -> Value {
    let hidden = filtered(v);
    let mut out = Map::new();
    for (resource, names) in LIMIT_NAMES {
        if hidden.contains(&resource) {
            continue;
        }
        let Some(limit) = limits.get(resource) else {
            continue;
        };
        for name in names {
            if *name == "maxImageMeta" && v.at_least(2, 39) {
                continue;
            }
            out.insert(name.to_string(), json!(limit));
        }
    }
    for (name, resource) in USED_NAMES {
        if !hidden.contains(&resource) {
            out.insert(
                name.to_string(),
                json!(used.get(resource).copied().unwrap_or(0)),
            );
        }
    }
    Value::Object(out)
}

async fn limits_index(
    State(svc): State<ComputeService>,
    ctx: RequestContext,
    v: Microversion,
    axum::extract::Query(params): Params,
) -> Result<Json<Value>, ApiError> {
    let mut known = vec!["tenant_id"];
    if !v.at_least(2, 75) {
        known.push("reserved");
    }
    let q = query_map(&params, &known, v.at_least(2, 75))?;
    let project = match q.get("tenant_id") {
        Some(tenant) => {
            ctx.require_admin("os_compute_api:limits:other_project")?;
            tenant.clone()
        }
        None => ctx.require_project()?.to_string(),
    };
    let limits = quotas::limits(&svc, &project, None).await?;
    let used = quotas::in_use(&svc, &project, None).await?;
    Ok(Json(json!({
        "limits": {"rate": [], "absolute": absolute(&limits, &used, v)}
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nimbus_common::ApiVersion;

    #[test]
    fn names_follow_the_version() {
        let limits = quotas::defaults();
        let used: BTreeMap<String, i64> = [("instances".to_string(), 2)].into();
        let at = |minor| absolute(&limits, &used, Microversion(ApiVersion::new(2, minor)));
        let v21 = at(1);
        assert_eq!(v21["maxTotalInstances"], 10);
        assert_eq!(v21["totalInstancesUsed"], 2);
        assert_eq!(v21["maxImageMeta"], 128);
        assert!(v21.get("maxTotalFloatingIps").is_some());
        let v236 = at(36);
        assert!(v236.get("maxTotalFloatingIps").is_none());
        assert!(v236.get("totalSecurityGroupsUsed").is_none());
        assert!(v236.get("maxImageMeta").is_some());
        assert!(at(39).get("maxImageMeta").is_none());
        let v257 = at(57);
        assert!(v257.get("maxPersonality").is_none());
        assert_eq!(v257["maxTotalKeypairs"], 100);
        assert_eq!(v257.as_object().unwrap().len(), 11);
    }
}
