//! Server tags (2.26, nova's `server_tags.py`): at most 50 per server,
//! each 1-60 characters without `/` or `,`; changed only while the server
//! is active, paused, suspended or stopped. Also the tag and `locked`
//! filters of server listings.

use nimbus_common::{ApiError, RequestContext};

use super::ComputeService;
use super::servers::server_get;
use crate::store::instances::Instance;
use crate::store::tags as store;

/// nova's `MAX_TAG_COUNT`.
pub const MAX_TAG_COUNT: usize = 50;
/// nova's `MAX_TAG_LENGTH`.
pub const MAX_TAG_LENGTH: usize = 60;

/// Why a tag is not valid (nova's JSON-schema message), if it is not.
pub fn tag_problem(tag: &str) -> Option<String> {
    if tag.is_empty() {
        return Some(format!("'{tag}' is too short"));
    }
    if tag.chars().count() > MAX_TAG_LENGTH {
        return Some(format!("'{tag}' is too long"));
    }
    if tag.contains(['/', ',']) {
        return Some(format!("'{tag}' does not match '^[^,/]*$'"));
    }
    None
}

/// The server, if its vm_state lets tags change (nova's
/// `_check_instance_in_valid_state`), else 409.
async fn writable(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    action: &str,
    policy: &str,
) -> Result<Instance, ApiError> {
    let instance = server_get(svc, ctx, id).await?;
    if !ctx.can_write() {
        return Err(ApiError::policy(policy));
    }
    if !matches!(
        instance.vm_state.as_str(),
        "active" | "paused" | "suspended" | "stopped"
    ) {
        return Err(ApiError::conflict(format!(
            "Cannot '{action}' instance {id} while it is in vm_state {}",
            instance.vm_state
        )));
    }
    Ok(instance)
}

/// `GET /servers/{id}/tags`.
pub async fn tags_list(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<Vec<String>, ApiError> {
    let instance = server_get(svc, ctx, id).await?;
    if !ctx.can_read() {
        return Err(ApiError::policy("os_compute_api:os-server-tags:index"));
    }
    Ok(instance.extras.tags)
}

/// `GET /servers/{id}/tags/{tag}`: 404 when the server lacks it.
pub async fn tag_check(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    tag: &str,
) -> Result<(), ApiError> {
    let instance = server_get(svc, ctx, id).await?;
    if !ctx.can_read() {
        return Err(ApiError::policy("os_compute_api:os-server-tags:show"));
    }
    if instance.extras.tags.iter().any(|t| t == tag) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "Server {id} has no tag '{tag}'"
        )))
    }
}

/// `PUT /servers/{id}/tags/{tag}`: true when added (201), false when the
/// server had it already (204).
pub async fn tag_add(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    tag: &str,
) -> Result<bool, ApiError> {
    let instance = writable(
        svc,
        ctx,
        id,
        "update tag",
        "os_compute_api:os-server-tags:update",
    )
    .await?;
    if let Some(problem) = tag_problem(tag) {
        return Err(ApiError::bad_request(format!(
            "Tag '{tag}' is invalid. It must be a non empty string without characters '/' \
             and ','. Validation error message: {problem}"
        )));
    }
    match store::tag_add(svc.db().pool(), &instance.uuid, tag, MAX_TAG_COUNT).await? {
        Ok(added) => Ok(added),
        Err(store::TooMany) => Err(ApiError::bad_request(format!(
            "The number of tags exceeded the per-server limit {MAX_TAG_COUNT}"
        ))),
    }
}

/// `PUT /servers/{id}/tags`: the new set (validated by the caller).
pub async fn tags_replace(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    tags: &[String],
) -> Result<Vec<String>, ApiError> {
    let instance = writable(
        svc,
        ctx,
        id,
        "update tags",
        "os_compute_api:os-server-tags:update_all",
    )
    .await?;
    store::tags_replace(svc.db().pool(), &instance.uuid, tags).await?;
    Ok(store::tags_get(svc.db().pool(), &instance.uuid).await?)
}

