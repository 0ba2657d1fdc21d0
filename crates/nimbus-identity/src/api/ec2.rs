//! `/v3/users/{id}/credentials/OS-EC2`.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use nimbus_common::{ApiError, Json, RequestContext};
use serde::Deserialize;
use serde_json::{Value, json};

use super::wire::list_links;
use crate::app::Identity;
use crate::app::ec2::Ec2Credential;
use crate::token::TokenPayload;

#[derive(Debug, Deserialize)]
pub struct CreateBody {
    tenant_id: String,
}

fn ec2_json(base: &str, c: &Ec2Credential) -> Value {
    json!({
        "user_id": c.user_id,
        "tenant_id": c.project_id,
        "access": c.blob.access,
        "secret": c.blob.secret,
        "trust_id": c.blob.trust_id,
        "links": {"self": format!("{base}/identity/v3/users/{}/credentials/OS-EC2/{}", c.user_id, c.blob.access)},
    })
}

pub async fn list(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Extension(token): Extension<TokenPayload>,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let creds = identity.ec2_list(&ctx, &token, &user_id).await?;
    let base = identity.public_url();
    Ok(Json(json!({
        "credentials": creds.iter().map(|c| ec2_json(base, c)).collect::<Vec<_>>(),
        "links": list_links(base, &format!("users/{user_id}/credentials/OS-EC2")),
    })))
}

pub async fn create(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Extension(token): Extension<TokenPayload>,
    Path(user_id): Path<String>,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let cred = identity
        .ec2_create(&ctx, &token, &user_id, &body.tenant_id)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"credential": ec2_json(identity.public_url(), &cred)})),
    ))
}

pub async fn show(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Extension(token): Extension<TokenPayload>,
    Path((user_id, access)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let cred = identity.ec2_get(&ctx, &token, &user_id, &access).await?;
    Ok(Json(
        json!({"credential": ec2_json(identity.public_url(), &cred)}),
    ))
}

pub async fn delete(
    State(identity): State<Identity>,
    ctx: RequestContext,
    Extension(token): Extension<TokenPayload>,
    Path((user_id, access)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    identity.ec2_delete(&ctx, &token, &user_id, &access).await?;
    Ok(StatusCode::NO_CONTENT)
}
