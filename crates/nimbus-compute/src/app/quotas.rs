//! Quotas as nova's DB quota driver keeps them: defaults (nova.conf
//! `[quota]`), per-project limits, per-user limits within a project, and
//! the checks server create and key pair create make.

use std::collections::BTreeMap;

use nimbus_common::{ApiError, RequestContext};

use crate::app::ComputeService;
use crate::store::quotas as store;
use crate::store::usage::{Usage, project_usage};

/// Every quota resource with nova's default limit, in nova's order. The
/// nova-network era resources are unlimited (-1) as nova has them now.
pub const DEFAULTS: [(&str, i64); 14] = [
    ("instances", 10),
    ("cores", 20),
    ("ram", 51200),
    ("floating_ips", -1),
    ("fixed_ips", -1),
    ("metadata_items", 128),
    ("injected_files", 5),
    ("injected_file_content_bytes", 10240),
    ("injected_file_path_bytes", 255),
    ("key_pairs", 100),
    ("security_groups", -1),
    ("security_group_rules", -1),
    ("server_groups", 10),
    ("server_group_members", 10),
];

/// Whether `resource` is a quota nova knows.
pub fn is_resource(resource: &str) -> bool {
    DEFAULTS.iter().any(|(name, _)| *name == resource)
}

/// The built-in default limits (nova.conf `[quota]`'s defaults).
pub fn defaults() -> BTreeMap<String, i64> {
    DEFAULTS.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// The quota class whose limits replace the built-in defaults (nova only
/// ever applies this one).
pub const DEFAULT_CLASS: &str = "default";

/// The limits of quota class `class`: the built-in defaults with the
/// class's stored limits over them.
pub async fn class_limits(
    svc: &ComputeService,
    class: &str,
) -> Result<BTreeMap<String, i64>, ApiError> {
    let mut out = defaults();
    out.extend(
        store::class_get(svc.db(), class)
            .await?
            .into_iter()
            .filter(|(k, _)| is_resource(k)),
    );
    Ok(out)
}

/// The limits every project starts with: the `default` class's.
pub async fn default_limits(svc: &ComputeService) -> Result<BTreeMap<String, i64>, ApiError> {
    class_limits(svc, DEFAULT_CLASS).await
}

/// `PUT /os-quota-class-sets/{class}` (admin): stores the given limits.
pub async fn class_update(
    svc: &ComputeService,
    ctx: &RequestContext,
    class: &str,
    limits: &BTreeMap<String, i64>,
) -> Result<BTreeMap<String, i64>, ApiError> {
    ctx.require_admin("os_compute_api:os-quota-class-sets:update")?;
    store::class_set(svc.db(), class, limits).await?;
    class_limits(svc, class).await
}

/// The limits of `project` (defaults, then the project's own), and of
/// `user` within it when given (the user's own over those).
pub async fn limits(
    svc: &ComputeService,
    project: &str,
    user: Option<&str>,
) -> Result<BTreeMap<String, i64>, ApiError> {
    let mut out = default_limits(svc).await?;
    out.extend(store::quota_get(svc.db(), project, "").await?);
    if let Some(user) = user.filter(|u| !u.is_empty()) {
        out.extend(store::quota_get(svc.db(), project, user).await?);
    }
    Ok(out)
}

/// One limit (-1: unlimited). Without a project only the default applies.
pub async fn limit_of(
    svc: &ComputeService,
    project: Option<&str>,
    user: Option<&str>,
    resource: &str,
) -> Result<i64, ApiError> {
    let all = match project {
        Some(project) => limits(svc, project, user).await?,
        None => default_limits(svc).await?,
    };
    Ok(all.get(resource).copied().unwrap_or(-1))
}

/// The limits a server create checks personality files and metadata against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectionLimits {
    /// `injected_files`: files per server.
    pub files: i64,
    /// `injected_file_content_bytes`: bytes per file (decoded).
    pub content_bytes: i64,
    /// `injected_file_path_bytes`: bytes per path.
    pub path_bytes: i64,
    /// `metadata_items`: metadata keys per server.
    pub metadata_items: i64,
}

/// The caller's injected-file and metadata limits (-1: unlimited).
pub async fn injection_limits(
    svc: &ComputeService,
    ctx: &RequestContext,
) -> Result<InjectionLimits, ApiError> {
    let project = ctx.require_project()?;
    let all = limits(svc, project, Some(&ctx.user_id)).await?;
    let get = |k: &str| all.get(k).copied().unwrap_or(-1);
    Ok(InjectionLimits {
        files: get("injected_files"),
        content_bytes: get("injected_file_content_bytes"),
        path_bytes: get("injected_file_path_bytes"),
        metadata_items: get("metadata_items"),
    })
}

/// The caller's project's instance usage.
pub async fn usage(svc: &ComputeService, project: &str) -> Result<Usage, ApiError> {
    Ok(project_usage(svc.db(), project).await?)
}

/// 403 unless `count` more instances of `vcpus` and `ram_mb` each fit the
/// caller's project quotas (nova's `TooManyInstances` message).
pub async fn check_instances(
    svc: &ComputeService,
    ctx: &RequestContext,
    count: i64,
    vcpus: i64,
    ram_mb: i64,
) -> Result<(), ApiError> {
    instances_allowed(svc, ctx, count, count, vcpus, ram_mb)
        .await
        .map(|_| ())
}

