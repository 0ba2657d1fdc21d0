//! One error type for every service, rendered in each OpenStack service's own
//! error body. The message is what the client sees; the internal detail goes
//! to the log only.

use axum::body::{Body, to_bytes};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What went wrong, in HTTP terms. Each kind has one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// 400: the request is malformed or invalid.
    BadRequest,
    /// 401: no valid credentials.
    Unauthenticated,
    /// 403: authenticated, but not allowed.
    Forbidden,
    /// 404: no such resource (or one the caller may not see).
    NotFound,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 406: e.g. a microversion outside the supported range.
    NotAcceptable,
    /// 409: the resource is in a state that forbids the request.
    Conflict,
    /// 410: the API was removed (nova's `wsgi.removed`).
    Gone,
    /// 413: request body too large, or a quota exceeded (Nova's `overLimit`).
    PayloadTooLarge,
    /// 413 in Nova's `overLimit` sense: a quota or limit was exceeded.
    OverLimit,
    /// 415: content type not accepted.
    UnsupportedMediaType,
    /// 416: a `Range` the resource cannot satisfy.
    RangeNotSatisfiable,
    /// 500: a bug or an unexpected failure; details are only logged.
    Internal,
    /// 501: not implemented.
    NotImplemented,
    /// 503: a dependency is unavailable.
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status of this kind.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Gone => StatusCode::GONE,
            ErrorKind::PayloadTooLarge | ErrorKind::OverLimit => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn from_status(status: StatusCode) -> ErrorKind {
        match status.as_u16() {
            400 => ErrorKind::BadRequest,
            401 => ErrorKind::Unauthenticated,
            403 => ErrorKind::Forbidden,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::MethodNotAllowed,
            406 => ErrorKind::NotAcceptable,
            409 => ErrorKind::Conflict,
            410 => ErrorKind::Gone,
            413 => ErrorKind::PayloadTooLarge,
            415 => ErrorKind::UnsupportedMediaType,
            416 => ErrorKind::RangeNotSatisfiable,
            501 => ErrorKind::NotImplemented,
            503 => ErrorKind::Unavailable,
            s if (400..500).contains(&s) => ErrorKind::BadRequest,
            _ => ErrorKind::Internal,
        }
    }

    fn default_message(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "The request is invalid.",
            ErrorKind::Unauthenticated => "The request you have made requires authentication.",
            ErrorKind::Forbidden => "You are not authorized to perform the requested action.",
            ErrorKind::NotFound => "The resource could not be found.",
            ErrorKind::MethodNotAllowed => "The method is not allowed for this resource.",
            ErrorKind::NotAcceptable => "The requested version is not supported.",
            ErrorKind::Conflict => "The request conflicts with the current state of the resource.",
            ErrorKind::Gone => "This resource is no longer available.",
            ErrorKind::PayloadTooLarge => "Request is too large.",
            ErrorKind::OverLimit => "Quota exceeded.",
            ErrorKind::UnsupportedMediaType => "The content type is not supported.",
            ErrorKind::RangeNotSatisfiable => "The requested range is not satisfiable.",
            ErrorKind::Internal => {
                "An unexpected error prevented the server from fulfilling your request."
            }
            ErrorKind::NotImplemented => "Not implemented.",
            ErrorKind::Unavailable => "The service is temporarily unavailable.",
        }
    }
}

