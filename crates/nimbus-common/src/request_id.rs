//! The request id every response carries in `x-openstack-request-id`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// `req-<uuid>`, generated per request by the binary's middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// A fresh id in OpenStack's format.
    pub fn generate() -> RequestId {
        RequestId(format!("req-{}", uuid::Uuid::new_v4()))
    }
}

/// The response header OpenStack services put the request id in.
pub const REQUEST_ID_HEADER: &str = "x-openstack-request-id";

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<RequestId>()
            .cloned()
            .unwrap_or_else(RequestId::generate))
    }
}
