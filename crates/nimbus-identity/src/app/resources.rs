//! Domains, projects, users and roles: policy, validation, and the
//! revocations a change implies.

use nimbus_common::ids::new_hex_id;
use nimbus_common::{ApiError, RequestContext};

use super::{Identity, event, require_admin};
use crate::model::{Domain, ListFilter, Project, Role, User};
use crate::password;
use crate::store;

/// Checks a name: 1..=max characters, not only whitespace.
pub fn validate_name(field: &str, name: &str, max: usize) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field '{field}': must be 1 to {max} characters and not blank."
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field '{field}': control characters are not allowed."
        )));
    }
    Ok(())
}

fn validate_password(password: &str) -> Result<(), ApiError> {
    if password.is_empty() || password.len() > password::MAX_PASSWORD_LEN {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field 'password': must be 1 to {} bytes.",
            password::MAX_PASSWORD_LEN
        )));
    }
    Ok(())
}

async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

fn conflict(kind: &str, name: &str) -> ApiError {
    ApiError::conflict(format!(
        "Conflict occurred attempting to store {kind} - Duplicate entry found with name {name}."
    ))
}

/// Keystone's 404 for a missing resource.
pub fn not_found(kind: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("Could not find {kind}: {id}."))
}

/// Fields a project create or update may set.
#[derive(Debug, Default)]
pub struct ProjectChange {
    /// New name.
    pub name: Option<String>,
    /// Owning domain (create only).
    pub domain_id: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New enabled state.
    pub enabled: Option<bool>,
}

/// Fields a user create or update may set.
#[derive(Debug, Default)]
pub struct UserChange {
    /// New name.
    pub name: Option<String>,
    /// Owning domain (create only).
    pub domain_id: Option<String>,
    /// New password.
    pub password: Option<String>,
    /// New default project (`Some(None)` clears it).
    pub default_project_id: Option<Option<String>>,
    /// New description.
    pub description: Option<String>,
    /// New e-mail.
    pub email: Option<Option<String>>,
    /// New enabled state.
    pub enabled: Option<bool>,
}

impl Identity {
    // ---- domains ----

    /// `GET /v3/domains`: admins.
    pub async fn domain_list(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Domain>, ApiError> {
        require_admin(ctx, "list_domains")?;
        Ok(store::domains::domain_list(self.pool(), filter).await?)
    }

    /// `GET /v3/domains/{id}`: admins, or members of the domain.
    pub async fn domain_get(&self, ctx: &RequestContext, id: &str) -> Result<Domain, ApiError> {
        let visible = ctx.is_admin()
            || ctx.user_domain_id == id
            || ctx.domain_id.as_deref() == Some(id)
            || ctx.project_domain_id.as_deref() == Some(id);
        match store::domains::domain_get(self.pool(), id).await? {
            Some(d) if visible => Ok(d),
            _ => Err(not_found("domain", id)),
        }
    }

    /// `POST /v3/domains`.
    pub async fn domain_create(
        &self,
        ctx: &RequestContext,
        name: String,
        description: String,
        enabled: bool,
    ) -> Result<Domain, ApiError> {
        require_admin(ctx, "create_domain")?;
        validate_name("name", &name, 64)?;
        let domain = Domain {
            id: new_hex_id(),
            name,
            description,
            enabled,
        };
        if !store::domains::domain_create(self.pool(), &domain).await? {
            return Err(conflict("domain", &domain.name));
        }
        Ok(domain)
    }

    /// `PATCH /v3/domains/{id}`.
    pub async fn domain_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        name: Option<String>,
        description: Option<String>,
        enabled: Option<bool>,
    ) -> Result<Domain, ApiError> {
        require_admin(ctx, "update_domain")?;
        let mut domain = store::domains::domain_get(self.pool(), id)
            .await?
            .ok_or_else(|| not_found("domain", id))?;
        if let Some(name) = name {
            validate_name("name", &name, 64)?;
            domain.name = name;
        }
        if let Some(d) = description {
            domain.description = d;
        }
        let disabling = enabled == Some(false) && domain.enabled;
        if let Some(e) = enabled {
            domain.enabled = e;
        }
        if !store::domains::domain_update(self.pool(), &domain).await? {
            return Err(conflict("domain", &domain.name));
        }
        if disabling {
            let mut e = event();
            e.domain_id = Some(domain.id.clone());
            self.revoke(e).await?;
        }
        Ok(domain)
    }

