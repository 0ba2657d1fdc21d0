//! The network service's internal errors, and neutron's client-facing
//! exceptions as [`ApiError`]s with their `NeutronError.type`.

use nimbus_common::ApiError;
use nimbus_common::error::ErrorKind;

/// What kind of internal failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetErrorKind {
    /// The database failed.
    Db,
    /// A stored value is not one we write.
    Corrupt,
}

/// An internal failure with context; client-facing errors are [`ApiError`]s.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
pub struct NetError {
    kind: NetErrorKind,
    context: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl NetError {
    /// An error of `kind` while doing `context`.
    pub fn new(kind: NetErrorKind, context: impl Into<String>) -> NetError {
        NetError {
            kind,
            context: context.into(),
            source: None,
        }
    }

    /// A row holds a value we never write.
    pub fn corrupt(what: impl Into<String>) -> NetError {
        NetError::new(
            NetErrorKind::Corrupt,
            format!("unexpected stored value: {}", what.into()),
        )
    }

    /// The kind of failure.
    pub fn kind(&self) -> NetErrorKind {
        self.kind
    }
}

impl From<sqlx::Error> for NetError {
    fn from(err: sqlx::Error) -> NetError {
        NetError {
            kind: NetErrorKind::Db,
            context: "database query failed".into(),
            source: Some(Box::new(err)),
        }
    }
}

impl From<serde_json::Error> for NetError {
    fn from(err: serde_json::Error) -> NetError {
        NetError {
            kind: NetErrorKind::Corrupt,
            context: "stored JSON is invalid".into(),
            source: Some(Box::new(err)),
        }
    }
}

impl From<NetError> for ApiError {
    fn from(err: NetError) -> ApiError {
        let mut detail = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        ApiError::internal(detail)
    }
}

/// A neutron exception: `kind` gives the status, `ty` the class name.
pub fn neutron(kind: ErrorKind, ty: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(kind, message).with_neutron_type(ty)
}

/// `HTTPBadRequest` as the API layer raises it for invalid attributes.
pub fn bad_request(message: impl Into<String>) -> ApiError {
    neutron(ErrorKind::BadRequest, "HTTPBadRequest", message)
}

/// `Invalid input for <attr>. Reason: <reason>` (neutron's attribute validation).
pub fn invalid_attr(attr: &str, reason: impl std::fmt::Display) -> ApiError {
    bad_request(format!("Invalid input for {attr}. Reason: {reason}"))
}

/// neutron-lib's `InvalidInput` (400).
pub fn invalid_input(message: impl std::fmt::Display) -> ApiError {
    neutron(
        ErrorKind::BadRequest,
        "InvalidInput",
        format!("Invalid input for operation: {message}"),
    )
}

/// neutron-lib's `BadRequest(resource, msg)` (400).
pub fn bad_resource_request(resource: &str, message: impl std::fmt::Display) -> ApiError {
    neutron(
        ErrorKind::BadRequest,
        "BadRequest",
        format!("Bad {resource} request: {message}"),
    )
}

/// A `<Resource>NotFound` (404).
pub fn not_found(ty: &str, message: impl Into<String>) -> ApiError {
    neutron(ErrorKind::NotFound, ty, message)
}

/// A 409 exception (`Conflict`, `InUse` subclasses).
pub fn conflict(ty: &str, message: impl Into<String>) -> ApiError {
    neutron(ErrorKind::Conflict, ty, message)
}

/// `PolicyNotAuthorized` (403) for a rule such as `create_network:shared`.
pub fn policy(rule: &str) -> ApiError {
    neutron(
        ErrorKind::Forbidden,
        "PolicyNotAuthorized",
        format!("({rule}) is disallowed by policy"),
    )
}

/// `NetworkNotFound`.
pub fn network_not_found(id: &str) -> ApiError {
    not_found(
        "NetworkNotFound",
        format!("Network {id} could not be found."),
    )
}

/// `SubnetNotFound`.
pub fn subnet_not_found(id: &str) -> ApiError {
    not_found("SubnetNotFound", format!("Subnet {id} could not be found."))
}

/// `PortNotFound`.
pub fn port_not_found(id: &str) -> ApiError {
    not_found("PortNotFound", format!("Port {id} could not be found."))
}

/// `RouterNotFound`.
pub fn router_not_found(id: &str) -> ApiError {
    not_found("RouterNotFound", format!("Router {id} could not be found."))
}

/// `FloatingIPNotFound`.
pub fn floatingip_not_found(id: &str) -> ApiError {
    not_found(
        "FloatingIPNotFound",
        format!("Floating IP {id} could not be found"),
    )
}

/// `SecurityGroupNotFound`.
pub fn security_group_not_found(id: &str) -> ApiError {
    not_found(
        "SecurityGroupNotFound",
        format!("Security group {id} does not exist"),
    )
}

/// `OverQuota` (409).
pub fn over_quota(resource: &str) -> ApiError {
    conflict(
        "OverQuota",
        format!("Quota exceeded for resources: ['{resource}']."),
    )
}
