//! Application credentials: create, list, show, delete, and checking one
//! when it authenticates (Keystone's `application_credential` method).

use std::collections::BTreeSet;

use nimbus_common::ids::new_hex_id;
use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;

use super::resources::{not_found, validate_name};
use super::{Identity, event};
use crate::model::{AppCredential, TargetType, User};
use crate::password;
use crate::store;
use crate::token::{Named, TokenPayload};

/// Longest description kept.
const MAX_DESCRIPTION: usize = 65_535;

/// A role named in a create request, by id or by name.
#[derive(Debug, Clone, Default)]
pub struct RoleRef {
    /// Id.
    pub id: Option<String>,
    /// Name.
    pub name: Option<String>,
}

/// What a create request asks for.
#[derive(Debug, Default)]
pub struct AppCredRequest {
    /// Name, unique per user.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The secret; generated when absent.
    pub secret: Option<String>,
    /// Expiry as ISO 8601 text.
    pub expires_at: Option<String>,
    /// Roles; all of the token's roles when absent or empty.
    pub roles: Vec<RoleRef>,
    /// May its tokens manage credentials.
    pub unrestricted: bool,
    /// Whether the request named any access rule (not supported here).
    pub has_access_rules: bool,
}

/// A credential with its roles by name, as the API shows it.
#[derive(Debug, Clone)]
pub struct AppCredView {
    /// The record.
    pub cred: AppCredential,
    /// Its roles (id and name).
    pub roles: Vec<Named>,
    /// The secret, only right after create.
    pub secret: Option<String>,
}

/// 403 for a token from a restricted application credential, as Keystone.
pub fn require_unrestricted(token: &TokenPayload) -> Result<(), ApiError> {
    match &token.app_cred {
        Some(a) if !a.unrestricted => Err(ApiError::forbidden(
            "Using method 'application_credential' is not allowed for managing additional application credentials.",
        )),
        _ => Ok(()),
    }
}

/// Keystone's secret: 64 random bytes, URL-safe base64 without padding.
fn generate_secret() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 64];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Parses an expiry the way Keystone does (a missing zone means UTC) and
/// refuses one in the past.
pub fn parse_expiry(text: &str, now: i64) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "Invalid input for field 'expires_at': '{text}' is not an ISO 8601 time."
        ))
    };
    if text.len() > 64 {
        return Err(bad());
    }
    let micros = match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(t) => t.timestamp_micros(),
        Err(_) => chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .map_err(|_| bad())?
            .and_utc()
            .timestamp_micros(),
    };
    if micros <= now {
        return Err(ApiError::bad_request(
            "The 'expires_at' must not be before the current time.",
        ));
    }
    Ok(micros)
}

