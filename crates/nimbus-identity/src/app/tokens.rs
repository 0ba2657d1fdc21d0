//! Authentication: password and token methods, scoping, and the token body.

use std::collections::{BTreeMap, BTreeSet};

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Identity;
use crate::model::{AppCredential, Domain, Project, TargetType, User};
use crate::password;
use crate::store;
use crate::store::assignments::AssignmentFilter;
use crate::token::{AppCredRef, Named, Scope, TokenPayload, TokenRejection};

/// `{"auth": {...}}` of `POST /v3/auth/tokens`.
#[derive(Debug, Deserialize)]
pub struct AuthRequest {
    /// The body.
    pub auth: Auth,
}

/// Identity and scope.
#[derive(Debug, Deserialize)]
pub struct Auth {
    /// How the caller proves who it is.
    pub identity: AuthIdentity,
    /// What the token should be scoped to.
    #[serde(default)]
    pub scope: Option<Value>,
}

/// The `identity` object.
#[derive(Debug, Deserialize)]
pub struct AuthIdentity {
    /// `password` and/or `token`.
    pub methods: Vec<String>,
    /// Password method data.
    #[serde(default)]
    pub password: Option<PasswordMethod>,
    /// Token method data.
    #[serde(default)]
    pub token: Option<TokenMethod>,
    /// Application credential method data.
    #[serde(default)]
    pub application_credential: Option<AppCredMethod>,
}

/// An application credential by id, or by name and its user, with the secret.
#[derive(Debug, Deserialize)]
pub struct AppCredMethod {
    /// Credential id.
    #[serde(default)]
    pub id: Option<String>,
    /// Credential name (needs the user).
    #[serde(default)]
    pub name: Option<String>,
    /// The owner, by id or by name and domain (with a name only).
    #[serde(default)]
    pub user: Option<AppCredUser>,
    /// The secret.
    pub secret: String,
}

/// The owner of a credential named by name.
#[derive(Debug, Deserialize)]
pub struct AppCredUser {
    /// User id.
    #[serde(default)]
    pub id: Option<String>,
    /// User name (needs a domain).
    #[serde(default)]
    pub name: Option<String>,
    /// The user's domain.
    #[serde(default)]
    pub domain: Option<DomainRef>,
}

/// `{"user": {...}}`.
#[derive(Debug, Deserialize)]
pub struct PasswordMethod {
    /// The user and the password.
    pub user: PasswordUser,
}

/// A user by id, or by name and domain, with a password.
#[derive(Debug, Deserialize)]
pub struct PasswordUser {
    /// User id.
    #[serde(default)]
    pub id: Option<String>,
    /// User name (needs a domain).
    #[serde(default)]
    pub name: Option<String>,
    /// The user's domain.
    #[serde(default)]
    pub domain: Option<DomainRef>,
    /// The password.
    pub password: String,
}

