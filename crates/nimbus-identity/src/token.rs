//! Tokens: Fernet-encrypted payloads that carry everything a service needs
//! (user, scope, roles, expiry), so validation is a decrypt plus a check of
//! the in-memory revocation list, never a database lookup.

use std::sync::{Arc, RwLock};

use fernet::{Fernet, MultiFernet};
use nimbus_common::RequestContext;
use serde::{Deserialize, Serialize};

use crate::revocation::RevocationList;

/// Tokens longer than this are rejected before any decoding.
pub const MAX_TOKEN_LEN: usize = 8192;

/// A name and id pair, as Keystone's token body shows roles and domains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Named {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// What a token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// No scope: the token can only list projects and get scoped tokens.
    Unscoped,
    /// A project (with its domain).
    Project {
        /// The project.
        project: Named,
        /// Its domain.
        domain: Named,
    },
    /// A domain.
    Domain {
        /// The domain.
        domain: Named,
    },
}

/// Everything a token says. Serialized (JSON) and encrypted with Fernet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenPayload {
    /// The user.
    pub user: Named,
    /// The user's domain.
    pub user_domain: Named,
    /// Authentication methods (`password`, `token`).
    pub methods: Vec<String>,
    /// The scope.
    pub scope: Scope,
    /// Effective roles on the scope, implied roles included.
    pub roles: Vec<Named>,
    /// Issue time, microseconds since the epoch.
    pub issued_at: i64,
    /// Expiry, microseconds since the epoch.
    pub expires_at: i64,
    /// Audit ids: this token's first; a token rescoped from another carries
    /// the original's second, as Keystone does.
    pub audit_ids: Vec<String>,
    /// The application credential the token was issued from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_cred: Option<AppCredRef>,
}

/// The application credential behind a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCredRef {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Whether the token may manage application and EC2 credentials.
    pub unrestricted: bool,
}

impl TokenPayload {
    /// The project id, for project-scoped tokens.
    pub fn project_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Project { project, .. } => Some(&project.id),
            _ => None,
        }
    }

    /// The domain id of the scope (the project's domain, or the domain).
    pub fn scope_domain_id(&self) -> Option<&str> {
        match &self.scope {
            Scope::Project { domain, .. } | Scope::Domain { domain } => Some(&domain.id),
            Scope::Unscoped => None,
        }
    }

    /// The request context a service sees for this token.
    pub fn context(&self, request_id: &str) -> RequestContext {
        let (project_id, project_name, project_domain_id, domain_id) = match &self.scope {
            Scope::Project { project, domain } => (
                Some(project.id.clone()),
                Some(project.name.clone()),
                Some(domain.id.clone()),
                None,
            ),
            Scope::Domain { domain } => (None, None, None, Some(domain.id.clone())),
            Scope::Unscoped => (None, None, None, None),
        };
        RequestContext {
            request_id: request_id.to_string(),
            user_id: self.user.id.clone(),
            user_name: self.user.name.clone(),
            user_domain_id: self.user_domain.id.clone(),
            project_id,
            project_name,
            project_domain_id,
            domain_id,
            roles: self.roles.iter().map(|r| r.name.clone()).collect(),
            audit_id: self.audit_ids.first().cloned().unwrap_or_default(),
        }
    }
}

/// Why a token was refused (all are 401 to the client; the reason is logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    /// Not a token we made, or altered.
    Invalid,
    /// Past its expiry.
    Expired,
    /// On the revocation list.
    Revoked,
}

/// Issues and validates tokens. Cheap to clone; shared by every service.
#[derive(Clone)]
pub struct TokenCodec {
    keys: Arc<RwLock<Arc<MultiFernet>>>,
    revocations: RevocationList,
}

impl std::fmt::Debug for TokenCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCodec")
    }
}

impl TokenCodec {
    /// A codec over `keys` (primary first) and a revocation list.
    pub fn new(keys: &[String], revocations: RevocationList) -> Option<TokenCodec> {
        let fernets = build_fernets(keys)?;
        Some(TokenCodec {
            keys: Arc::new(RwLock::new(Arc::new(fernets))),
            revocations,
        })
    }

    /// Replaces the keys (after a rotation).
    pub fn set_keys(&self, keys: &[String]) -> bool {
        let Some(fernets) = build_fernets(keys) else {
            return false;
        };
        match self.keys.write() {
            Ok(mut guard) => *guard = Arc::new(fernets),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(fernets),
        }
        true
    }