    /// `DELETE /v3/domains/{id}`: only disabled, empty domains, never Default.
    pub async fn domain_delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        require_admin(ctx, "delete_domain")?;
        let domain = store::domains::domain_get(self.pool(), id)
            .await?
            .ok_or_else(|| not_found("domain", id))?;
        if domain.id == super::bootstrap::DEFAULT_DOMAIN_ID {
            return Err(ApiError::forbidden("The default domain cannot be deleted."));
        }
        if domain.enabled {
            return Err(ApiError::forbidden(
                "Cannot delete a domain that is enabled, please disable it first.",
            ));
        }
        if store::domains::domain_has_children(self.pool(), id).await? {
            return Err(ApiError::conflict(
                "The domain still owns projects or users.",
            ));
        }
        store::domains::domain_delete(self.pool(), id).await?;
        Ok(())
    }

    /// The required name (at most `max_len`) and the domain of a new project
    /// or user: the one given, else the caller's; it must exist (400).
    async fn new_name_and_domain(
        &self,
        ctx: &RequestContext,
        name: Option<String>,
        domain_id: Option<String>,
        max_len: usize,
    ) -> Result<(String, String), ApiError> {
        let name =
            name.ok_or_else(|| ApiError::bad_request("Invalid input for field 'name': required."))?;
        validate_name("name", &name, max_len)?;
        let domain_id = domain_id
            .or_else(|| ctx.project_domain_id.clone())
            .unwrap_or_else(|| ctx.user_domain_id.clone());
        if store::domains::domain_get(self.pool(), &domain_id)
            .await?
            .is_none()
        {
            return Err(ApiError::bad_request(format!(
                "Could not find domain: {domain_id}."
            )));
        }
        Ok((name, domain_id))
    }

    // ---- projects ----

    /// `GET /v3/projects`: admins.
    pub async fn project_list(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Project>, ApiError> {
        require_admin(ctx, "list_projects")?;
        Ok(store::projects::project_list(self.pool(), filter).await?)
    }

    /// `GET /v3/projects/{id}`: admins, or a token scoped to it; anyone else
    /// gets 404, as for a missing project.
    pub async fn project_get(&self, ctx: &RequestContext, id: &str) -> Result<Project, ApiError> {
        match store::projects::project_get(self.pool(), id).await? {
            Some(p) if ctx.may_see_project(&p.id) => Ok(p),
            _ => Err(not_found("project", id)),
        }
    }

    /// `POST /v3/projects`.
    pub async fn project_create(
        &self,
        ctx: &RequestContext,
        change: ProjectChange,
    ) -> Result<Project, ApiError> {
        require_admin(ctx, "create_project")?;
        let (name, domain_id) = self
            .new_name_and_domain(ctx, change.name, change.domain_id, 64)
            .await?;
        let project = Project {
            id: new_hex_id(),
            domain_id,
            name,
            description: change.description.unwrap_or_default(),
            enabled: change.enabled.unwrap_or(true),
        };
        if !store::projects::project_create(self.pool(), &project).await? {
            return Err(ApiError::conflict(format!(
                "Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : {}.",
                project.name
            )));
        }
        Ok(project)
    }

    /// `PATCH /v3/projects/{id}`.
    pub async fn project_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        change: ProjectChange,
    ) -> Result<Project, ApiError> {
        require_admin(ctx, "update_project")?;
        let mut project = store::projects::project_get(self.pool(), id)
            .await?
            .ok_or_else(|| not_found("project", id))?;
        if change
            .domain_id
            .as_ref()
            .is_some_and(|d| *d != project.domain_id)
        {
            return Err(ApiError::bad_request(
                "A project cannot move to another domain.",
            ));
        }
        if let Some(name) = change.name {
            validate_name("name", &name, 64)?;
            project.name = name;
        }
        if let Some(d) = change.description {
            project.description = d;
        }
        let disabling = change.enabled == Some(false) && project.enabled;
        if let Some(e) = change.enabled {
            project.enabled = e;
        }
        if !store::projects::project_update(self.pool(), &project).await? {
            return Err(conflict("project", &project.name));
        }
        if disabling {
            let mut e = event();
            e.project_id = Some(project.id.clone());
            self.revoke(e).await?;
        }
        Ok(project)
    }

    /// `DELETE /v3/projects/{id}`: its tokens are revoked.
    pub async fn project_delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        require_admin(ctx, "delete_project")?;
        if store::projects::project_get(self.pool(), id)
            .await?
            .is_none()
        {
            return Err(not_found("project", id));
        }
        store::projects::project_delete(self.pool(), id).await?;
        let mut e = event();
        e.project_id = Some(id.to_string());
        self.revoke(e).await
    }

    /// `GET /v3/users/{id}/projects` and `/v3/auth/projects`: the caller's own, or any user's for admins.
    pub async fn user_projects(
        &self,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<Vec<Project>, ApiError> {
        if !ctx.is_admin() && ctx.user_id != user_id {
            return Err(not_found("user", user_id));
        }
        Ok(store::projects::project_list_for_user(self.pool(), user_id).await?)
    }

    // ---- users ----

    /// `GET /v3/users`: admins.
    pub async fn user_list(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<User>, ApiError> {
        require_admin(ctx, "list_users")?;
        Ok(store::users::user_list(self.pool(), filter).await?)
    }

    /// `GET /v3/users/{id}`: admins or the user; others get 404.
    pub async fn user_get(&self, ctx: &RequestContext, id: &str) -> Result<User, ApiError> {
        match store::users::user_get(self.pool(), id).await? {
            Some(u) if ctx.is_admin() || ctx.user_id == u.id => Ok(u),
            _ => Err(not_found("user", id)),
        }
    }

    /// `POST /v3/users`.
    pub async fn user_create(
        &self,
        ctx: &RequestContext,
        change: UserChange,
    ) -> Result<User, ApiError> {
        require_admin(ctx, "create_user")?;
        let (name, domain_id) = self
            .new_name_and_domain(ctx, change.name, change.domain_id, 255)
            .await?;
        let default_project_id = change.default_project_id.flatten();
        if let Some(p) = &default_project_id
            && store::projects::project_get(self.pool(), p)
                .await?
                .is_none()
        {
            return Err(ApiError::bad_request(format!(
                "Could not find project: {p}."
            )));
        }
        let password_hash = match change.password {
            Some(p) => {
                validate_password(&p)?;
                Some(hash_password(p).await?)
            }
            None => None,
        };
        let user = User {
            id: new_hex_id(),
            domain_id,
            name,
            enabled: change.enabled.unwrap_or(true),
            password_hash,
            default_project_id,
            description: change.description.unwrap_or_default(),
            email: change.email.flatten(),
        };
        if !store::users::user_create(self.pool(), &user).await? {
            return Err(conflict("user", &user.name));
        }
        Ok(user)
    }

    /// `PATCH /v3/users/{id}`: a new password or disabling revokes the user's tokens.
    pub async fn user_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        change: UserChange,
    ) -> Result<User, ApiError> {
        require_admin(ctx, "update_user")?;
        let mut user = store::users::user_get(self.pool(), id)
            .await?
            .ok_or_else(|| not_found("user", id))?;
        if change
            .domain_id
            .as_ref()
            .is_some_and(|d| *d != user.domain_id)
        {
            return Err(ApiError::bad_request(
                "A user cannot move to another domain.",
            ));
        }
        if let Some(name) = change.name {
            validate_name("name", &name, 255)?;
            user.name = name;
        }
        let mut revoke = false;
        if let Some(p) = change.password {
            validate_password(&p)?;
            user.password_hash = Some(hash_password(p).await?);
            revoke = true;
        }
        if let Some(p) = change.default_project_id {
            if let Some(p) = &p
                && store::projects::project_get(self.pool(), p)
                    .await?
                    .is_none()
            {
                return Err(ApiError::bad_request(format!(
                    "Could not find project: {p}."
                )));
            }
            user.default_project_id = p;
        }
        if let Some(d) = change.description {
            user.description = d;
        }
        if let Some(e) = change.email {
            user.email = e;
        }
        let mut disabled = false;
        if let Some(e) = change.enabled {
            disabled = user.enabled && !e;
            revoke |= disabled;
            user.enabled = e;
        }
        if !store::users::user_update(self.pool(), &user).await? {
            return Err(conflict("user", &user.name));
        }
        if disabled {
            // As Keystone: re-enabling the user does not bring them back.
            store::app_creds::app_cred_delete_for_user(self.pool(), &user.id).await?;
        }
        if revoke {
            let mut e = event();
            e.user_id = Some(user.id.clone());
            self.revoke(e).await?;
        }
        Ok(user)
    }

    /// `POST /v3/users/{id}/password`: a user changes their own password.
    pub async fn user_change_password(
        &self,
        ctx: &RequestContext,
        id: &str,
        original: String,
        new: String,
    ) -> Result<(), ApiError> {
        if ctx.user_id != id {
            return Err(not_found("user", id));
        }
        validate_password(&new)?;
        let mut user = store::users::user_get(self.pool(), id)
            .await?
            .ok_or_else(|| not_found("user", id))?;
        let stored = user.password_hash.clone();
        let ok =
            tokio::task::spawn_blocking(move || password::verify(&original, stored.as_deref()))
                .await
                .map_err(ApiError::internal)?;
        if !ok {
            return Err(ApiError::unauthenticated().with_detail("wrong original password"));
        }
        user.password_hash = Some(hash_password(new).await?);
        store::users::user_update(self.pool(), &user).await?;
        let mut e = event();
        e.user_id = Some(user.id.clone());
        self.revoke(e).await
    }

    /// `DELETE /v3/users/{id}`: the user's tokens are revoked.
    pub async fn user_delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        require_admin(ctx, "delete_user")?;
        if store::users::user_get(self.pool(), id).await?.is_none() {
            return Err(not_found("user", id));
        }
        store::users::user_delete(self.pool(), id).await?;
        let mut e = event();
        e.user_id = Some(id.to_string());
        self.revoke(e).await
    }

    // ---- roles ----

    /// `GET /v3/roles`: admins.
    pub async fn role_list(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
    ) -> Result<Vec<Role>, ApiError> {
        require_admin(ctx, "list_roles")?;
        Ok(store::roles::role_list(self.pool(), name).await?)
    }

    /// `GET /v3/roles/{id}`: admins.
    pub async fn role_get(&self, ctx: &RequestContext, id: &str) -> Result<Role, ApiError> {
        require_admin(ctx, "get_role")?;
        store::roles::role_get(self.pool(), id)
            .await?
            .ok_or_else(|| not_found("role", id))
    }

    /// `POST /v3/roles`.
    pub async fn role_create(
        &self,
        ctx: &RequestContext,
        name: String,
        description: String,
    ) -> Result<Role, ApiError> {
        require_admin(ctx, "create_role")?;
        validate_name("name", &name, 255)?;
        let role = Role {
            id: new_hex_id(),
            name,
            description,
        };
        if !store::roles::role_create(self.pool(), &role).await? {
            return Err(conflict("role", &role.name));
        }
        Ok(role)
    }

    /// `PATCH /v3/roles/{id}`.
    pub async fn role_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        name: Option<String>,
        description: Option<String>,
    ) -> Result<Role, ApiError> {
        require_admin(ctx, "update_role")?;
        let mut role = store::roles::role_get(self.pool(), id)
            .await?
            .ok_or_else(|| not_found("role", id))?;
        if let Some(name) = name {
            validate_name("name", &name, 255)?;
            role.name = name;
        }
        if let Some(d) = description {
            role.description = d;
        }
        if !store::roles::role_update(self.pool(), &role).await? {
            return Err(conflict("role", &role.name));
        }
        Ok(role)
    }

    /// `DELETE /v3/roles/{id}`: tokens of everyone who held it are revoked.
    pub async fn role_delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        require_admin(ctx, "delete_role")?;
        let role = store::roles::role_get(self.pool(), id)
            .await?
            .ok_or_else(|| not_found("role", id))?;
        if super::bootstrap::BUILTIN_ROLES.contains(&role.name.as_str()) {
            return Err(ApiError::forbidden(format!(
                "The built-in role {} cannot be deleted.",
                role.name
            )));
        }
        let holders = store::assignments::assignment_list(
            self.pool(),
            &store::assignments::AssignmentFilter {
                role_id: Some(id.to_string()),
                ..Default::default()
            },
        )
        .await?;
        store::roles::role_delete(self.pool(), id).await?;
        for a in holders {
            let mut e = event();
            e.user_id = Some(a.user_id);
            self.revoke(e).await?;
        }
        Ok(())
    }
}

impl Identity {
    /// Domains the caller holds a role on (`/v3/auth/domains`).
    pub async fn user_domains(&self, ctx: &RequestContext) -> Result<Vec<Domain>, ApiError> {
        let grants = store::assignments::assignment_list(
            self.pool(),
            &store::assignments::AssignmentFilter {
                user_id: Some(ctx.user_id.clone()),
                target_type: Some(crate::model::TargetType::Domain),
                ..Default::default()
            },
        )
        .await?;
        let mut out: Vec<Domain> = Vec::new();
        for g in grants {
            if out.iter().any(|d| d.id == g.target_id) {
                continue;
            }
            if let Some(d) = store::domains::domain_get(self.pool(), &g.target_id).await?
                && d.enabled
            {
                out.push(d);
            }
        }
        Ok(out)
    }
}