/// A domain by id or name.
#[derive(Debug, Deserialize)]
pub struct DomainRef {
    /// Id.
    #[serde(default)]
    pub id: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `{"id": "<token>"}`.
#[derive(Debug, Deserialize)]
pub struct TokenMethod {
    /// The token to rescope.
    pub id: String,
}

#[derive(Debug, Deserialize)]
struct ProjectRef {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    domain: Option<DomainRef>,
}

enum ScopeRequest {
    None,
    Project(ProjectRef),
    Domain(DomainRef),
}

fn parse_scope(scope: Option<Value>) -> Result<ScopeRequest, ApiError> {
    let Some(scope) = scope else {
        return Ok(ScopeRequest::None);
    };
    if scope == Value::String("unscoped".into()) {
        return Ok(ScopeRequest::None);
    }
    let Value::Object(map) = scope else {
        return Err(ApiError::bad_request("Invalid input for field 'scope'."));
    };
    if map.len() != 1 {
        return Err(ApiError::bad_request(
            "The scope must name exactly one of project, domain or system.",
        ));
    }
    let invalid =
        |what: &str| ApiError::bad_request(format!("Invalid input for field 'scope.{what}'."));
    if let Some(project) = map.get("project") {
        let project: ProjectRef =
            serde_json::from_value(project.clone()).map_err(|_| invalid("project"))?;
        return Ok(ScopeRequest::Project(project));
    }
    if let Some(domain) = map.get("domain") {
        let domain: DomainRef =
            serde_json::from_value(domain.clone()).map_err(|_| invalid("domain"))?;
        return Ok(ScopeRequest::Domain(domain));
    }
    if map.contains_key("system") {
        // No system role assignments exist here, as for a Keystone user
        // without one.
        return Err(unauthorized(
            "system scope requested; the user has no system role",
        ));
    }
    Err(ApiError::bad_request(
        "The scope must name a project or a domain.",
    ))
}

/// The one 401 every authentication failure gets (no user enumeration);
/// the reason is only logged.
fn unauthorized(reason: &str) -> ApiError {
    ApiError::unauthenticated().with_detail(reason)
}

impl Identity {
    /// Authenticates a token request and issues the token.
    pub async fn authenticate(
        &self,
        request: AuthRequest,
    ) -> Result<(String, TokenPayload), ApiError> {
        let auth = request.auth;
        let methods = &auth.identity.methods;
        if methods.is_empty() {
            return Err(ApiError::bad_request(
                "identity.methods must name a method.",
            ));
        }
        let now = now_micros();
        let mut app_cred = None;
        let (user, mut expires_at, original_audit, methods) =
            if methods.iter().any(|m| m == "application_credential") {
                if auth.scope.is_some() {
                    return Err(unauthorized(
                        "Application credentials cannot request a scope.",
                    ));
                }
                let method = auth.identity.application_credential.ok_or_else(|| {
                    ApiError::bad_request("identity.application_credential is missing.")
                })?;
                let (user, cred) = self.app_cred_method(method).await?;
                let expires_at = cred
                    .expires_at
                    .unwrap_or(i64::MAX)
                    .min(now + self.inner.expiration_micros);
                app_cred = Some(cred);
                (
                    user,
                    expires_at,
                    None,
                    vec!["application_credential".to_string()],
                )
            } else if methods.iter().any(|m| m == "password") {
                let method = auth
                    .identity
                    .password
                    .ok_or_else(|| ApiError::bad_request("identity.password is missing."))?;
                let user = self.check_password(method.user).await?;
                (
                    user,
                    now + self.inner.expiration_micros,
                    None,
                    vec!["password".to_string()],
                )
            } else if methods.iter().any(|m| m == "token") {
                let method = auth
                    .identity
                    .token
                    .ok_or_else(|| ApiError::bad_request("identity.token is missing."))?;
                let old = self
                    .inner
                    .codec
                    .validate(&method.id)
                    .map_err(|r| unauthorized(&format!("rescoping a bad token: {r:?}")))?;
                let user = store::users::user_get(self.pool(), &old.user.id)
                    .await?
                    .ok_or_else(|| unauthorized("token user vanished"))?;
                if let Some(a) = &old.app_cred {
                    // Its rights come from the credential, which must still exist.
                    app_cred = Some(
                        store::app_creds::app_cred_get(self.pool(), &a.id)
                            .await?
                            .ok_or_else(|| unauthorized("application credential deleted"))?,
                    );
                }
                let mut methods = old.methods.clone();
                if !methods.iter().any(|m| m == "token") {
                    methods.insert(0, "token".to_string());
                }
                (
                    user,
                    old.expires_at,
                    old.audit_ids.first().cloned(),
                    methods,
                )
            } else {
                return Err(unauthorized("unsupported authentication method"));
            };
        if !user.enabled {
            return Err(unauthorized("user is disabled"));
        }
        let user_domain = self.enabled_domain(&user.domain_id).await?;
        let scope_request = match &app_cred {
            None => parse_scope(auth.scope)?,
            Some(cred) => {
                let wanted = parse_scope(auth.scope)?;
                if let ScopeRequest::Project(ProjectRef { id: Some(id), .. }) = &wanted
                    && *id != cred.project_id
                {
                    return Err(unauthorized(
                        "an application credential token stays on its project",
                    ));
                }
                ScopeRequest::Project(ProjectRef {
                    id: Some(cred.project_id.clone()),
                    name: None,
                    domain: None,
                })
            }
        };
        let scope = self.resolve_scope(&user, scope_request).await?;
        let roles = match &scope {
            Scope::Project { .. } if app_cred.is_some() => match &app_cred {
                Some(cred) => self.app_cred_effective_roles(cred).await?,
                None => Vec::new(),
            },
            Scope::Project { project, .. } => {
                self.effective_roles(&user.id, TargetType::Project, &project.id)
                    .await?
            }
            Scope::Domain { domain } => {
                self.effective_roles(&user.id, TargetType::Domain, &domain.id)
                    .await?
            }
            Scope::Unscoped => Vec::new(),
        };
        if !matches!(scope, Scope::Unscoped) && roles.is_empty() {
            return Err(unauthorized("user has no role on the requested scope"));
        }
        expires_at = expires_at.min(now + self.inner.expiration_micros);
        let mut audit_ids = vec![new_audit_id()];
        audit_ids.extend(original_audit);
        let payload = TokenPayload {
            user: Named {
                id: user.id.clone(),
                name: user.name.clone(),
            },
            user_domain: Named {
                id: user_domain.id,
                name: user_domain.name,
            },
            methods,
            scope,
            roles,
            issued_at: now,
            expires_at,
            audit_ids,
            app_cred: app_cred.map(|c| AppCredRef {
                id: c.id,
                name: c.name,
                unrestricted: c.unrestricted,
            }),
        };
        let token = self.inner.codec.issue(&payload);
        Ok((token, payload))
    }

