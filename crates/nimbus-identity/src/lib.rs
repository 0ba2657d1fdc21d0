//! Identity: a Keystone v3 subset (tokens, domains, projects, users, roles,
//! role assignments) and the auth layer every other service uses to turn an
//! `X-Auth-Token` into a [`nimbus_common::RequestContext`].
//!
//! Other services use it in-process:
//! ```ignore
//! let routes = Router::new().route(...).route_layer(identity.auth_layer());
//! async fn handler(ctx: RequestContext) { ... }
//! ```

mod api;
pub mod app;
pub mod auth;
pub mod catalog;
pub mod error;
pub mod keys;
pub mod model;
pub mod password;
pub mod revocation;
pub mod store;
pub mod token;

pub use app::bootstrap::BootstrapOutcome;
pub use app::{Identity, IdentityConfig};
pub use auth::AuthLayer;
pub use catalog::CatalogService;
pub use error::{IdentityError, IdentityErrorKind};

impl Identity {
    /// The Keystone router, to nest at `/identity`.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// The layer that authenticates a service's routes.
    pub fn auth_layer(&self) -> AuthLayer {
        AuthLayer::new(
            self.codec().clone(),
            &format!("{}/identity", self.public_url()),
        )
    }
}

/// The Keystone router for `identity`, to nest at `/identity`.
pub fn router(identity: &Identity) -> axum::Router {
    identity.router()
}