    fn current(&self) -> Arc<MultiFernet> {
        match self.keys.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The revocation list this codec checks.
    pub fn revocations(&self) -> &RevocationList {
        &self.revocations
    }

    /// Encrypts a payload into a token string.
    pub fn issue(&self, payload: &TokenPayload) -> String {
        // Serializing plain strings and integers cannot fail.
        let bytes = serde_json::to_vec(payload).unwrap_or_default();
        self.current().encrypt(&bytes)
    }

    /// Decrypts and checks a token at time `now` (microseconds).
    pub fn validate_at(&self, token: &str, now: i64) -> Result<TokenPayload, TokenRejection> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || !token.is_ascii() {
            return Err(TokenRejection::Invalid);
        }
        let bytes = self
            .current()
            .decrypt(token)
            .map_err(|_| TokenRejection::Invalid)?;
        let payload: TokenPayload =
            serde_json::from_slice(&bytes).map_err(|_| TokenRejection::Invalid)?;
        if payload.expires_at <= now {
            return Err(TokenRejection::Expired);
        }
        if self.revocations.is_revoked(&payload) {
            return Err(TokenRejection::Revoked);
        }
        Ok(payload)
    }

    /// Decrypts and checks a token now.
    pub fn validate(&self, token: &str) -> Result<TokenPayload, TokenRejection> {
        self.validate_at(token, nimbus_db::now_micros())
    }
}

fn build_fernets(keys: &[String]) -> Option<MultiFernet> {
    if keys.is_empty() {
        return None;
    }
    let fernets = keys
        .iter()
        .map(|k| Fernet::new(k))
        .collect::<Option<Vec<_>>>()?;
    Some(MultiFernet::new(fernets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::revocation::RevocationEvent;

    fn payload(expires_at: i64) -> TokenPayload {
        TokenPayload {
            user: Named {
                id: "u1".into(),
                name: "alice".into(),
            },
            user_domain: Named {
                id: "default".into(),
                name: "Default".into(),
            },
            methods: vec!["password".into()],
            scope: Scope::Project {
                project: Named {
                    id: "p1".into(),
                    name: "demo".into(),
                },
                domain: Named {
                    id: "default".into(),
                    name: "Default".into(),
                },
            },
            roles: vec![Named {
                id: "r1".into(),
                name: "member".into(),
            }],
            issued_at: 1_000,
            expires_at,
            audit_ids: vec!["a1".into()],
            app_cred: None,
        }
    }

    fn codec() -> TokenCodec {
        TokenCodec::new(
            &[Fernet::generate_key(), Fernet::generate_key()],
            RevocationList::default(),
        )
        .unwrap()
    }

    #[test]
    fn issue_then_validate_round_trips() {
        let codec = codec();
        let p = payload(i64::MAX);
        let token = codec.issue(&p);
        assert_eq!(codec.validate(&token).unwrap(), p);
        let ctx = p.context("req-1");
        assert_eq!(ctx.project_id.as_deref(), Some("p1"));
        assert_eq!(ctx.roles, vec!["member"]);
    }

    #[test]
    fn tampered_expired_revoked_and_foreign_tokens_are_refused() {
        let codec = codec();
        let token = codec.issue(&payload(i64::MAX));
        let mut tampered = token.clone().into_bytes();
        let mid = tampered.len() / 2;
        tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(codec.validate(&tampered), Err(TokenRejection::Invalid));
        assert_eq!(codec.validate(""), Err(TokenRejection::Invalid));
        assert_eq!(
            codec.validate(&"x".repeat(20_000)),
            Err(TokenRejection::Invalid)
        );
        assert_eq!(codec.validate("gAAAA\u{e9}"), Err(TokenRejection::Invalid));
        let expired = codec.issue(&payload(5));
        assert_eq!(codec.validate(&expired), Err(TokenRejection::Expired));
        let other = self::codec();
        assert_eq!(other.validate(&token), Err(TokenRejection::Invalid));
        codec.revocations().add(RevocationEvent {
            audit_id: Some("a1".into()),
            user_id: None,
            project_id: None,
            domain_id: None,
            app_cred_id: None,
            issued_before: 2_000,
            expires_at: i64::MAX,
        });
        assert_eq!(codec.validate(&token), Err(TokenRejection::Revoked));
    }

    #[test]
    fn tokens_survive_rotation_to_a_new_primary() {
        let old_primary = Fernet::generate_key();
        let staged = Fernet::generate_key();
        let codec = TokenCodec::new(
            &[old_primary.clone(), staged.clone()],
            RevocationList::default(),
        )
        .unwrap();
        let token = codec.issue(&payload(i64::MAX));
        assert!(codec.set_keys(&[staged, old_primary, Fernet::generate_key()]));
        assert!(codec.validate(&token).is_ok());
    }
}
