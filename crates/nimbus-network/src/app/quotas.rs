//! Quotas: neutron's defaults, per-project overrides by admins, and the
//! check before each creation. The check counts then inserts, as neutron's
//! counting driver does without reservations: concurrent creations may pass
//! the limit by the number of requests in flight.

use std::collections::BTreeMap;

use nimbus_common::{ApiError, RequestContext};

use super::NetworkService;
use super::input::{self, Attrs};
use crate::error::{bad_request, invalid_attr, over_quota, policy};
use crate::store;

/// The resources with quotas and neutron's default limits (`quota_*`).
pub const DEFAULTS: [(&str, i64); 7] = [
    ("network", 100),
    ("subnet", 100),
    ("port", 500),
    ("router", 10),
    ("floatingip", 50),
    ("security_group", 10),
    ("security_group_rule", 100),
];

impl NetworkService {
    /// A project's limits: defaults with its overrides applied.
    pub async fn quota_limits(&self, project: &str) -> Result<BTreeMap<String, i64>, ApiError> {
        let mut limits: BTreeMap<String, i64> =
            DEFAULTS.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        for (resource, limit) in store::quotas::quota_get(self.pool(), project).await? {
            limits.insert(resource, limit);
        }
        Ok(limits)
    }

    /// What a project uses of each resource.
    pub async fn quota_usage(&self, project: &str) -> Result<BTreeMap<String, i64>, ApiError> {
        let pool = self.pool();
        let (groups, rules) = store::security_groups::counts(pool, project).await?;
        Ok(BTreeMap::from([
            (
                "network".to_string(),
                store::networks::network_count(pool, project).await?,
            ),
            (
                "subnet".to_string(),
                store::subnets::subnet_count(pool, project).await?,
            ),
            (
                "port".to_string(),
                store::ports::port_count(pool, project).await?,
            ),
            (
                "router".to_string(),
                store::routers::router_count(pool, project).await?,
            ),
            (
                "floatingip".to_string(),
                store::floatingips::floatingip_count(pool, project).await?,
            ),
            ("security_group".to_string(), groups),
            ("security_group_rule".to_string(), rules),
        ]))
    }

    /// 409 `OverQuota` if `project` may not create `count` more `resource`s.
    pub(crate) async fn quota_check(
        &self,
        project: &str,
        resource: &str,
        count: i64,
    ) -> Result<(), ApiError> {
        if project.is_empty() {
            return Ok(());
        }
        let limits = self.quota_limits(project).await?;
        let limit = limits.get(resource).copied().unwrap_or(-1);
        if limit < 0 {
            return Ok(());
        }
        let used = self.quota_usage(project).await?;
        if used.get(resource).copied().unwrap_or(0) + count > limit {
            return Err(over_quota(resource));
        }
        Ok(())
    }

    /// `GET /v2.0/quotas/{project}`: admins any project, others their own.
    pub async fn quota_show(
        &self,
        ctx: &RequestContext,
        project: &str,
    ) -> Result<BTreeMap<String, i64>, ApiError> {
        if !ctx.is_admin() && ctx.project_id.as_deref() != Some(project) {
            return Err(policy("get_quota"));
        }
        self.quota_limits(project).await
    }

    /// `GET /v2.0/quotas`: projects with non-default quotas (admin).
    pub async fn quota_list(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<(String, BTreeMap<String, i64>)>, ApiError> {
        ctx.require_admin("get_quota")
            .map_err(|_| policy("get_quota"))?;
        let mut out = Vec::new();
        for project in store::quotas::quota_projects(self.pool()).await? {
            let limits = self.quota_limits(&project).await?;
            out.push((project, limits));
        }
        Ok(out)
    }

    /// `PUT /v2.0/quotas/{project}` (admin).
    pub async fn quota_update(
        &self,
        ctx: &RequestContext,
        project: &str,
        mut attrs: Attrs,
    ) -> Result<BTreeMap<String, i64>, ApiError> {
        if !ctx.is_admin() {
            return Err(policy("update_quota"));
        }
        // The quota-check-limit extension: the openstack CLI sends
        // `check_limit: true` unless told `--force`. neutron pops both by
        // truthiness before validating the limits.
        let _force = attrs.take("force");
        let check_limit = attrs
            .take("check_limit")
            .is_some_and(|v| input::to_bool(&v).unwrap_or(!v.is_null()));
        let mut changes = Vec::new();
        for (resource, _) in DEFAULTS {
            if let Some(value) = attrs.int(resource)? {
                let value =
                    value.ok_or_else(|| invalid_attr(resource, "'None' is not an integer"))?;
                if value < -1 {
                    return Err(invalid_attr(
                        resource,
                        format!("'{value}' should be greater than or equal to -1"),
                    ));
                }
                changes.push((resource, value));
            }
        }
        attrs.finish("PUT")?;
        if check_limit {
            let used = self.quota_usage(project).await?;
            for (resource, limit) in &changes {
                let used = used.get(*resource).copied().unwrap_or(0);
                // -1 (unlimited) is never below the usage.
                if *limit >= 0 && used > *limit {
                    return Err(bad_request(format!(
                        "Quota limit {limit} for {resource} must be greater than or equal to already used {used}"
                    )));
                }
            }
        }
        for (resource, value) in changes {
            store::quotas::quota_set(self.pool(), project, resource, value).await?;
        }
        self.quota_limits(project).await
    }

    /// `DELETE /v2.0/quotas/{project}`: back to defaults (admin).
    pub async fn quota_reset(&self, ctx: &RequestContext, project: &str) -> Result<(), ApiError> {
        if !ctx.is_admin() {
            return Err(policy("delete_quota"));
        }
        store::quotas::quota_delete(self.pool(), project).await?;
        Ok(())
    }
}
