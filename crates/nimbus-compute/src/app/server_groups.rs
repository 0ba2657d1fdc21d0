//! Server groups (`os-server-groups`, nova's `InstanceGroup`): a policy
//! the scheduler applies to the group's members, the `server_groups` and
//! `server_group_members` quotas, and membership through the `group`
//! scheduler hint of a server create.

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;

use super::ComputeService;
use crate::store::instances::Instance;
use crate::store::server_groups::{self as store, ServerGroup};

/// A validated group create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCreate {
    /// Name.
    pub name: String,
    /// The policy.
    pub policy: String,
    /// `rules.max_server_per_host`.
    pub max_server_per_host: Option<i64>,
}

/// A group with its members that are not deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    /// The group.
    pub group: ServerGroup,
    /// Uuids of its live members.
    pub members: Vec<String>,
}

fn missing(id: &str) -> ApiError {
    ApiError::not_found(format!("Instance group {id} could not be found."))
}

async fn view(svc: &ComputeService, group: ServerGroup) -> Result<GroupView, ApiError> {
    let members = store::members_live(svc.db().pool(), &group.uuid)
        .await?
        .into_iter()
        .map(|m| m.uuid)
        .collect();
    Ok(GroupView { group, members })
}

/// A group the caller may see (its project's, or any for admins), else 404.
async fn visible(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<ServerGroup, ApiError> {
    if id.len() > 255 {
        return Err(missing(id));
    }
    match store::group_get(svc.db().pool(), id).await? {
        Some(g) if ctx.may_see_project(&g.project_id) => Ok(g),
        _ => Err(missing(id)),
    }
}

/// 403 unless one more group fits the project's `server_groups` quota.
async fn check_group_quota(
    svc: &ComputeService,
    ctx: &RequestContext,
    project: &str,
    extra: i64,
) -> Result<(), ApiError> {
    let limit =
        super::quotas::limit_of(svc, Some(project), Some(&ctx.user_id), "server_groups").await?;
    let used = store::group_count(svc.db().pool(), project).await?;
    if limit >= 0 && used + extra > limit {
        return Err(ApiError::forbidden(
            "Quota exceeded, too many server groups.",
        ));
    }
    Ok(())
}

/// `POST /os-server-groups`.
pub async fn group_create(
    svc: &ComputeService,
    ctx: &RequestContext,
    req: GroupCreate,
) -> Result<GroupView, ApiError> {
    if !ctx.can_write() {
        return Err(ApiError::policy("os_compute_api:os-server-groups:create"));
    }
    let project = ctx.require_project()?.to_string();
    check_group_quota(svc, ctx, &project, 1).await?;
    if req.policy != "anti-affinity" && req.max_server_per_host.is_some() {
        return Err(ApiError::bad_request(
            "Only anti-affinity policy supports rules.",
        ));
    }
    let group = ServerGroup {
        uuid: uuid::Uuid::new_v4().to_string(),
        name: req.name,
        project_id: project.clone(),
        user_id: ctx.user_id.clone(),
        policy: req.policy,
        max_server_per_host: req.max_server_per_host,
        created_at: now_micros(),
    };
    store::group_create(svc.db().pool(), &group).await?;
    // Concurrent creates may together have gone over (nova's recheck).
    if let Err(err) = check_group_quota(svc, ctx, &project, 0).await {
        store::group_delete(svc.db().pool(), &group.uuid).await?;
        return Err(err);
    }
    Ok(GroupView {
        group,
        members: Vec::new(),
    })
}

/// `GET /os-server-groups/{id}`.
pub async fn group_show(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<GroupView, ApiError> {
    let group = visible(svc, ctx, id).await?;
    if !ctx.can_read() {
        return Err(ApiError::policy("os_compute_api:os-server-groups:show"));
    }
    view(svc, group).await
}

/// `DELETE /os-server-groups/{id}`.
pub async fn group_delete(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<(), ApiError> {
    let group = visible(svc, ctx, id).await?;
    if !ctx.can_write() {
        return Err(ApiError::policy("os_compute_api:os-server-groups:delete"));
    }
    if store::group_delete(svc.db().pool(), &group.uuid).await? {
        Ok(())
    } else {
        Err(missing(id))
    }
}

/// `GET /os-server-groups`: the project's groups, or every project's for
/// an admin asking `all_projects` (others asking get their own, as nova);
/// `offset` and `limit` as nova's `common.limited`.
pub async fn group_list(
    svc: &ComputeService,
    ctx: &RequestContext,
    all_projects: bool,
    offset: usize,
    limit: usize,
) -> Result<Vec<GroupView>, ApiError> {
    if !ctx.can_read() {
        return Err(ApiError::policy("os_compute_api:os-server-groups:index"));
    }
    let groups = if all_projects && ctx.is_admin() {
        store::group_list(svc.db().pool(), None).await?
    } else {
        store::group_list(svc.db().pool(), Some(ctx.require_project()?)).await?
    };
    let mut out = Vec::new();
    for g in groups.into_iter().skip(offset).take(limit) {
        out.push(view(svc, g).await?);
    }
    Ok(out)
}

/// The group of a create's `group` hint: it must exist in the caller's
/// project (400 otherwise, as nova's `InstanceGroupNotFound` at create)
/// and have room for `count` more of the user's servers (403).
pub async fn group_for_boot(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    count: i64,
) -> Result<ServerGroup, ApiError> {
    let group = visible(svc, ctx, id)
        .await
        .map_err(|_| ApiError::bad_request(format!("Instance group {id} could not be found.")))?;
    check_member_quota(svc, ctx, &group, count).await?;
    Ok(group)
}

async fn check_member_quota(
    svc: &ComputeService,
    ctx: &RequestContext,
    group: &ServerGroup,
    extra: i64,
) -> Result<(), ApiError> {
    let limit = super::quotas::limit_of(
        svc,
        Some(&group.project_id),
        Some(&ctx.user_id),
        "server_group_members",
    )
    .await?;
    let used = store::member_count_by_user(svc.db().pool(), &group.uuid, &ctx.user_id).await?;
    if limit >= 0 && used + extra > limit {
        return Err(ApiError::forbidden(
            "Quota exceeded, too many servers in group",
        ));
    }
    Ok(())
}

/// Makes the new rows members of `group`, then rechecks the member quota
/// (concurrent creates); on 403 the memberships are dropped again and the
/// caller removes the rows.
pub async fn members_add(
    svc: &ComputeService,
    ctx: &RequestContext,
    group: &ServerGroup,
    rows: &[Instance],
) -> Result<(), ApiError> {
    let uuids: Vec<String> = rows.iter().map(|r| r.uuid.clone()).collect();
    store::members_add(svc.db().pool(), &group.uuid, &ctx.user_id, &uuids).await?;
    if let Err(err) = check_member_quota(svc, ctx, group, 0).await {
        store::members_remove(svc.db().pool(), &uuids).await?;
        return Err(err);
    }
    Ok(())
}

/// The `server_groups` usage of a project (quota sets, limits).
pub async fn group_count(svc: &ComputeService, project: &str) -> Result<i64, ApiError> {
    Ok(store::group_count(svc.db().pool(), project).await?)
}

/// [`group_for_boot`] for an optional hint.
pub async fn group_for_boot_hint(
    svc: &ComputeService,
    ctx: &RequestContext,
    hint: &Option<String>,
    count: u32,
) -> Result<Option<ServerGroup>, ApiError> {
    match hint {
        Some(id) => Ok(Some(group_for_boot(svc, ctx, id, i64::from(count)).await?)),
        None => Ok(None),
    }
}

/// What a create records beside the new rows: their membership of
/// `group` and their `tags`. On failure the rows are marked deleted (they
/// never start) and the error is the create's.
pub async fn boot_extras(
    svc: &ComputeService,
    ctx: &RequestContext,
    group: Option<&ServerGroup>,
    tags: &[String],
    rows: &[Instance],
) -> Result<(), ApiError> {
    let result = async {
        if let Some(group) = group {
            members_add(svc, ctx, group, rows).await?;
        }
        if !tags.is_empty() {
            for row in rows {
                crate::store::tags::tags_replace(svc.db().pool(), &row.uuid, tags).await?;
            }
        }
        Ok::<(), ApiError>(())
    }
    .await;
    if let Err(err) = result {
        for row in rows {
            crate::store::instances::instance_mark_deleted(svc.db().pool(), &row.uuid).await?;
        }
        return Err(err);
    }
    Ok(())
}
