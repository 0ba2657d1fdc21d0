//! Role grants on projects and domains, and `GET /v3/role_assignments`.

use std::collections::HashMap;

use nimbus_common::{ApiError, RequestContext};

use super::resources::not_found;
use super::{Identity, event, require_admin};
use crate::model::{Assignment, Domain, Project, Role, TargetType, User};
use crate::store;
use crate::store::assignments::AssignmentFilter;

/// One row of `GET /v3/role_assignments`, with everything needed for names.
#[derive(Debug, Clone)]
pub struct AssignmentView {
    /// The user.
    pub user: User,
    /// The user's domain.
    pub user_domain: Domain,
    /// The role shown.
    pub role: Role,
    /// The role actually granted, when `role` is implied by it (`effective`).
    pub prior_role_id: Option<String>,
    /// Where it is granted.
    pub target: TargetView,
}

/// A grant target with its names.
#[derive(Debug, Clone)]
pub enum TargetView {
    /// A project and its domain.
    Project(Project, Domain),
    /// A domain.
    Domain(Domain),
}

/// Query of `GET /v3/role_assignments`.
#[derive(Debug, Clone, Default)]
pub struct AssignmentQuery {
    /// `user.id`
    pub user_id: Option<String>,
    /// `role.id`
    pub role_id: Option<String>,
    /// `scope.project.id`
    pub project_id: Option<String>,
    /// `scope.domain.id`
    pub domain_id: Option<String>,
    /// `effective`: expand implied roles.
    pub effective: bool,
    /// Filters we never match (groups, system scope, inheritance).
    pub impossible: bool,
}

