//! `/v2.0/agents` (neutron's `agent` extension). Neutron lists the L2, L3,
//! DHCP and metadata agents that report to it. Nimbus runs none: the
//! service and its dataplane driver live in the `nimbus` process, so the
//! list is empty for everyone (a non-admin would see an empty list from
//! neutron too, its policy filtering every agent out) and any agent id is
//! 404.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nimbus_common::{ApiError, Json, RequestContext};
use serde_json::Value;

use super::{Api, Pairs, list};
use crate::error::{not_found, policy};

/// Neutron's `AgentNotFound`.
fn agent_not_found(id: &str) -> ApiError {
    not_found("AgentNotFound", format!("Agent {id} could not be found."))
}

/// 403 for a caller without a role on its project, as every other read.
fn require_read(ctx: &RequestContext) -> Result<(), ApiError> {
    if ctx.can_read() {
        Ok(())
    } else {
        Err(policy("get_agent"))
    }
}

/// `GET /v2.0/agents`: filters, `fields` and paging apply as to any list.
pub async fn list(
    State(api): State<Api>,
    ctx: RequestContext,
    Query(q): Query<Pairs>,
) -> Result<Response, ApiError> {
    require_read(&ctx)?;
    Ok(axum::Json(list::respond("agents", &api.url("agents"), &q, Vec::new())?).into_response())
}

/// `GET /v2.0/agents/{id}`.
pub async fn show(ctx: RequestContext, Path(id): Path<String>) -> Result<Response, ApiError> {
    require_read(&ctx)?;
    Err(agent_not_found(&id))
}

/// `PUT /v2.0/agents/{id}`.
pub async fn update(
    ctx: RequestContext,
    Path(id): Path<String>,
    Json(_body): Json<Value>,
) -> Result<Response, ApiError> {
    require_read(&ctx)?;
    Err(agent_not_found(&id))
}

/// `DELETE /v2.0/agents/{id}`.
pub async fn delete(ctx: RequestContext, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    require_read(&ctx)?;
    Err(agent_not_found(&id))
}