/// How many instances between `min_count` and `max_count` fit the quotas
/// (nova's `check_num_instances_quota`: as many as fit, at most
/// `max_count`), or 403 when not even `min_count` do.
pub async fn instances_allowed(
    svc: &ComputeService,
    ctx: &RequestContext,
    min_count: i64,
    max_count: i64,
    vcpus: i64,
    ram_mb: i64,
) -> Result<i64, ApiError> {
    let project = ctx.require_project()?;
    let limits = limits(svc, project, Some(&ctx.user_id)).await?;
    let used = usage(svc, project).await?;
    let quota = |k: &str| limits.get(k).copied().unwrap_or(-1);
    let resources = [
        ("instances", quota("instances"), used.instances, 1),
        ("cores", quota("cores"), used.cores, vcpus),
        ("ram", quota("ram"), used.ram_mb, ram_mb),
    ];
    let fits = |n: i64| {
        resources.iter().all(|(_, limit, used, per)| {
            *limit < 0 || used.saturating_add(n.saturating_mul(*per)) <= *limit
        })
    };
    if fits(max_count) {
        return Ok(max_count);
    }
    // As many as every resource has headroom for.
    let mut allowed = max_count;
    for (_, limit, used, per) in &resources {
        if *limit >= 0 && *per > 0 {
            allowed = allowed.min((limit - used).max(0) / per);
        }
    }
    if allowed >= min_count && allowed > 0 {
        return Ok(allowed);
    }
    let requested_instances = if min_count == max_count {
        min_count.to_string()
    } else {
        format!("{min_count}-{max_count}")
    };
    let mut overs = Vec::new();
    let mut reqs = Vec::new();
    let mut useds = Vec::new();
    let mut alloweds = Vec::new();
    for (name, limit, used, per) in &resources {
        let want = max_count.saturating_mul(*per);
        if *limit >= 0 && used.saturating_add(want) > *limit {
            overs.push(name.to_string());
            reqs.push(if *name == "instances" {
                requested_instances.clone()
            } else {
                want.to_string()
            });
            useds.push(used.to_string());
            alloweds.push(limit.to_string());
        }
    }
    let overs = overs.join(", ");
    Err(ApiError::forbidden(format!(
        "Quota exceeded for {overs}: Requested {}, but already used {} of {} {overs}",
        reqs.join(", "),
        useds.join(", "),
        alloweds.join(", "),
    )))
}

/// Re-checks after the instance rows exist (nova's `recheck_quota`): 403
/// when concurrent creates together went over.
pub async fn recheck_instances(
    svc: &ComputeService,
    ctx: &RequestContext,
    requested: i64,
    vcpus: i64,
    ram_mb: i64,
) -> Result<(), ApiError> {
    let project = ctx.require_project()?;
    let limits = limits(svc, project, Some(&ctx.user_id)).await?;
    let used = usage(svc, project).await?;
    let quota = |k: &str| limits.get(k).copied().unwrap_or(-1);
    let mut overs = Vec::new();
    for (name, limit, used, per) in [
        ("instances", quota("instances"), used.instances, 1),
        ("cores", quota("cores"), used.cores, vcpus),
        ("ram", quota("ram"), used.ram_mb, ram_mb),
    ] {
        if limit >= 0 && used > limit {
            overs.push((name, limit, used - requested * per, requested * per));
        }
    }
    if overs.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = overs.iter().map(|o| o.0).collect();
    let names = names.join(", ");
    let join = |f: fn(&(&str, i64, i64, i64)) -> i64| {
        overs
            .iter()
            .map(|o| f(o).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(ApiError::forbidden(format!(
        "Quota exceeded for {names}: Requested {}, but already used {} of {} {names}",
        join(|o| o.3),
        join(|o| o.2),
        join(|o| o.1),
    )))
}

/// Sets limits for a project (or a user within it). Admin only; the caller
/// validated names and values.
pub async fn quota_update(
    svc: &ComputeService,
    ctx: &RequestContext,
    project: &str,
    user: Option<&str>,
    values: &BTreeMap<String, i64>,
) -> Result<(), ApiError> {
    ctx.require_admin("os_compute_api:os-quota-sets:update")?;
    Ok(store::quota_set(svc.db(), project, user.unwrap_or(""), values).await?)
}

/// Drops explicit limits (admin only).
pub async fn quota_delete(
    svc: &ComputeService,
    ctx: &RequestContext,
    project: &str,
    user: Option<&str>,
) -> Result<(), ApiError> {
    ctx.require_admin("os_compute_api:os-quota-sets:delete")?;
    Ok(store::quota_delete(svc.db(), project, user.unwrap_or("")).await?)
}

/// Usage by resource for `project` (and `user`'s key pairs).
pub async fn in_use(
    svc: &ComputeService,
    project: &str,
    user: Option<&str>,
) -> Result<BTreeMap<String, i64>, ApiError> {
    let used = usage(svc, project).await?;
    let mut out: BTreeMap<String, i64> = DEFAULTS.iter().map(|(k, _)| (k.to_string(), 0)).collect();
    out.insert("instances".into(), used.instances);
    out.insert("cores".into(), used.cores);
    out.insert("ram".into(), used.ram_mb);
    out.insert(
        "server_groups".into(),
        crate::app::server_groups::group_count(svc, project).await?,
    );
    // Key pairs belong to users: a project's usage of them is nova's 0.
    if let Some(user) = user.filter(|u| !u.is_empty()) {
        out.insert(
            "key_pairs".into(),
            crate::app::keypairs::keypair_count(svc, user).await?,
        );
    }
    Ok(out)
}

/// 403 unless the caller may read `project`'s quotas and limits (its own
/// project, or an admin).
pub fn require_reader(ctx: &RequestContext, project: &str, action: &str) -> Result<(), ApiError> {
    if ctx.is_admin() || ctx.project_id.as_deref() == Some(project) {
        Ok(())
    } else {
        Err(ApiError::policy(action))
    }
}