/// The error every handler returns. `message` is shown to the client,
/// `detail` (a cause, a path, a database error) is only logged.
#[derive(Debug, Clone)]
pub struct ApiError {
    kind: ErrorKind,
    message: String,
    detail: Option<String>,
    neutron_type: Option<String>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error of `kind` with a client-facing message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            detail: None,
            neutron_type: None,
            headers: Vec::new(),
        }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::BadRequest, message)
    }
    /// 401 with Keystone's standard message.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            ErrorKind::Unauthenticated,
            ErrorKind::Unauthenticated.default_message(),
        )
    }
    /// 403 with a message.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Forbidden, message)
    }
    /// 403 for a caller lacking the role an action needs.
    pub fn policy(action: &str) -> ApiError {
        ApiError::forbidden(format!("Policy doesn't allow {action} to be performed."))
    }
    /// 404 with a message.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::NotFound, message)
    }
    /// 409 with a message.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Conflict, message)
    }
    /// 413 in the quota sense.
    pub fn over_limit(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::OverLimit, message)
    }
    /// 413 for a request body over the size limit.
    pub fn payload_too_large() -> ApiError {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            ErrorKind::PayloadTooLarge.default_message(),
        )
    }
    /// 415 with a message.
    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::UnsupportedMediaType, message)
    }
    /// 406 with a message.
    pub fn not_acceptable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::NotAcceptable, message)
    }
    /// 503 with a message.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Unavailable, message)
    }
    /// 500: the client sees a generic message, `detail` goes to the log.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        ApiError::new(ErrorKind::Internal, ErrorKind::Internal.default_message())
            .with_detail(detail)
    }

    /// Attaches internal detail (logged, never sent).
    pub fn with_detail(mut self, detail: impl std::fmt::Display) -> ApiError {
        self.detail = Some(detail.to_string());
        self
    }
    /// Sets the `type` Neutron puts in its error body (`NetworkNotFound`, ...).
    pub fn with_neutron_type(mut self, ty: impl Into<String>) -> ApiError {
        self.neutron_type = Some(ty.into());
        self
    }
    /// Adds a response header (`WWW-Authenticate`, `Retry-After`, ...).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }

    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The client-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// An error for a bare status (a router 404/405, a framework rejection).
    pub fn from_status(status: StatusCode) -> ApiError {
        let kind = ErrorKind::from_status(status);
        ApiError::new(kind, kind.default_message())
    }

    /// Renders this error as `style`'s body.
    pub fn render(&self, style: ErrorStyle) -> Response {
        if let Some(detail) = &self.detail {
            if self.kind == ErrorKind::Internal {
                tracing::error!(status = self.status().as_u16(), detail = %detail, "{}", self.message);
            } else {
                tracing::info!(status = self.status().as_u16(), detail = %detail, "{}", self.message);
            }
        }
        let status = self.status();
        let code = status.as_u16();
        let title = status.canonical_reason().unwrap_or("Error");
        let body = match style {
            ErrorStyle::Keystone => {
                json!({"error": {"code": code, "message": self.message, "title": title}})
            }
            ErrorStyle::Nova | ErrorStyle::Cinder => {
                json!({ nova_fault_name(code): {"code": code, "message": self.message} })
            }
            ErrorStyle::Glance => json!({
                "message": self.message,
                "code": format!("{code} {title}"),
                "title": title,
            }),
            ErrorStyle::Neutron => {
                let ty = self
                    .neutron_type
                    .clone()
                    .unwrap_or_else(|| format!("HTTP{}", title.replace([' ', '-'], "")));
                json!({"NeutronError": {"type": ty, "message": self.message, "detail": ""}})
            }
        };
        let mut response = (status, axum::Json(body)).into_response();
        for (name, value) in &self.headers {
            response.headers_mut().append(name.clone(), value.clone());
        }
        response.extensions_mut().insert(Rendered);
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status().as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

/// Nova's and Cinder's fault key for a status (`nova/api/openstack/wsgi.py`).
fn nova_fault_name(code: u16) -> &'static str {
    match code {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        406 => "notAcceptable",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "computeFault",
    }
}

/// Whose error body shape to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// `{"error": {"code", "message", "title"}}`
    Keystone,
    /// `{"itemNotFound": {"code", "message"}}` and the other Nova fault names.
    Nova,
    /// webob's JSON shape: `{"message", "code": "404 Not Found", "title"}`.
    Glance,
    /// Same fault names as Nova.
    Cinder,
    /// `{"NeutronError": {"type", "message", "detail"}}`
    Neutron,
}

/// Marks a response whose error body is final.
#[derive(Debug, Clone, Copy)]
struct Rendered;

impl IntoResponse for ApiError {
    /// Without a style layer the error renders in Keystone's shape; a
    /// [`render_errors`] layer re-renders it in its service's shape.
    fn into_response(self) -> Response {
        let status = self.status();
        let headers = self.headers.clone();
        let mut response = (status, self.message.clone()).into_response();
        for (name, value) in headers {
            response.headers_mut().append(name, value);
        }
        response.extensions_mut().insert(self);
        response
    }
}

/// A layer that renders every error response of a router in `style`'s shape:
/// [`ApiError`]s, and framework errors (unknown route 404, 405, rejected
/// extractors) that carry only a status and a short text.
pub fn render_errors(style: ErrorStyle) -> RenderErrors {
    RenderErrors { style }
}

/// The layer [`render_errors`] returns.
#[derive(Debug, Clone, Copy)]
pub struct RenderErrors {
    style: ErrorStyle,
}