    async fn app_cred_method(
        &self,
        method: AppCredMethod,
    ) -> Result<(User, AppCredential), ApiError> {
        let cred = match (&method.id, &method.name) {
            (Some(id), _) => store::app_creds::app_cred_get(self.pool(), id).await?,
            (None, Some(name)) => {
                let who = method.user.ok_or_else(|| {
                    ApiError::bad_request("An application credential name needs its user.")
                })?;
                let user = match (&who.id, &who.name) {
                    (Some(id), _) => store::users::user_get(self.pool(), id).await?,
                    (None, Some(user_name)) => {
                        let domain = who
                            .domain
                            .ok_or_else(|| ApiError::bad_request("A user name needs a domain."))?;
                        match self.find_domain(&domain).await? {
                            Some(d) => {
                                store::users::user_get_by_name(self.pool(), &d.id, user_name)
                                    .await?
                            }
                            None => None,
                        }
                    }
                    (None, None) => {
                        return Err(ApiError::bad_request("The user needs an id or a name."));
                    }
                };
                match user {
                    Some(u) => store::app_creds::app_cred_list(self.pool(), &u.id, Some(name))
                        .await?
                        .pop(),
                    None => None,
                }
            }
            (None, None) => {
                return Err(ApiError::bad_request(
                    "The application credential needs an id or a name.",
                ));
            }
        };
        self.check_app_cred(cred, method.secret).await
    }

    async fn check_password(&self, who: PasswordUser) -> Result<User, ApiError> {
        if who.password.len() > password::MAX_PASSWORD_LEN {
            return Err(unauthorized("password too long"));
        }
        let user = match (&who.id, &who.name) {
            (Some(id), _) => store::users::user_get(self.pool(), id).await?,
            (None, Some(name)) => {
                let domain = who
                    .domain
                    .ok_or_else(|| ApiError::bad_request("A user name needs a domain."))?;
                match self.find_domain(&domain).await? {
                    Some(d) => store::users::user_get_by_name(self.pool(), &d.id, name).await?,
                    None => None,
                }
            }
            (None, None) => return Err(ApiError::bad_request("The user needs an id or a name.")),
        };
        let stored = user.as_ref().and_then(|u| u.password_hash.clone());
        let password = who.password;
        // argon2 is deliberately slow: keep it off the async workers.
        let ok =
            tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
                .await
                .map_err(ApiError::internal)?;
        match user {
            Some(user) if ok => Ok(user),
            _ => Err(unauthorized("wrong password or unknown user")),
        }
    }

