//! Quotas with Cinder's defaults (`cinder/quota.py`): volumes 10,
//! snapshots 10, gigabytes 1000 (volumes and snapshots together), backups
//! 10, backup_gigabytes 1000, groups 10, per_volume_gigabytes unlimited.

use std::collections::BTreeMap;

use nimbus_common::{ApiError, RequestContext};

use super::VolumeService;
use crate::store;

/// Resource names and their default limits.
pub const DEFAULTS: [(&str, i64); 7] = [
    ("volumes", 10),
    ("snapshots", 10),
    ("gigabytes", 1000),
    ("backups", 10),
    ("backup_gigabytes", 1000),
    ("groups", 10),
    ("per_volume_gigabytes", -1),
];

/// A project's limits and usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaUsage {
    /// Limit per resource (-1 is unlimited).
    pub limits: BTreeMap<String, i64>,
    /// Use per resource.
    pub in_use: BTreeMap<String, i64>,
}

fn over(limit: i64, used: i64, more: i64) -> bool {
    limit >= 0 && used + more > limit
}

impl VolumeService {
    /// The limits in force for `project` (defaults overlaid with its own).
    pub async fn quota_limits(&self, project: &str) -> Result<BTreeMap<String, i64>, ApiError> {
        let mut limits: BTreeMap<String, i64> =
            DEFAULTS.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        for (k, v) in store::quotas::quota_get(self.pool(), project).await? {
            limits.insert(k, v);
        }
        Ok(limits)
    }

    /// Limits and usage of `project`.
    pub async fn quota_usage(&self, project: &str) -> Result<QuotaUsage, ApiError> {
        let limits = self.quota_limits(project).await?;
        let (volumes, vol_gb) = store::volumes::volume_usage(self.pool(), project).await?;
        let (snaps, snap_gb) = store::snapshots::snapshot_usage(self.pool(), project).await?;
        let mut in_use: BTreeMap<String, i64> = limits.keys().map(|k| (k.clone(), 0)).collect();
        in_use.insert("volumes".into(), volumes);
        in_use.insert("snapshots".into(), snaps);
        in_use.insert("gigabytes".into(), vol_gb + snap_gb);
        Ok(QuotaUsage { limits, in_use })
    }

    /// Quota sets: the caller's own project, or any for an admin.
    pub async fn quota_show(
        &self,
        ctx: &RequestContext,
        project: &str,
    ) -> Result<QuotaUsage, ApiError> {
        if !ctx.is_admin() && ctx.project_id.as_deref() != Some(project) {
            return Err(ApiError::policy("volume_extension:quotas:show"));
        }
        self.quota_usage(project).await
    }

    /// `PUT /os-quota-sets/{project}` (admin).
    pub async fn quota_update(
        &self,
        ctx: &RequestContext,
        project: &str,
        values: &BTreeMap<String, i64>,
    ) -> Result<QuotaUsage, ApiError> {
        ctx.require_admin("volume_extension:quotas:update")?;
        for (k, v) in values {
            let known = DEFAULTS.iter().any(|(name, _)| name == k);
            if !known {
                return Err(ApiError::bad_request(format!(
                    "Bad key(s) in quota set: {k}"
                )));
            }
            if *v < -1 {
                return Err(ApiError::bad_request(format!(
                    "Quota limit {v} for {k} must be -1 or greater."
                )));
            }
        }
        let usage = self.quota_usage(project).await?;
        for (k, v) in values {
            let used = usage.in_use.get(k).copied().unwrap_or(0);
            if *v >= 0 && *v < used && k != "per_volume_gigabytes" {
                return Err(ApiError::bad_request(format!(
                    "Quota limit {v} for {k} must be greater than or equal to already used and reserved {used}."
                )));
            }
        }
        for (k, v) in values {
            store::quotas::quota_set(self.pool(), project, k, *v).await?;
        }
        self.quota_usage(project).await
    }

    /// `DELETE /os-quota-sets/{project}` (admin): back to the defaults.
    pub async fn quota_delete(&self, ctx: &RequestContext, project: &str) -> Result<(), ApiError> {
        ctx.require_admin("volume_extension:quotas:delete")?;
        store::quotas::quota_delete(self.pool(), project).await?;
        Ok(())
    }

    /// 413 if `count` more volumes of `gigabytes` more would exceed a limit.
    pub(crate) async fn quota_reserve_volume(
        &self,
        project: &str,
        count: i64,
        gigabytes: i64,
    ) -> Result<(), ApiError> {
        let q = self.quota_usage(project).await?;
        let limit = |k: &str| q.limits.get(k).copied().unwrap_or(-1);
        let used = |k: &str| q.in_use.get(k).copied().unwrap_or(0);
        let per_volume = limit("per_volume_gigabytes");
        if per_volume >= 0 && gigabytes > per_volume && count > 0 {
            return Err(ApiError::over_limit(format!(
                "VolumeSizeExceedsLimit: Requested volume size {gigabytes}G is larger than maximum allowed limit {per_volume}G."
            )));
        }
        if over(limit("volumes"), used("volumes"), count) {
            return Err(ApiError::over_limit(format!(
                "VolumeLimitExceeded: Maximum number of volumes allowed ({}) exceeded for quota 'volumes'.",
                limit("volumes")
            )));
        }
        if over(limit("gigabytes"), used("gigabytes"), gigabytes) {
            return Err(ApiError::over_limit(format!(
                "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested {gigabytes}G, quota is {}G and {}G has been consumed.",
                limit("gigabytes"),
                used("gigabytes")
            )));
        }
        Ok(())
    }

    /// 413 if one more snapshot of `gigabytes` would exceed a limit.
    pub(crate) async fn quota_reserve_snapshot(
        &self,
        project: &str,
        gigabytes: i64,
    ) -> Result<(), ApiError> {
        let q = self.quota_usage(project).await?;
        let limit = |k: &str| q.limits.get(k).copied().unwrap_or(-1);
        let used = |k: &str| q.in_use.get(k).copied().unwrap_or(0);
        if over(limit("snapshots"), used("snapshots"), 1) {
            return Err(ApiError::over_limit(format!(
                "SnapshotLimitExceeded: Maximum number of snapshots allowed ({}) exceeded",
                limit("snapshots")
            )));
        }
        if over(limit("gigabytes"), used("gigabytes"), gigabytes) {
            return Err(ApiError::over_limit(format!(
                "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested {gigabytes}G, quota is {}G and {}G has been consumed.",
                limit("gigabytes"),
                used("gigabytes")
            )));
        }
        Ok(())
    }
}
