//! The identity service's logic: authentication, scoping, policy and
//! validation. Handlers call these; these call `store/`.

pub mod app_creds;
pub mod assignments;
pub mod bootstrap;
pub mod ec2;
pub mod resources;
pub mod tokens;

use std::path::PathBuf;
use std::sync::Arc;

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::{Db, Pool, now_micros};

use crate::catalog::{Catalog, CatalogService};
use crate::error::IdentityError;
use crate::keys::KeyRepository;
use crate::revocation::{RevocationEvent, RevocationList};
use crate::store;
use crate::token::TokenCodec;

/// How the identity service is set up (from `[token]`, `[fernet_tokens]`, ...).
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// `http://host:port`: what the catalog and links point at.
    pub public_url: String,
    /// Token lifetime in seconds (Keystone's `[token] expiration`).
    pub expiration_secs: u64,
    /// Where the Fernet keys live (`[fernet_tokens] key_repository`).
    pub key_repository: PathBuf,
    /// Keys kept (`[fernet_tokens] max_active_keys`).
    pub max_active_keys: usize,
    /// The services the catalog lists.
    pub catalog: Vec<CatalogService>,
}

/// The identity service: cheap to clone, shared by its router, the auth
/// layer and the binary.
#[derive(Clone)]
pub struct Identity {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Identity")
    }
}

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    pub(crate) codec: TokenCodec,
    pub(crate) catalog: Catalog,
    pub(crate) expiration_micros: i64,
    pub(crate) keys: KeyRepository,
}

impl Identity {
    /// Opens the service: loads (or creates) the keys and the revocation list.
    pub async fn open(db: &Db, config: IdentityConfig) -> Result<Identity, IdentityError> {
        let keys = KeyRepository::open(&config.key_repository, config.max_active_keys)?;
        let pool = db.pool().clone();
        let events = store::revocations::revocation_list_live(&pool, now_micros()).await?;
        let codec =
            TokenCodec::new(&keys.load()?, RevocationList::new(events)).ok_or_else(|| {
                IdentityError::new(
                    crate::error::IdentityErrorKind::Config,
                    "no usable fernet key",
                )
            })?;
        let expiration_secs = config.expiration_secs.clamp(1, 60 * 60 * 24 * 365);
        Ok(Identity {
            inner: Arc::new(Inner {
                pool,
                codec,
                catalog: Catalog::new(&config.public_url, config.catalog),
                expiration_micros: i64::try_from(expiration_secs).unwrap_or(i64::MAX) * 1_000_000,
                keys,
            }),
        })
    }

    /// The token codec (issue and validate without a database).
    pub fn codec(&self) -> &TokenCodec {
        &self.inner.codec
    }

    /// The public base URL.
    pub fn public_url(&self) -> &str {
        self.inner.catalog.base_url()
    }

    /// Token lifetime in seconds.
    pub fn expiration_secs(&self) -> i64 {
        self.inner.expiration_micros / 1_000_000
    }

    /// Rotates the keys if the primary is older than a token's lifetime, so
    /// that with three keys every unexpired token stays valid.
    pub fn rotate_keys_if_due(&self) -> Result<bool, IdentityError> {
        let age = self.inner.keys.primary_age()?;
        if age.as_secs() < u64::try_from(self.expiration_secs()).unwrap_or(u64::MAX) {
            return Ok(false);
        }
        self.rotate_keys()?;
        Ok(true)
    }

    /// Rotates the keys now (Keystone's `fernet_rotate`).
    pub fn rotate_keys(&self) -> Result<(), IdentityError> {
        self.inner.keys.rotate()?;
        let keys = self.inner.keys.load()?;
        self.inner.codec.set_keys(&keys);
        Ok(())
    }

    /// Stores a revocation event and applies it at once.
    pub(crate) async fn revoke(&self, mut event: RevocationEvent) -> Result<(), ApiError> {
        let now = now_micros();
        event.issued_before = now;
        event.expires_at = now.saturating_add(self.inner.expiration_micros);
        store::revocations::revocation_create(&self.inner.pool, &event).await?;
        self.inner.codec.revocations().add(event);
        Ok(())
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.inner.pool
    }
}

/// An empty revocation event to fill in.
pub(crate) fn event() -> RevocationEvent {
    RevocationEvent {
        audit_id: None,
        user_id: None,
        project_id: None,
        domain_id: None,
        app_cred_id: None,
        issued_before: 0,
        expires_at: 0,
    }
}

/// 403 unless admin.
pub(crate) fn require_admin(ctx: &RequestContext, action: &str) -> Result<(), ApiError> {
    ctx.require_admin(&format!("identity:{action}"))
}
