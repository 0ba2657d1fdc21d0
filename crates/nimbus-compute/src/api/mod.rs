//! HTTP: Nova v2.1's routes, thin handlers over `app/`, errors in Nova's
//! shape. Every route but version discovery needs an authenticated
//! [`nimbus_common::RequestContext`] (inserted by the identity layer) and
//! runs at the microversion the request negotiated ([`Microversion`]).

pub mod aggregates;
pub mod availability_zones;
pub mod extension_info;
pub mod flavor_access;
pub mod flavor_extra_specs;
pub mod flavors;
pub mod floating_ips;
pub mod hypervisors;
pub mod image_metadata;
pub mod images;
pub mod instance_actions;
pub mod keypairs;
pub mod limits;
pub mod lock;
pub mod quota_sets;
pub mod security_groups;
pub mod server_actions;
pub mod server_groups;
pub mod server_metadata;
pub mod server_networks;
pub mod server_password;
pub mod server_tags;
pub mod servers;
pub mod services;
pub mod snapshots;
pub mod tenant_networks;
pub mod versions;
pub mod views;
pub mod volume_attachments;
pub mod volumes;

use axum::Router;
use axum::extract::{FromRequestParts, Request};
use axum::http::Uri;
use axum::http::request::Parts;
use axum::http::uri::PathAndQuery;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, ApiVersion, ErrorStyle, VersionRange, render_errors};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::app::ComputeService;

/// The microversions served. Responses carry exactly nova's fields for the
/// negotiated version: every serializer branches on [`Microversion`].
pub const VERSIONS: VersionRange = VersionRange {
    service_type: "compute",
    legacy_header: Some("x-openstack-nova-api-version"),
    min: ApiVersion::new(2, 1),
    max: ApiVersion::new(2, 96),
};

/// The microversion a request negotiated (2.1 when it asked for none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Microversion(pub ApiVersion);

impl Microversion {
    /// Whether the request runs at `major.minor` or later.
    pub fn at_least(self, major: u16, minor: u16) -> bool {
        self.0.at_least(major, minor)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Microversion {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Microversion(
            parts
                .extensions
                .get::<ApiVersion>()
                .copied()
                .unwrap_or(VERSIONS.min),
        ))
    }
}

/// Nova's proxy APIs (images, security groups, floating IPs, volumes,
/// snapshots, tenant networks, below 2.36) answer 404 from microversion
/// 2.36 on.
pub fn require_proxy(mv: Microversion) -> Result<(), ApiError> {
    if mv.at_least(2, 36) {
        Err(ApiError::not_found("The resource could not be found."))
    } else {
        Ok(())
    }
}

/// The public base URL (scheme, host, port) resource links point at:
/// `{base}/compute/v2.1/<path>` (self) and `{base}/compute/<path>` (bookmark).
#[derive(Debug, Clone)]
pub struct PublicBase(pub std::sync::Arc<str>);

impl PublicBase {
    /// Nova's `links`: a `self` link and a `bookmark` link to `path`
    /// (`flavors/<id>`).
    pub fn links(&self, path: &str) -> Value {
        json!([
            {"rel": "self", "href": format!("{}/compute/v2.1/{path}", self.0)},
            {"rel": "bookmark", "href": format!("{}/compute/{path}", self.0)},
        ])
    }