impl Identity {
    async fn grant_parts(
        &self,
        target_type: TargetType,
        target_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<Assignment, ApiError> {
        match target_type {
            TargetType::Project => {
                if store::projects::project_get(self.pool(), target_id)
                    .await?
                    .is_none()
                {
                    return Err(not_found("project", target_id));
                }
            }
            TargetType::Domain => {
                if store::domains::domain_get(self.pool(), target_id)
                    .await?
                    .is_none()
                {
                    return Err(not_found("domain", target_id));
                }
            }
        }
        if store::users::user_get(self.pool(), user_id)
            .await?
            .is_none()
        {
            return Err(not_found("user", user_id));
        }
        if store::roles::role_get(self.pool(), role_id)
            .await?
            .is_none()
        {
            return Err(not_found("role", role_id));
        }
        Ok(Assignment {
            user_id: user_id.to_string(),
            target_type,
            target_id: target_id.to_string(),
            role_id: role_id.to_string(),
        })
    }

    /// `PUT .../users/{u}/roles/{r}`.
    pub async fn role_grant(
        &self,
        ctx: &RequestContext,
        target_type: TargetType,
        target_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), ApiError> {
        require_admin(ctx, "create_grant")?;
        let a = self
            .grant_parts(target_type, target_id, user_id, role_id)
            .await?;
        store::assignments::assignment_create(self.pool(), &a).await?;
        Ok(())
    }

    /// `HEAD`/`GET .../users/{u}/roles/{r}`: 404 unless granted.
    pub async fn role_check(
        &self,
        ctx: &RequestContext,
        target_type: TargetType,
        target_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), ApiError> {
        require_admin(ctx, "check_grant")?;
        let a = self
            .grant_parts(target_type, target_id, user_id, role_id)
            .await?;
        let found = store::assignments::assignment_list(
            self.pool(),
            &AssignmentFilter {
                user_id: Some(a.user_id),
                target_type: Some(a.target_type),
                target_id: Some(a.target_id),
                role_id: Some(a.role_id),
            },
        )
        .await?;
        if found.is_empty() {
            return Err(ApiError::not_found(format!(
                "Could not find role assignment with role: {role_id}, user or group: {user_id}, project, domain, or system: {target_id}."
            )));
        }
        Ok(())
    }

    /// `DELETE .../users/{u}/roles/{r}`: the user's tokens on that target are revoked.
    pub async fn role_revoke(
        &self,
        ctx: &RequestContext,
        target_type: TargetType,
        target_id: &str,
        user_id: &str,
        role_id: &str,
    ) -> Result<(), ApiError> {
        require_admin(ctx, "revoke_grant")?;
        let a = self
            .grant_parts(target_type, target_id, user_id, role_id)
            .await?;
        if !store::assignments::assignment_delete(self.pool(), &a).await? {
            return Err(ApiError::not_found(format!(
                "Could not find role assignment with role: {role_id}, user or group: {user_id}, project, domain, or system: {target_id}."
            )));
        }
        let mut e = event();
        e.user_id = Some(a.user_id);
        match target_type {
            TargetType::Project => e.project_id = Some(a.target_id),
            TargetType::Domain => e.domain_id = Some(a.target_id),
        }
        self.revoke(e).await
    }

    /// `GET .../users/{u}/roles`: roles granted directly on a target.
    pub async fn roles_on_target(
        &self,
        ctx: &RequestContext,
        target_type: TargetType,
        target_id: &str,
        user_id: &str,
    ) -> Result<Vec<Role>, ApiError> {
        require_admin(ctx, "list_grants")?;
        let found = store::assignments::assignment_list(
            self.pool(),
            &AssignmentFilter {
                user_id: Some(user_id.to_string()),
                target_type: Some(target_type),
                target_id: Some(target_id.to_string()),
                role_id: None,
            },
        )
        .await?;
        let mut roles = Vec::new();
        for a in found {
            if let Some(r) = store::roles::role_get(self.pool(), &a.role_id).await? {
                roles.push(r);
            }
        }
        Ok(roles)
    }

    /// `GET /v3/role_assignments`: admins see all; others only their own
    /// (`user.id` must be theirs).
    pub async fn role_assignment_list(
        &self,
        ctx: &RequestContext,
        q: &AssignmentQuery,
    ) -> Result<Vec<AssignmentView>, ApiError> {
        if !ctx.is_admin() && q.user_id.as_deref() != Some(ctx.user_id.as_str()) {
            return Err(ApiError::policy("identity:list_role_assignments"));
        }
        if q.impossible || (q.project_id.is_some() && q.domain_id.is_some()) {
            return Ok(Vec::new());
        }
        let (target_type, target_id) = match (&q.project_id, &q.domain_id) {
            (Some(p), _) => (Some(TargetType::Project), Some(p.clone())),
            (None, Some(d)) => (Some(TargetType::Domain), Some(d.clone())),
            (None, None) => (None, None),
        };
        let filter = AssignmentFilter {
            user_id: q.user_id.clone(),
            target_type,
            target_id,
            // With `effective`, a role may come from an implied one: filter after expanding.
            role_id: if q.effective { None } else { q.role_id.clone() },
        };
        let rows = store::assignments::assignment_list(self.pool(), &filter).await?;

        let roles: HashMap<String, Role> = store::roles::role_list(self.pool(), None)
            .await?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let mut implied: HashMap<String, Vec<String>> = HashMap::new();
        if q.effective {
            for (prior, imp) in store::roles::implied_role_list(self.pool()).await? {
                implied.entry(prior).or_default().push(imp);
            }
        }
        let mut cache = Lookup::default();
        let mut out = Vec::new();
        for a in rows {
            let Some(user) = cache.user(self, &a.user_id).await? else {
                continue;
            };
            let Some(user_domain) = cache.domain(self, &user.domain_id).await? else {
                continue;
            };
            let target = match a.target_type {
                TargetType::Project => {
                    let Some(p) = cache.project(self, &a.target_id).await? else {
                        continue;
                    };
                    let Some(d) = cache.domain(self, &p.domain_id).await? else {
                        continue;
                    };
                    TargetView::Project(p, d)
                }
                TargetType::Domain => {
                    let Some(d) = cache.domain(self, &a.target_id).await? else {
                        continue;
                    };
                    TargetView::Domain(d)
                }
            };
            let mut shown: Vec<(String, Option<String>)> = vec![(a.role_id.clone(), None)];
            if q.effective {
                let closure = self.expand_implied(vec![a.role_id.clone()]).await?;
                for id in closure {
                    if id != a.role_id {
                        shown.push((id, Some(a.role_id.clone())));
                    }
                }
            }
            for (role_id, prior_role_id) in shown {
                if q.role_id.as_ref().is_some_and(|r| *r != role_id) {
                    continue;
                }
                let Some(role) = roles.get(&role_id) else {
                    continue;
                };
                out.push(AssignmentView {
                    user: user.clone(),
                    user_domain: user_domain.clone(),
                    role: role.clone(),
                    prior_role_id,
                    target: target.clone(),
                });
            }
        }
        Ok(out)
    }
}

/// Memoized lookups while rendering a list.
#[derive(Default)]
struct Lookup {
    users: HashMap<String, Option<User>>,
    projects: HashMap<String, Option<Project>>,
    domains: HashMap<String, Option<Domain>>,
}

impl Lookup {
    async fn user(&mut self, id: &Identity, user_id: &str) -> Result<Option<User>, ApiError> {
        if !self.users.contains_key(user_id) {
            let u = store::users::user_get(id.pool(), user_id).await?;
            self.users.insert(user_id.to_string(), u);
        }
        Ok(self.users.get(user_id).cloned().flatten())
    }
    async fn project(
        &mut self,
        id: &Identity,
        project_id: &str,
    ) -> Result<Option<Project>, ApiError> {
        if !self.projects.contains_key(project_id) {
            let p = store::projects::project_get(id.pool(), project_id).await?;
            self.projects.insert(project_id.to_string(), p);
        }
        Ok(self.projects.get(project_id).cloned().flatten())
    }
    async fn domain(&mut self, id: &Identity, domain_id: &str) -> Result<Option<Domain>, ApiError> {
        if !self.domains.contains_key(domain_id) {
            let d = store::domains::domain_get(id.pool(), domain_id).await?;
            self.domains.insert(domain_id.to_string(), d);
        }
        Ok(self.domains.get(domain_id).cloned().flatten())
    }
}
