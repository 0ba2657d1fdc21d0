//! What every request goes through: a request id (header, log span,
//! extension), Prometheus metrics, and trailing-slash normalization.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use nimbus_common::RequestId;
use nimbus_common::request_id::REQUEST_ID_HEADER;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument;

/// Labels of the request counter.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    service: String,
    route: String,
    method: String,
    status: u16,
}

/// Labels of the latency histogram.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    service: String,
    route: String,
    method: String,
}

type HistogramFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// HTTP metrics, shared by every request.
#[derive(Clone)]
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
}

impl Metrics {
    /// Registers the metrics in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: HistogramFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 2.0, 16)));
        registry.register(
            "nimbus_http_requests",
            "HTTP requests by service, route, method and status",
            requests.clone(),
        );
        registry.register(
            "nimbus_http_request_duration_seconds",
            "HTTP request latency by service, route and method",
            latency.clone(),
        );
        Metrics { requests, latency }
    }
}

const SERVICES: [&str; 5] = ["identity", "image", "compute", "volume", "network"];

/// Request id, span and metrics for one request. Runs after routing, so the
/// route label is the route pattern (`/identity/v3/users/{id}`), never a raw
/// path: label cardinality stays bounded.
pub async fn observe(
    metrics: axum::extract::State<Metrics>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = RequestId::generate();
    request.extensions_mut().insert(request_id.clone());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let service = route
        .split('/')
        .nth(1)
        .filter(|s| SERVICES.contains(s))
        .unwrap_or("nimbus")
        .to_string();
    let method = request.method().as_str().to_string();
    let span = tracing::info_span!("request", id = %request_id.0, method = %method, path = %request.uri().path());
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(status, ms = elapsed.as_secs_f64() * 1000.0, "handled");
    });
    if let Ok(value) = HeaderValue::from_str(&request_id.0) {
        // Nova answers with its older header name too; clients and Tempest
        // read `x-compute-request-id` from compute responses.
        if service == "compute" {
            response
                .headers_mut()
                .insert("x-compute-request-id", value.clone());
        }
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    metrics
        .requests
        .get_or_create(&RequestLabels {
            service: service.clone(),
            route: route.clone(),
            method: method.clone(),
            status,
        })
        .inc();
    metrics
        .latency
        .get_or_create(&RouteLabels {
            service,
            route,
            method,
        })
        .observe(elapsed.as_secs_f64());
    response
}

/// `/compute/v2.1/` and `/compute/v2.1` are the same resource, as in the
/// Python services: strip one trailing slash before routing. Glance's v2
/// router does not: `GET /v2/images/` is an image with an empty id (404),
/// not the list, so its paths keep their slash; nor do nova's below its
/// version root (`GET /compute/v2.1/os-volumes/` is 404, not the list) and
/// cinder's v3 (`GET /volume/v3/{p}/volumes/` is 404; its router serves
/// `/v3/` itself).
pub fn trim_trailing_slash(mut request: Request) -> Request {
    let uri = request.uri();
    let path = uri.path();
    let nova_resource = path
        .strip_prefix("/compute/v2.1/")
        .is_some_and(|rest| !rest.is_empty());
    if path.len() > 1
        && path.ends_with('/')
        && !path.starts_with("/image/v2/")
        && !path.starts_with("/volume/v3/")
        && !nova_resource
    {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let new = match uri.query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(parsed) = new.parse() {
            *request.uri_mut() = parsed;
        }
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trimmed(path: &str) -> String {
        let request = Request::builder()
            .uri(path)
            .body(axum::body::Body::empty())
            .unwrap();
        trim_trailing_slash(request).uri().to_string()
    }

    #[test]
    fn one_trailing_slash_goes_except_under_glance_v2_nova_v21_and_cinder_v3() {
        assert_eq!(trimmed("/compute/v2.1/"), "/compute/v2.1");
        assert_eq!(
            trimmed("/network/v2.0/ports/?a=1"),
            "/network/v2.0/ports?a=1"
        );
        assert_eq!(trimmed("/image/"), "/image");
        assert_eq!(trimmed("/image/v2/images/"), "/image/v2/images/");
        assert_eq!(
            trimmed("/compute/v2.1/os-volumes/"),
            "/compute/v2.1/os-volumes/"
        );
        assert_eq!(trimmed("/volume/v3/p/volumes/"), "/volume/v3/p/volumes/");
        assert_eq!(trimmed("/"), "/");
    }
}
