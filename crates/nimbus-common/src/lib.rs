//! Shared API plumbing for every Nimbus service: one error type rendered in
//! each OpenStack service's own error shape, the authenticated request
//! context, microversion negotiation, pagination and typed ids.

#![warn(missing_docs)]

pub mod context;
pub mod error;
pub mod ids;
pub mod json;
pub mod microversion;
pub mod pagination;
pub mod request_id;

pub use context::RequestContext;
pub use error::{ApiError, ErrorStyle, render_errors};
pub use json::Json;
pub use microversion::{ApiVersion, VersionRange};
pub use pagination::PageParams;
pub use request_id::RequestId;
