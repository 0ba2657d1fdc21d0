//! The token revocation list: an in-memory copy of the revocation table,
//! loaded at start and appended to on every revocation.

use std::sync::{Arc, RwLock};

use crate::token::TokenPayload;

/// One revocation: tokens matching every set field and issued at or before
/// `issued_before` are invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationEvent {
    /// One token (and the tokens rescoped from it).
    pub audit_id: Option<String>,
    /// Every token of a user.
    pub user_id: Option<String>,
    /// Every token scoped to a project.
    pub project_id: Option<String>,
    /// Every token scoped to a domain (or a project in it).
    pub domain_id: Option<String>,
    /// Every token issued from an application credential.
    pub app_cred_id: Option<String>,
    /// Microseconds since the epoch.
    pub issued_before: i64,
    /// When the event can be forgotten: no token it matches is still valid.
    pub expires_at: i64,
}

impl RevocationEvent {
    fn matches(&self, token: &TokenPayload) -> bool {
        if token.issued_at > self.issued_before {
            return false;
        }
        let field = |want: &Option<String>, have: Option<&str>| match want {
            None => true,
            Some(w) => have == Some(w.as_str()),
        };
        let audit = match &self.audit_id {
            None => true,
            Some(a) => token.audit_ids.iter().any(|t| t == a),
        };
        audit
            && field(&self.user_id, Some(&token.user.id))
            && field(&self.project_id, token.project_id())
            && field(&self.domain_id, token.scope_domain_id())
            && field(
                &self.app_cred_id,
                token.app_cred.as_ref().map(|a| a.id.as_str()),
            )
    }
}

/// Shared, cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RevocationList {
    events: Arc<RwLock<Vec<RevocationEvent>>>,
}

impl RevocationList {
    /// A list holding `events`.
    pub fn new(events: Vec<RevocationEvent>) -> RevocationList {
        RevocationList {
            events: Arc::new(RwLock::new(events)),
        }
    }

    /// Adds an event (after it was stored).
    pub fn add(&self, event: RevocationEvent) {
        let mut events = match self.events.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = nimbus_db::now_micros();
        events.retain(|e| e.expires_at > now);
        events.push(event);
    }

    /// Whether any event revokes `token`.
    pub fn is_revoked(&self, token: &TokenPayload) -> bool {
        let events = match self.events.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        events.iter().any(|e| e.matches(token))
    }

    /// Number of events held.
    pub fn len(&self) -> usize {
        self.events.read().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether no event is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
