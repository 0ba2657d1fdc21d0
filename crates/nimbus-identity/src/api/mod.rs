//! HTTP handlers and wire types, one file per resource.

mod app_creds;
mod auth_tokens;
mod domains;
mod ec2;
mod projects;
mod role_assignments;
mod roles;
mod services;
mod users;
mod versions;
mod wire;

use axum::Router;
use axum::routing::{get, post};
use nimbus_common::{ErrorStyle, render_errors};

use crate::app::Identity;

/// The Keystone v3 router, to be nested at `/identity`.
pub fn router(identity: Identity) -> Router {
    let authed = Router::new()
        .route("/v3/auth/catalog", get(auth_tokens::auth_catalog))
        .route("/v3/auth/projects", get(auth_tokens::auth_projects))
        .route("/v3/auth/domains", get(auth_tokens::auth_domains))
        .route("/v3/domains", get(domains::list).post(domains::create))
        .route(
            "/v3/domains/{id}",
            get(domains::show)
                .patch(domains::update)
                .delete(domains::delete),
        )
        .route("/v3/projects", get(projects::list).post(projects::create))
        .route(
            "/v3/projects/{id}",
            get(projects::show)
                .patch(projects::update)
                .delete(projects::delete),
        )
        .route("/v3/users", get(users::list).post(users::create))
        .route(
            "/v3/users/{id}",
            get(users::show).patch(users::update).delete(users::delete),
        )
        .route("/v3/users/{id}/projects", get(users::projects))
        .route("/v3/users/{id}/password", post(users::change_password))
        .route(
            "/v3/users/{id}/application_credentials",
            get(app_creds::list).post(app_creds::create),
        )
        .route(
            "/v3/users/{id}/application_credentials/{cred}",
            get(app_creds::show).delete(app_creds::delete),
        )
        .route(
            "/v3/users/{id}/credentials/OS-EC2",
            get(ec2::list).post(ec2::create),
        )
        .route(
            "/v3/users/{id}/credentials/OS-EC2/{access}",
            get(ec2::show).delete(ec2::delete),
        )
        .route("/v3/roles", get(roles::list).post(roles::create))
        .route(
            "/v3/roles/{id}",
            get(roles::show).patch(roles::update).delete(roles::delete),
        )
        .route(
            "/v3/projects/{target}/users/{user}/roles",
            get(role_assignments::project_roles),
        )
        .route(
            "/v3/projects/{target}/users/{user}/roles/{role}",
            get(role_assignments::project_check)
                .put(role_assignments::project_grant)
                .delete(role_assignments::project_revoke),
        )
        .route(
            "/v3/domains/{target}/users/{user}/roles",
            get(role_assignments::domain_roles),
        )
        .route(
            "/v3/domains/{target}/users/{user}/roles/{role}",
            get(role_assignments::domain_check)
                .put(role_assignments::domain_grant)
                .delete(role_assignments::domain_revoke),
        )
        .route("/v3/role_assignments", get(role_assignments::list))
        .route("/v3/services", get(services::services))
        .route("/v3/endpoints", get(services::endpoints))
        .route_layer(identity.auth_layer());
    Router::new()
        .route("/", get(versions::versions))
        .route("/v3", get(versions::v3))
        .route(
            "/v3/auth/tokens",
            post(auth_tokens::issue)
                .get(auth_tokens::validate)
                .delete(auth_tokens::revoke),
        )
        .merge(authed)
        .fallback(wire::not_found)
        .layer(render_errors(ErrorStyle::Keystone))
        .with_state(identity)
}
