//! The auth layer every service puts in front of its authenticated routes:
//! `X-Auth-Token` in, [`RequestContext`] in the request extensions out.
//! Validation is a Fernet decrypt plus the in-memory revocation list.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;
use nimbus_common::{ApiError, ErrorStyle, RequestContext, RequestId};

use crate::token::{TokenCodec, TokenPayload, TokenRejection};

/// Header clients send their token in.
pub const AUTH_TOKEN_HEADER: &str = "x-auth-token";

/// A tower layer that authenticates requests. Missing or invalid tokens get
/// 401 with `WWW-Authenticate: Keystone uri="..."` and Keystone's error
/// body, whatever the service: that is what keystonemiddleware answers in
/// front of every OpenStack service.
#[derive(Clone)]
pub struct AuthLayer {
    codec: TokenCodec,
    www_authenticate: HeaderValue,
}

impl std::fmt::Debug for AuthLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthLayer")
    }
}

impl AuthLayer {
    /// A layer validating with `codec`; `identity_url` goes in `WWW-Authenticate`.
    pub fn new(codec: TokenCodec, identity_url: &str) -> AuthLayer {
        let value = format!("Keystone uri=\"{identity_url}\"");
        AuthLayer {
            codec,
            www_authenticate: HeaderValue::from_str(&value)
                .unwrap_or_else(|_| HeaderValue::from_static("Keystone")),
        }
    }

    /// Validates the request's `X-Auth-Token`.
    pub fn check(&self, headers: &HeaderMap) -> Result<TokenPayload, ApiError> {
        let reject = |why: &str| {
            ApiError::unauthenticated()
                .with_detail(why.to_string())
                .with_header(header::WWW_AUTHENTICATE, self.www_authenticate.clone())
        };
        let token = headers
            .get(AUTH_TOKEN_HEADER)
            .ok_or_else(|| reject("no X-Auth-Token"))?
            .to_str()
            .map_err(|_| reject("X-Auth-Token is not text"))?;
        self.codec.validate(token.trim()).map_err(|r| match r {
            TokenRejection::Invalid => reject("invalid token"),
            TokenRejection::Expired => reject("expired token"),
            TokenRejection::Revoked => reject("revoked token"),
        })
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around routes.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S> std::fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthService")
    }
}

impl<S> tower::Service<Request> for AuthService<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match self.layer.check(request.headers()) {
            Ok(payload) => {
                let request_id = request
                    .extensions()
                    .get::<RequestId>()
                    .map(|r| r.0.clone())
                    .unwrap_or_default();
                let context: RequestContext = payload.context(&request_id);
                tracing::debug!(user = %context.user_id, project = ?context.project_id, "authenticated");
                request.extensions_mut().insert(context);
                // Handlers that care how the token was obtained (an
                // application credential) read the payload itself.
                request.extensions_mut().insert(payload);
                Box::pin(self.inner.call(request))
            }
            Err(error) => {
                let response = error.render(ErrorStyle::Keystone);
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// `X-Subject-Token`, for the token API.
pub fn subject_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(HeaderName::from_static("x-subject-token"))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request("X-Subject-Token is required."))
}
