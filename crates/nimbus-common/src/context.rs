//! Who is calling: the identity a validated token carries.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::request_id::RequestId;

/// The caller of a request, as its token says. Inserted into the request
/// extensions by the identity service's auth layer; handlers take it as an
/// extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The request id (`req-<uuid>`), also in `x-openstack-request-id`.
    pub request_id: String,
    /// Id of the authenticated user.
    pub user_id: String,
    /// Name of the authenticated user.
    pub user_name: String,
    /// Id of the domain the user belongs to.
    pub user_domain_id: String,
    /// The project the token is scoped to, if project-scoped.
    pub project_id: Option<String>,
    /// Name of that project.
    pub project_name: Option<String>,
    /// Domain id of that project.
    pub project_domain_id: Option<String>,
    /// The domain the token is scoped to, if domain-scoped.
    pub domain_id: Option<String>,
    /// Effective role names on the scope (implied roles included).
    pub roles: Vec<String>,
    /// The token's audit id (identifies the token in logs, never the token).
    pub audit_id: String,
}

impl RequestContext {
    /// Whether the caller holds `role` on the token's scope.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Cloud administrator: the `admin` role on any scope, as in Keystone's
    /// legacy (and DevStack's) policy.
    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }

    /// May read resources of its scope (reader, member or admin).
    pub fn can_read(&self) -> bool {
        self.is_admin() || self.has_role("member") || self.has_role("reader")
    }

    /// May change resources of its scope (member or admin).
    pub fn can_write(&self) -> bool {
        self.is_admin() || self.has_role("member")
    }

    /// The project the caller acts in, or 403 for a token without one.
    pub fn require_project(&self) -> Result<&str, ApiError> {
        self.project_id
            .as_deref()
            .ok_or_else(|| ApiError::forbidden("This action needs a project-scoped token."))
    }

    /// Whether the caller may see a resource owned by `project_id`: admins see
    /// everything, others only their own project's. Callers turn `false` into
    /// 404 so another project's resource looks exactly like a missing one.
    pub fn may_see_project(&self, project_id: &str) -> bool {
        self.is_admin() || self.project_id.as_deref() == Some(project_id)
    }

    /// 403 unless the caller is an administrator.
    pub fn require_admin(&self, action: &str) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::policy(action))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut context = parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .ok_or_else(ApiError::unauthenticated)?;
        if let Some(id) = parts.extensions.get::<RequestId>() {
            context.request_id = id.0.clone();
        }
        Ok(context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(roles: &[&str]) -> RequestContext {
        RequestContext {
            request_id: "req-1".into(),
            user_id: "u".into(),
            user_name: "alice".into(),
            user_domain_id: "default".into(),
            project_id: Some("p1".into()),
            project_name: Some("a".into()),
            project_domain_id: Some("default".into()),
            domain_id: None,
            roles: roles.iter().map(|r| r.to_string()).collect(),
            audit_id: "x".into(),
        }
    }

    #[test]
    fn roles_decide_access() {
        let member = ctx(&["member", "reader"]);
        assert!(!member.is_admin());
        assert!(member.can_write());
        assert!(member.may_see_project("p1"));
        assert!(!member.may_see_project("p2"));
        assert_eq!(member.require_admin("x").unwrap_err().status(), 403);
        let reader = ctx(&["reader"]);
        assert!(reader.can_read() && !reader.can_write());
        assert!(ctx(&["admin"]).may_see_project("p2"));
    }
}