    pub(crate) async fn find_domain(&self, d: &DomainRef) -> Result<Option<Domain>, ApiError> {
        Ok(match (&d.id, &d.name) {
            (Some(id), _) => store::domains::domain_get(self.pool(), id).await?,
            (None, Some(name)) => store::domains::domain_get_by_name(self.pool(), name).await?,
            (None, None) => None,
        })
    }

    async fn enabled_domain(&self, id: &str) -> Result<Domain, ApiError> {
        match store::domains::domain_get(self.pool(), id).await? {
            Some(d) if d.enabled => Ok(d),
            _ => Err(unauthorized("domain missing or disabled")),
        }
    }

    async fn resolve_scope(&self, user: &User, request: ScopeRequest) -> Result<Scope, ApiError> {
        let project = match request {
            ScopeRequest::Domain(d) => {
                let domain = self
                    .find_domain(&d)
                    .await?
                    .filter(|d| d.enabled)
                    .ok_or_else(|| unauthorized("scope domain missing or disabled"))?;
                return Ok(Scope::Domain {
                    domain: Named {
                        id: domain.id,
                        name: domain.name,
                    },
                });
            }
            ScopeRequest::Project(p) => {
                let project = match (&p.id, &p.name) {
                    (Some(id), _) => store::projects::project_get(self.pool(), id).await?,
                    (None, Some(name)) => {
                        let domain = p.domain.ok_or_else(|| {
                            ApiError::bad_request("A project name needs a domain.")
                        })?;
                        match self.find_domain(&domain).await? {
                            Some(d) => {
                                store::projects::project_get_by_name(self.pool(), &d.id, name)
                                    .await?
                            }
                            None => None,
                        }
                    }
                    (None, None) => {
                        return Err(ApiError::bad_request("The project needs an id or a name."));
                    }
                };
                Some(project.ok_or_else(|| unauthorized("scope project not found"))?)
            }
            ScopeRequest::None => {
                // Keystone scopes to the default project when one is set and usable.
                let Some(id) = &user.default_project_id else {
                    return Ok(Scope::Unscoped);
                };
                match store::projects::project_get(self.pool(), id).await? {
                    Some(p)
                        if p.enabled
                            && !self
                                .effective_roles(&user.id, TargetType::Project, &p.id)
                                .await?
                                .is_empty() =>
                    {
                        Some(p)
                    }
                    _ => return Ok(Scope::Unscoped),
                }
            }
        };
        let Some(project) = project else {
            return Ok(Scope::Unscoped);
        };
        if !project.enabled {
            return Err(unauthorized("scope project disabled"));
        }
        let domain = self.enabled_domain(&project.domain_id).await?;
        Ok(project_scope(project, domain))
    }

    /// Roles a user holds on a target, implied roles included, by name.
    pub(crate) async fn effective_roles(
        &self,
        user_id: &str,
        target_type: TargetType,
        target_id: &str,
    ) -> Result<Vec<Named>, ApiError> {
        let filter = AssignmentFilter {
            user_id: Some(user_id.to_string()),
            target_type: Some(target_type),
            target_id: Some(target_id.to_string()),
            role_id: None,
        };
        let direct: Vec<String> = store::assignments::assignment_list(self.pool(), &filter)
            .await?
            .into_iter()
            .map(|a| a.role_id)
            .collect();
        if direct.is_empty() {
            return Ok(Vec::new());
        }
        let ids = self.expand_implied(direct).await?;
        let mut roles = Vec::new();
        for role in store::roles::role_list(self.pool(), None).await? {
            if ids.contains(&role.id) {
                roles.push(Named {
                    id: role.id,
                    name: role.name,
                });
            }
        }
        Ok(roles)
    }

    /// The closure of `roles` under role implication.
    pub(crate) async fn expand_implied(
        &self,
        roles: Vec<String>,
    ) -> Result<BTreeSet<String>, ApiError> {
        let mut implies: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (prior, implied) in store::roles::implied_role_list(self.pool()).await? {
            implies.entry(prior).or_default().push(implied);
        }
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut todo = roles;
        while let Some(role) = todo.pop() {
            if seen.insert(role.clone())
                && let Some(next) = implies.get(&role)
            {
                todo.extend(next.iter().cloned());
            }
        }
        Ok(seen)
    }

