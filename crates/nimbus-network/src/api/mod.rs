//! HTTP: Neutron v2.0's routes, thin handlers over `app/`, errors in
//! Neutron's shape. Every route but version discovery needs an
//! authenticated [`nimbus_common::RequestContext`] (inserted by the
//! identity layer).

mod agents;
mod extensions;
mod floatingips;
pub mod list;
mod networks;
mod ports;
mod quotas;
mod routers;
mod security_groups;
mod subnets;
pub mod wire;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use nimbus_common::{ApiError, ErrorStyle, render_errors};
use serde_json::{Value, json};

use crate::app::NetworkService;

/// What every handler shares: the service and the public base URL.
#[derive(Clone)]
pub struct Api {
    svc: NetworkService,
    base: String,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}/network/v2.0/{path}", self.base)
    }
}

/// Neutron under its mount point (`/network`): version discovery, open to
/// all, and the v2.0 API, which `authenticate` wraps (the binary passes the
/// identity service's auth layer; it must insert a [`RequestContext`]).
///
/// [`RequestContext`]: nimbus_common::RequestContext
pub fn router(
    service: NetworkService,
    public_url: &str,
    authenticate: impl FnOnce(Router) -> Router,
) -> Router {
    let base = public_url.trim_end_matches('/').to_string();
    let state = Api {
        svc: service,
        base: base.clone(),
    };
    Router::new()
        .route(
            "/",
            get(move || async move {
                axum::Json(json!({"versions": [{
                    "id": "v2.0",
                    "status": "CURRENT",
                    "links": [{"href": format!("{base}/network/v2.0/"), "rel": "self"}],
                }]}))
            }),
        )
        .merge(authenticate(v2_routes(state)))
        .fallback(|| async { ApiError::not_found("The resource could not be found.") })
        .layer(render_errors(ErrorStyle::Neutron))
}

fn v2_routes(state: Api) -> Router {
    Router::new()
        .route("/v2.0", get(resources))
        .route("/v2.0/extensions", get(extensions::list))
        .route("/v2.0/extensions/{alias}", get(extensions::show))
        .route("/v2.0/agents", get(agents::list))
        .route(
            "/v2.0/agents/{id}",
            get(agents::show).put(agents::update).delete(agents::delete),
        )
        .route("/v2.0/networks", get(networks::list).post(networks::create))
        .route(
            "/v2.0/networks/{id}",
            get(networks::show)
                .put(networks::update)
                .delete(networks::delete),
        )
        .route("/v2.0/subnets", get(subnets::list).post(subnets::create))
        .route(
            "/v2.0/subnets/{id}",
            get(subnets::show)
                .put(subnets::update)
                .delete(subnets::delete),
        )
        .route("/v2.0/ports", get(ports::list).post(ports::create))
        .route(
            "/v2.0/ports/{id}",
            get(ports::show).put(ports::update).delete(ports::delete),
        )
        .route("/v2.0/routers", get(routers::list).post(routers::create))
        .route(
            "/v2.0/routers/{id}",
            get(routers::show)
                .put(routers::update)
                .delete(routers::delete),
        )
        .route(
            "/v2.0/routers/{id}/add_router_interface",
            put(routers::add_interface),
        )
        .route(
            "/v2.0/routers/{id}/remove_router_interface",
            put(routers::remove_interface),
        )
        .route(
            "/v2.0/floatingips",
            get(floatingips::list).post(floatingips::create),
        )
        .route(
            "/v2.0/floatingips/{id}",
            get(floatingips::show)
                .put(floatingips::update)
                .delete(floatingips::delete),
        )
        .route(
            "/v2.0/security-groups",
            get(security_groups::list).post(security_groups::create),
        )
        .route(
            "/v2.0/security-groups/{id}",
            get(security_groups::show)
                .put(security_groups::update)
                .delete(security_groups::delete),
        )
        .route(
            "/v2.0/security-group-rules",
            get(security_groups::rule_list).post(security_groups::rule_create),
        )
        .route(
            "/v2.0/security-group-rules/{id}",
            get(security_groups::rule_show).delete(security_groups::rule_delete),
        )
        .route("/v2.0/quotas", get(quotas::list))
        .route(
            "/v2.0/quotas/{project}",
            get(quotas::show).put(quotas::update).delete(quotas::delete),
        )
        .route("/v2.0/quotas/{project}/default", get(quotas::defaults))
        .route("/v2.0/quotas/{project}/details", get(quotas::details))
        .with_state(state)
}

/// The resource collections this API serves.
const COLLECTIONS: [(&str, &str); 9] = [
    ("network", "networks"),
    ("subnet", "subnets"),
    ("port", "ports"),
    ("router", "routers"),
    ("floatingip", "floatingips"),
    ("security_group", "security-groups"),
    ("security_group_rule", "security-group-rules"),
    ("quota", "quotas"),
    ("agent", "agents"),
];

/// `GET /v2.0`.
async fn resources(
    axum::extract::State(api): axum::extract::State<Api>,
    _ctx: nimbus_common::RequestContext,
) -> axum::Json<Value> {
    let resources: Vec<Value> = COLLECTIONS
        .iter()
        .map(|(name, collection)| {
            json!({"name": name, "collection": collection,
                   "links": [{"href": api.url(collection), "rel": "self"}]})
        })
        .collect();
    axum::Json(json!({ "resources": resources }))
}

/// `{key: value}` with a status.
fn reply(status: StatusCode, key: &str, value: Value) -> Response {
    let mut body = serde_json::Map::new();
    body.insert(key.to_string(), value);
    (status, axum::Json(Value::Object(body))).into_response()
}

/// A shown resource, narrowed to `fields` when asked.
fn shown(key: &str, query: &[(String, String)], value: Value) -> Response {
    let fields: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.as_str())
        .collect();
    let value = if fields.is_empty() {
        value
    } else {
        list::project_fields(value, &fields)
    };
    reply(StatusCode::OK, key, value)
}

/// Query parameters as pairs, in order.
type Pairs = Vec<(String, String)>;