impl<S> tower::Layer<S> for RenderErrors {
    type Service = RenderErrorsService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RenderErrorsService {
            inner,
            style: self.style,
        }
    }
}

/// The service [`RenderErrors`] wraps around a route.
#[derive(Debug, Clone)]
pub struct RenderErrorsService<S> {
    inner: S,
    style: ErrorStyle,
}

impl<S> tower::Service<axum::extract::Request> for RenderErrorsService<S>
where
    S: tower::Service<axum::extract::Request, Response = Response, Error = Infallible>
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let style = self.style;
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            Ok(restyle(style, response).await)
        })
    }
}

/// Framework error texts longer than this are replaced by the generic message.
const MAX_FRAMEWORK_TEXT: usize = 1024;

async fn restyle(style: ErrorStyle, mut response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<Rendered>().is_some()
    {
        return response;
    }
    let error = match response.extensions_mut().remove::<ApiError>() {
        Some(error) => error,
        None => {
            let is_text = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("text/plain"));
            let mut error = ApiError::from_status(status);
            if is_text {
                let (_, body) = std::mem::take(&mut response).into_parts();
                if let Ok(bytes) = to_bytes(Body::new(body), MAX_FRAMEWORK_TEXT).await {
                    let text = String::from_utf8_lossy(&bytes).trim().to_string();
                    if !text.is_empty() {
                        error.message = text;
                    }
                }
            }
            error
        }
    };
    let mut rendered = error.render(style);
    // Keep headers the original response set (Allow, WWW-Authenticate, ...).
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !rendered.headers().contains_key(name)
        {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}

/// An error and its causes on one line (`outer: inner: root`), for logs
/// and internal details.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut detail = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    detail
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn body_json(response: Response) -> serde_json::Value {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn each_style_has_its_services_shape() {
        let err = ApiError::not_found("No such thing.");
        let nova = body_json(err.render(ErrorStyle::Nova)).await;
        assert_eq!(nova["itemNotFound"]["code"], 404);
        assert_eq!(nova["itemNotFound"]["message"], "No such thing.");
        let ks = body_json(err.render(ErrorStyle::Keystone)).await;
        assert_eq!(ks["error"]["title"], "Not Found");
        let neutron = body_json(
            err.clone()
                .with_neutron_type("NetworkNotFound")
                .render(ErrorStyle::Neutron),
        )
        .await;
        assert_eq!(neutron["NeutronError"]["type"], "NetworkNotFound");
        let glance = body_json(err.render(ErrorStyle::Glance)).await;
        assert_eq!(glance["code"], "404 Not Found");
        let conflict = body_json(ApiError::conflict("busy").render(ErrorStyle::Cinder)).await;
        assert_eq!(conflict["conflictingRequest"]["code"], 409);
    }

    #[tokio::test]
    async fn internal_detail_is_not_sent() {
        let err = ApiError::internal("db password wrong at /etc/secret");
        let body = body_json(err.render(ErrorStyle::Nova)).await;
        let text = body.to_string();
        assert!(!text.contains("secret"), "{text}");
        assert_eq!(body["computeFault"]["code"], 500);
    }

    #[tokio::test]
    async fn layer_renders_handler_errors_and_unknown_routes() {
        let app = Router::new()
            .route(
                "/x",
                get(|| async { Err::<(), _>(ApiError::conflict("in use")) }),
            )
            .fallback(|| async { ApiError::not_found("The resource could not be found.") })
            .layer(render_errors(ErrorStyle::Nova));
        let req = |uri: &str| {
            axum::http::Request::builder()
                .uri(uri)
                .body(Body::empty())
                .unwrap()
        };
        let response = app.clone().oneshot(req("/x")).await.unwrap();
        assert_eq!(response.status(), 409);
        assert_eq!(
            body_json(response).await["conflictingRequest"]["message"],
            "in use"
        );
        let response = app.clone().oneshot(req("/nope")).await.unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(body_json(response).await["itemNotFound"]["code"], 404);
        let post = axum::http::Request::builder()
            .method("POST")
            .uri("/x")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(post).await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(body_json(response).await["badMethod"]["code"], 405);
    }

    #[test]
    fn error_chain_joins_every_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("opening the disk")]
        struct Outer(#[source] std::io::Error);
        let err = Outer(std::io::Error::other("permission denied"));
        assert_eq!(error_chain(&err), "opening the disk: permission denied");
    }
}