    /// Validates a subject token for `GET /v3/auth/tokens` (404 if bad, as Keystone).
    pub fn validate_subject(
        &self,
        ctx: &RequestContext,
        subject: &str,
    ) -> Result<TokenPayload, ApiError> {
        let payload = self.inner.codec.validate(subject).map_err(|r| {
            let why = match r {
                TokenRejection::Invalid => "invalid",
                TokenRejection::Expired => "expired",
                TokenRejection::Revoked => "revoked",
            };
            ApiError::not_found("Could not find token.").with_detail(format!("subject token {why}"))
        })?;
        if !ctx.is_admin() && ctx.user_id != payload.user.id {
            return Err(ApiError::policy("identity:validate_token"));
        }
        Ok(payload)
    }

    /// Revokes a subject token (`DELETE /v3/auth/tokens`).
    pub async fn revoke_subject(
        &self,
        ctx: &RequestContext,
        subject: &str,
    ) -> Result<(), ApiError> {
        let payload = self.validate_subject(ctx, subject)?;
        let mut event = super::event();
        event.audit_id = payload.audit_ids.first().cloned();
        self.revoke(event).await
    }

    /// Keystone's token body.
    pub fn token_body(&self, payload: &TokenPayload, with_catalog: bool) -> Value {
        let mut token = json!({
            "methods": payload.methods,
            "user": {
                "domain": {"id": payload.user_domain.id, "name": payload.user_domain.name},
                "id": payload.user.id,
                "name": payload.user.name,
                "password_expires_at": null,
            },
            "audit_ids": payload.audit_ids,
            "expires_at": format_time(payload.expires_at, false),
            "issued_at": format_time(payload.issued_at, true),
        });
        match &payload.scope {
            Scope::Project { project, domain } => {
                token["project"] = json!({
                    "domain": {"id": domain.id, "name": domain.name},
                    "id": project.id,
                    "name": project.name,
                });
                token["is_domain"] = json!(false);
            }
            Scope::Domain { domain } => {
                token["domain"] = json!({"id": domain.id, "name": domain.name});
            }
            Scope::Unscoped => {}
        }
        if let Some(a) = &payload.app_cred {
            token["application_credential"] =
                json!({"id": a.id, "name": a.name, "restricted": !a.unrestricted});
        }
        if !matches!(payload.scope, Scope::Unscoped) {
            token["roles"] = json!(
                payload
                    .roles
                    .iter()
                    .map(|r| json!({"id": r.id, "name": r.name}))
                    .collect::<Vec<_>>()
            );
            if with_catalog {
                token["catalog"] = self.inner.catalog.render(payload.project_id());
            }
        }
        json!({ "token": token })
    }

    /// The catalog for a caller (`GET /v3/auth/catalog`).
    pub fn catalog_for(&self, ctx: &RequestContext) -> Result<Value, ApiError> {
        if ctx.project_id.is_none() && ctx.domain_id.is_none() {
            return Err(ApiError::forbidden("The catalog needs a scoped token."));
        }
        Ok(self.inner.catalog.render(ctx.project_id.as_deref()))
    }

    /// The catalog's `/v3/services` and `/v3/endpoints` lists.
    pub fn catalog(&self) -> &crate::catalog::Catalog {
        &self.inner.catalog
    }
}

fn project_scope(project: Project, domain: Domain) -> Scope {
    Scope::Project {
        project: Named {
            id: project.id,
            name: project.name,
        },
        domain: Named {
            id: domain.id,
            name: domain.name,
        },
    }
}

fn new_audit_id() -> String {
    use base64::Engine;
    let bytes = uuid::Uuid::new_v4().into_bytes();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..16])
}

/// Keystone's time format: `2015-11-05T22:00:11.000000Z` (expiry has no
/// sub-second part, issue time does).
pub fn format_time(micros: i64, with_fraction: bool) -> String {
    let time = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
    if with_fraction {
        time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    } else {
        time.format("%Y-%m-%dT%H:%M:%S.000000Z").to_string()
    }
}