/// Keystone's rendering of a stored time: microseconds, no zone.
pub fn format_expiry(micros: i64) -> String {
    let time = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
    time.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

impl Identity {
    /// `POST /v3/users/{id}/application_credentials`: for the caller only,
    /// on the token's project, with roles the token holds.
    pub async fn app_cred_create(
        &self,
        ctx: &RequestContext,
        token: &TokenPayload,
        user_id: &str,
        request: AppCredRequest,
    ) -> Result<AppCredView, ApiError> {
        require_unrestricted(token)?;
        if ctx.user_id != user_id {
            return Err(ApiError::forbidden(
                "Cannot create an application credential for another user.",
            ));
        }
        let project_id = ctx.project_id.clone().ok_or_else(|| {
            ApiError::bad_request("An application credential needs a project-scoped token.")
        })?;
        validate_name("name", &request.name, 255)?;
        if request
            .description
            .as_ref()
            .is_some_and(|d| d.len() > MAX_DESCRIPTION)
        {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field 'description': longer than {MAX_DESCRIPTION} bytes."
            )));
        }
        if request.has_access_rules {
            return Err(ApiError::bad_request(
                "Access rules are not supported by this cloud; create the application credential without access_rules.",
            ));
        }
        let secret = match request.secret {
            Some(s) if s.is_empty() || s.len() > password::MAX_PASSWORD_LEN => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for field 'secret': must be 1 to {} bytes.",
                    password::MAX_PASSWORD_LEN
                )));
            }
            Some(s) => s,
            None => generate_secret(),
        };
        let expires_at = request
            .expires_at
            .as_deref()
            .map(|t| parse_expiry(t, now_micros()))
            .transpose()?;
        let role_ids = self.app_cred_roles(token, &request.roles).await?;
        // The token's roles could be stale: the user must still hold them.
        let held = self
            .effective_roles(user_id, TargetType::Project, &project_id)
            .await?;
        if let Some(missing) = role_ids.iter().find(|r| !held.iter().any(|h| &&h.id == r)) {
            return Err(ApiError::bad_request(format!(
                "Invalid application credential: Could not find role assignment with role: {missing}, user or group: {user_id}, project, domain, or system: {project_id}."
            )));
        }
        let to_hash = secret.clone();
        let secret_hash = tokio::task::spawn_blocking(move || password::hash(&to_hash))
            .await
            .map_err(ApiError::internal)??;
        let cred = AppCredential {
            id: new_hex_id(),
            user_id: user_id.to_string(),
            project_id,
            name: request.name,
            description: request.description,
            secret_hash,
            expires_at,
            unrestricted: request.unrestricted,
            role_ids: role_ids.into_iter().collect(),
        };
        if !store::app_creds::app_cred_create(self.pool(), &cred).await? {
            return Err(ApiError::conflict(format!(
                "Conflict occurred attempting to store application_credential - Duplicate entry found with name {}.",
                cred.name
            )));
        }
        let mut view = self.app_cred_view(cred).await?;
        view.secret = Some(secret);
        Ok(view)
    }

    /// The role ids a new credential gets: the named ones plus what they
    /// imply, each held by the token; or all the token's roles.
    async fn app_cred_roles(
        &self,
        token: &TokenPayload,
        wanted: &[RoleRef],
    ) -> Result<BTreeSet<String>, ApiError> {
        if wanted.is_empty() {
            return Ok(token.roles.iter().map(|r| r.id.clone()).collect());
        }
        let mut ids = Vec::new();
        for role in wanted {
            let found = match (&role.id, &role.name) {
                (Some(id), _) => store::roles::role_get(self.pool(), id).await?,
                (None, Some(name)) => store::roles::role_list(self.pool(), Some(name))
                    .await?
                    .into_iter()
                    .next(),
                (None, None) => {
                    return Err(ApiError::bad_request("A role needs an id or a name."));
                }
            };
            let found = found.ok_or_else(|| {
                let what = role.id.as_deref().or(role.name.as_deref()).unwrap_or("");
                not_found("role", what)
            })?;
            ids.push(found.id);
        }
        let ids = self.expand_implied(ids).await?;
        if ids
            .iter()
            .any(|id| !token.roles.iter().any(|r| &r.id == id))
        {
            return Err(ApiError::bad_request(
                "Invalid application credential: Cannot create an application credential with unassigned role",
            ));
        }
        Ok(ids)
    }

    async fn app_cred_view(&self, cred: AppCredential) -> Result<AppCredView, ApiError> {
        let roles = store::roles::role_list(self.pool(), None)
            .await?
            .into_iter()
            .filter(|r| cred.role_ids.contains(&r.id))
            .map(|r| Named {
                id: r.id,
                name: r.name,
            })
            .collect();
        Ok(AppCredView {
            cred,
            roles,
            secret: None,
        })
    }

    fn require_owner_or_admin(&self, ctx: &RequestContext, user_id: &str) -> Result<(), ApiError> {
        if ctx.is_admin() || ctx.user_id == user_id {
            Ok(())
        } else {
            Err(ApiError::policy("identity:list_application_credentials"))
        }
    }

    /// `GET /v3/users/{id}/application_credentials`: the user or an admin.
    pub async fn app_cred_list(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<AppCredView>, ApiError> {
        self.require_owner_or_admin(ctx, user_id)?;
        let mut views = Vec::new();
        for cred in store::app_creds::app_cred_list(self.pool(), user_id, name).await? {
            views.push(self.app_cred_view(cred).await?);
        }
        Ok(views)
    }

    /// One of `user_id`'s credentials; 404 for anyone else's.
    async fn owned_app_cred(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        id: &str,
    ) -> Result<AppCredential, ApiError> {
        let missing = || not_found("application credential", id);
        if !ctx.is_admin() && ctx.user_id != user_id {
            return Err(missing());
        }
        match store::app_creds::app_cred_get(self.pool(), id).await? {
            Some(c) if c.user_id == user_id => Ok(c),
            _ => Err(missing()),
        }
    }

    /// `GET /v3/users/{id}/application_credentials/{cred}` (never the secret).
    pub async fn app_cred_get(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        id: &str,
    ) -> Result<AppCredView, ApiError> {
        let cred = self.owned_app_cred(ctx, user_id, id).await?;
        self.app_cred_view(cred).await
    }

    /// `DELETE /v3/users/{id}/application_credentials/{cred}`: its tokens are revoked.
    pub async fn app_cred_delete(
        &self,
        ctx: &RequestContext,
        token: &TokenPayload,
        user_id: &str,
        id: &str,
    ) -> Result<(), ApiError> {
        let cred = self.owned_app_cred(ctx, user_id, id).await?;
        require_unrestricted(token)?;
        if !store::app_creds::app_cred_delete(self.pool(), &cred.id).await? {
            return Err(not_found("application credential", id));
        }
        let mut e = event();
        e.app_cred_id = Some(cred.id);
        self.revoke(e).await
    }

    /// Checks a credential's secret and expiry and its user: the one 401
    /// for every failure, and the same hashing cost when it does not exist.
    pub(crate) async fn check_app_cred(
        &self,
        cred: Option<AppCredential>,
        secret: String,
    ) -> Result<(User, AppCredential), ApiError> {
        let unauthorized = |why: &str| {
            ApiError::unauthenticated().with_detail(format!("application credential: {why}"))
        };
        if secret.len() > password::MAX_PASSWORD_LEN {
            return Err(unauthorized("secret too long"));
        }
        let stored = cred.as_ref().map(|c| c.secret_hash.clone());
        let ok = tokio::task::spawn_blocking(move || password::verify(&secret, stored.as_deref()))
            .await
            .map_err(ApiError::internal)?;
        let cred = match cred {
            Some(c) if ok => c,
            _ => return Err(unauthorized("unknown id or wrong secret")),
        };
        if cred.expires_at.is_some_and(|e| e <= now_micros()) {
            return Err(unauthorized("expired"));
        }
        let user = store::users::user_get(self.pool(), &cred.user_id)
            .await?
            .ok_or_else(|| unauthorized("user vanished"))?;
        Ok((user, cred))
    }

    /// The credential's roles the user still holds on its project.
    pub(crate) async fn app_cred_effective_roles(
        &self,
        cred: &AppCredential,
    ) -> Result<Vec<Named>, ApiError> {
        Ok(self
            .effective_roles(&cred.user_id, TargetType::Project, &cred.project_id)
            .await?
            .into_iter()
            .filter(|r| cred.role_ids.contains(&r.id))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_parses_like_keystone_and_renders_with_microseconds() {
        let now = 0;
        let t = parse_expiry("2030-01-02T03:04:05.123456", now).unwrap();
        assert_eq!(format_expiry(t), "2030-01-02T03:04:05.123456");
        let z = parse_expiry("2030-01-02T03:04:05Z", now).unwrap();
        assert_eq!(format_expiry(z), "2030-01-02T03:04:05.000000");
        let offset = parse_expiry("2030-01-02T05:04:05+02:00", now).unwrap();
        assert_eq!(offset, z);
        assert_eq!(
            parse_expiry("yesterday", now)
                .unwrap_err()
                .status()
                .as_u16(),
            400
        );
        assert_eq!(
            parse_expiry("2030-01-02T03:04:05", t + 1)
                .unwrap_err()
                .status()
                .as_u16(),
            400
        );
        assert!(parse_expiry(&"9".repeat(10_000), now).is_err());
    }

    #[test]
    fn generated_secrets_are_long_and_distinct() {
        let a = generate_secret();
        assert_eq!(a.len(), 86);
        assert_ne!(a, generate_secret());
        assert!(!a.contains('='));
    }
}
