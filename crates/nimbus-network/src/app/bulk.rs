//! Bulk creation (`POST /v2.0/networks` with `{"networks": [...]}`, and
//! the same for subnets and ports): all or nothing. Each item goes through
//! the single-resource logic in order (validated, quota-checked, allocated
//! as if alone, so later items see earlier ones); when one fails, the ones
//! already made are deleted again and that failure is the answer, as
//! neutron's `_emulate_bulk_create` does for plugins without a native bulk
//! path.

use nimbus_common::{ApiError, RequestContext};

use super::NetworkService;
use super::input::Attrs;
use super::model::{Network, Port, Subnet};
use crate::store;

/// Logs an undo that failed: the request still answers with the error that
/// caused the undo, and the leftover is an ordinary resource the caller
/// can see and delete.
fn log_undo(resource: &str, id: &str, result: Result<(), ApiError>) {
    if let Err(e) = result {
        tracing::warn!(resource, id, error = ?e, "could not undo a bulk creation");
    }
}

impl NetworkService {
    /// Creates every network in `items`, or none.
    pub async fn network_create_bulk(
        &self,
        ctx: &RequestContext,
        items: Vec<Attrs>,
    ) -> Result<Vec<Network>, ApiError> {
        let mut made: Vec<Network> = Vec::with_capacity(items.len());
        for a in items {
            match self.network_create(ctx, a).await {
                Ok(n) => made.push(n),
                Err(e) => {
                    for n in made.iter().rev() {
                        let undone = store::networks::network_delete(self.pool(), &n.id)
                            .await
                            .map(drop)
                            .map_err(ApiError::from);
                        log_undo("network", &n.id, undone);
                    }
                    return Err(e);
                }
            }
        }
        Ok(made)
    }

    /// Creates every subnet in `items`, or none.
    pub async fn subnet_create_bulk(
        &self,
        ctx: &RequestContext,
        items: Vec<Attrs>,
    ) -> Result<Vec<Subnet>, ApiError> {
        let mut made: Vec<Subnet> = Vec::with_capacity(items.len());
        for a in items {
            match self.subnet_create(ctx, a).await {
                Ok(s) => made.push(s),
                Err(e) => {
                    for s in made.iter().rev() {
                        log_undo("subnet", &s.id, self.subnet_remove(s).await);
                    }
                    return Err(e);
                }
            }
        }
        Ok(made)
    }

    /// Creates every port in `items`, or none.
    pub async fn port_create_bulk(
        &self,
        ctx: &RequestContext,
        items: Vec<Attrs>,
    ) -> Result<Vec<Port>, ApiError> {
        let mut made: Vec<Port> = Vec::with_capacity(items.len());
        for a in items {
            match self.port_create(ctx, a).await {
                Ok(p) => made.push(p),
                Err(e) => {
                    for p in made.iter().rev() {
                        log_undo("port", &p.id, self.port_remove(p).await);
                    }
                    return Err(e);
                }
            }
        }
        Ok(made)
    }
}