    /// A `next` link of a paged listing: `{base}/compute/v2.1/<path_and_query>`.
    pub fn next(&self, path_and_query: &str) -> Value {
        json!([{"rel": "next", "href": format!("{}/compute/v2.1/{path_and_query}", self.0)}])
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PublicBase {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<PublicBase>()
            .cloned()
            .ok_or_else(|| ApiError::internal("no public base URL"))
    }
}

/// Nova v2.1 under its mount point (`/compute`): version discovery, open to
/// all, and the API under `/v2.1`, which `authenticate` wraps (the binary
/// passes the identity service's auth layer). `public_url` is the base the
/// version links point at.
pub fn router(
    service: ComputeService,
    public_url: &str,
    authenticate: impl FnOnce(Router) -> Router,
) -> Router {
    let base = public_url.trim_end_matches('/').to_string();
    let base_for_links = base.clone();
    Router::new()
        .merge(versions::routes(&base))
        .nest("/v2.1", authenticate(v21_routes(service)))
        .layer(axum::Extension(views::BaseUrl(
            public_url.trim_end_matches('/').to_string(),
        )))
        .fallback(|| async { ApiError::not_found("The resource could not be found.") })
        .layer(axum::middleware::from_fn(negotiate))
        .layer(axum::Extension(PublicBase(base_for_links.into())))
        .layer(render_errors(ErrorStyle::Nova))
}

/// The v2.1 API routes; each resource module adds its own.
fn v21_routes(service: ComputeService) -> Router {
    Router::new()
        .merge(flavors::routes())
        .merge(keypairs::routes())
        .merge(flavor_access::routes())
        .merge(flavor_extra_specs::routes())
        .merge(limits::routes())
        .merge(quota_sets::routes())
        .merge(availability_zones::routes())
        .merge(hypervisors::routes())
        .merge(aggregates::routes())
        .merge(services::routes())
        .merge(servers::routes())
        .merge(server_actions::routes())
        .merge(security_groups::routes())
        .merge(floating_ips::routes())
        .merge(server_metadata::routes())
        .merge(server_tags::routes())
        .merge(server_groups::routes())
        .merge(server_networks::routes())
        .merge(instance_actions::routes())
        .merge(volume_attachments::routes())
        .merge(images::routes())
        .merge(image_metadata::routes())
        .merge(volumes::routes())
        .merge(snapshots::routes())
        .merge(tenant_networks::routes())
        .merge(extension_info::routes())
        .merge(server_password::routes())
        .merge(volumes_boot(service.clone()))
        // nova's router matches the method too (Routes `conditions`): a
        // path without the method is no route, 404, never 405 (Tempest's
        // `DELETE /images/` with an empty id reaches here as `DELETE /images`).
        .method_not_allowed_fallback(|| async {
            ApiError::not_found("The resource could not be found.")
        })
        .with_state(service)
}

/// nova still routes `os-volumes_boot` (deprecated; to 2.102, above our
/// highest version) to its servers controller: the same calls under another
/// name. Nested, the alias sees the path after `/os-volumes_boot` (and no
/// path parameters of its own), which it hands to the servers routes.
fn volumes_boot(service: ComputeService) -> Router<ComputeService> {
    let servers = servers::routes()
        .merge(server_actions::routes())
        .with_state(service)
        .map_request(|mut request: Request| {
            let uri = request.uri();
            let rest = uri.path().trim_start_matches('/');
            let mut renamed = if rest.is_empty() {
                "/servers".to_string()
            } else {
                format!("/servers/{rest}")
            };
            if let Some(query) = uri.query() {
                renamed.push('?');
                renamed.push_str(query);
            }
            let mut parts = uri.clone().into_parts();
            if let Ok(pq) = renamed.parse::<PathAndQuery>() {
                parts.path_and_query = Some(pq);
                if let Ok(uri) = Uri::from_parts(parts) {
                    *request.uri_mut() = uri;
                }
            }
            request
        });
    Router::new().nest_service("/os-volumes_boot", servers)
}

/// Negotiates the microversion, hands it to handlers, and says in the
/// response which version answered (400/406 for a bad request, as nova).
async fn negotiate(mut request: Request, next: Next) -> Response {
    match VERSIONS.negotiate(request.headers()) {
        Ok(version) => {
            request.extensions_mut().insert(version);
            let mut response = next.run(request).await;
            response
                .headers_mut()
                .extend(VERSIONS.response_headers(version));
            response
        }
        Err(err) => err.into_response(),
    }
}