/// `DELETE /servers/{id}/tags/{tag}`.
pub async fn tag_delete(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
    tag: &str,
) -> Result<(), ApiError> {
    let instance = writable(
        svc,
        ctx,
        id,
        "delete tag",
        "os_compute_api:os-server-tags:delete",
    )
    .await?;
    if store::tag_delete(svc.db().pool(), &instance.uuid, tag).await? {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "Tag {tag} could not be found."
        )))
    }
}

/// `DELETE /servers/{id}/tags`.
pub async fn tags_delete_all(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: &str,
) -> Result<(), ApiError> {
    let instance = writable(
        svc,
        ctx,
        id,
        "delete tags",
        "os_compute_api:os-server-tags:delete_all",
    )
    .await?;
    store::tags_replace(svc.db().pool(), &instance.uuid, &[]).await?;
    Ok(())
}

/// The tag (2.26) and `locked` (2.73) filters of a server listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListExtras {
    /// `tags`: servers with every one of these.
    pub tags: Option<Vec<String>>,
    /// `tags-any`: servers with at least one of these.
    pub tags_any: Option<Vec<String>>,
    /// `not-tags`: servers lacking at least one of these.
    pub not_tags: Option<Vec<String>>,
    /// `not-tags-any`: servers with none of these.
    pub not_tags_any: Option<Vec<String>>,
    /// `locked`.
    pub locked: Option<bool>,
}

impl ListExtras {
    /// Whether a server with `tags`, `locked` or not, passes every filter
    /// (nova's DB API semantics).
    pub fn matches(&self, tags: &[String], locked: bool) -> bool {
        let has = |t: &String| tags.contains(t);
        if let Some(all) = &self.tags
            && !all.iter().all(has)
        {
            return false;
        }
        if let Some(any) = &self.tags_any
            && !any.iter().any(has)
        {
            return false;
        }
        if let Some(all) = &self.not_tags
            && all.iter().all(has)
        {
            return false;
        }
        if let Some(any) = &self.not_tags_any
            && any.iter().any(has)
        {
            return false;
        }
        if let Some(wanted) = self.locked
            && locked != wanted
        {
            return false;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_validated_as_nova_schema() {
        assert!(tag_problem("web").is_none());
        assert!(tag_problem(&"x".repeat(60)).is_none());
        assert!(tag_problem(&"x".repeat(61)).is_some());
        assert!(tag_problem("").is_some());
        assert!(tag_problem("a/b").is_some());
        assert!(tag_problem("a,b").is_some());
        assert!(tag_problem("ünïcode ok").is_none());
    }

    #[test]
    fn list_filters_follow_nova_semantics() {
        let tags = vec!["a".to_string(), "b".to_string()];
        let v = |s: &[&str]| Some(s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        let f = |f: ListExtras| f.matches(&tags, false);
        assert!(f(ListExtras {
            tags: v(&["a", "b"]),
            ..Default::default()
        }));
        assert!(!f(ListExtras {
            tags: v(&["a", "c"]),
            ..Default::default()
        }));
        assert!(f(ListExtras {
            tags_any: v(&["c", "b"]),
            ..Default::default()
        }));
        assert!(!f(ListExtras {
            tags_any: v(&["c"]),
            ..Default::default()
        }));
        assert!(f(ListExtras {
            not_tags: v(&["a", "c"]),
            ..Default::default()
        }));
        assert!(!f(ListExtras {
            not_tags: v(&["a", "b"]),
            ..Default::default()
        }));
        assert!(f(ListExtras {
            not_tags_any: v(&["c"]),
            ..Default::default()
        }));
        assert!(!f(ListExtras {
            not_tags_any: v(&["c", "a"]),
            ..Default::default()
        }));
        assert!(f(ListExtras {
            locked: Some(false),
            ..Default::default()
        }));
        assert!(!f(ListExtras {
            locked: Some(true),
            ..Default::default()
        }));
    }
}
