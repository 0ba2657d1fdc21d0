//! Logic: authorization, validation into domain types, IPAM. Handlers in
//! `api/` and the in-process [`crate::compute`] API call these; SQL is in
//! `store/`.

pub mod bulk;
pub mod floatingips;
pub mod input;
pub mod model;
pub mod networks;
pub mod port_attrs;
pub mod ports;
pub mod quotas;
pub mod routers;
pub mod security_groups;
pub mod subnets;

use std::sync::Arc;

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::Db;

use crate::config::NetworkConfig;
use crate::dataplane::{Dataplane, UserModeDataplane};
use crate::error::{NetError, NetErrorKind, policy};

/// The network service: database, settings, dataplane driver.
#[derive(Clone)]
pub struct NetworkService {
    pub(crate) db: Db,
    pub(crate) config: Arc<NetworkConfig>,
    pub(crate) base_mac: [u8; 6],
    pub(crate) dataplane: Arc<dyn Dataplane>,
}

impl std::fmt::Debug for NetworkService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkService")
            .field("config", &self.config)
            .finish()
    }
}

impl NetworkService {
    /// The service on `db` with the QEMU user-mode dataplane.
    pub fn new(db: Db, config: NetworkConfig) -> Result<NetworkService, NetError> {
        NetworkService::with_dataplane(db, config, Arc::new(UserModeDataplane))
    }

    /// The service with another dataplane driver.
    pub fn with_dataplane(
        db: Db,
        config: NetworkConfig,
        dataplane: Arc<dyn Dataplane>,
    ) -> Result<NetworkService, NetError> {
        let base_mac = crate::ipam::parse_mac(&config.base_mac).ok_or_else(|| {
            NetError::new(
                NetErrorKind::Corrupt,
                format!("base_mac '{}' is not a MAC address", config.base_mac),
            )
        })?;
        Ok(NetworkService {
            db,
            config: Arc::new(config),
            base_mac,
            dataplane,
        })
    }

    /// The settings in force.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// The dataplane driver in use.
    pub fn dataplane(&self) -> &dyn Dataplane {
        self.dataplane.as_ref()
    }

    pub(crate) fn pool(&self) -> &nimbus_db::Pool {
        self.db.pool()
    }
}

/// The project filter of a list: none for admins, the caller's otherwise.
pub(crate) fn scope(ctx: &RequestContext) -> Option<&str> {
    if ctx.is_admin() {
        None
    } else {
        Some(ctx.project_id.as_deref().unwrap_or(""))
    }
}

/// 403 for a reader trying to change something.
pub(crate) fn require_write(ctx: &RequestContext, rule: &str) -> Result<(), ApiError> {
    if ctx.can_write() {
        Ok(())
    } else {
        Err(policy(rule))
    }
}

/// 403 for anyone without a role on the scope.
pub(crate) fn require_read(ctx: &RequestContext, rule: &str) -> Result<(), ApiError> {
    if ctx.can_read() {
        Ok(())
    } else {
        Err(policy(rule))
    }
}

/// A fresh resource id (neutron's ids are UUIDs with dashes).
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}
