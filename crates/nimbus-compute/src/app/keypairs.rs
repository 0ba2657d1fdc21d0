//! Key pairs: owned by a user; admins may act on another user's (2.10).

use nimbus_common::{ApiError, RequestContext};

use crate::app::ComputeService;
use crate::app::quotas;
use crate::app::sshkey;
use crate::store::keypairs as store;

/// A stored key pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keypair {
    /// Owner.
    pub user_id: String,
    /// Name, unique per user.
    pub name: String,
    /// Nova's integer id.
    pub id: i64,
    /// `ssh` or `x509` (2.2).
    pub key_type: String,
    /// The public key (OpenSSH line or PEM certificate).
    pub public_key: String,
    /// MD5 (ssh) or SHA-1 (x509) colon hex.
    pub fingerprint: String,
    /// Creation time, microseconds since the epoch.
    pub created_at: i64,
}

/// What `POST /os-keypairs` asks for, already validated for its version.
#[derive(Debug, Clone)]
pub struct NewKeypair {
    /// Name.
    pub name: String,
    /// `ssh` or `x509`.
    pub key_type: String,
    /// The key to import; `None` asks for a generated one (before 2.92).
    pub public_key: Option<String>,
    /// Another user's id (2.10, admins).
    pub user_id: Option<String>,
}

/// The key pair a server create names: the caller's own, or 400
/// "Invalid key_name provided." as nova's server create says.
pub async fn keypair_for_boot(
    svc: &ComputeService,
    ctx: &RequestContext,
    name: &str,
) -> Result<Keypair, ApiError> {
    store::keypair_get(svc.db(), &ctx.user_id, name)
        .await?
        .ok_or_else(|| ApiError::bad_request("Invalid key_name provided."))
}

/// The user a request acts for: the caller, or `user_id` for admins (nova's
/// policies allow the owner or an admin).
fn target_user<'a>(
    ctx: &'a RequestContext,
    user_id: Option<&'a str>,
    action: &str,
) -> Result<&'a str, ApiError> {
    match user_id {
        Some(user) if user != ctx.user_id => {
            ctx.require_admin(&format!("os_compute_api:os-keypairs:{action}"))?;
            Ok(user)
        }
        _ => Ok(&ctx.user_id),
    }
}

fn not_found(name: &str, user: &str) -> ApiError {
    ApiError::not_found(format!("Keypair {name} not found for user {user}"))
}

/// Imports or generates a key pair. Returns it with the generated private
/// key, if any.
pub async fn keypair_create(
    svc: &ComputeService,
    ctx: &RequestContext,
    new: NewKeypair,
) -> Result<(Keypair, Option<String>), ApiError> {
    let user = target_user(ctx, new.user_id.as_deref(), "create")?.to_string();
    let limit = quotas::limit_of(svc, ctx.project_id.as_deref(), Some(&user), "key_pairs").await?;
    if limit >= 0 && store::keypair_count(svc.db(), &user).await? >= limit {
        return Err(ApiError::forbidden("Quota exceeded, too many key pairs."));
    }
    let invalid =
        |e: sshkey::InvalidKey| ApiError::bad_request(format!("Keypair data is invalid: {e}"));
    let (public_key, fingerprint, private_key) = match new.public_key {
        Some(key) if new.key_type == "x509" => {
            let fingerprint = sshkey::x509_fingerprint(&key).map_err(invalid)?;
            (key, fingerprint, None)
        }
        Some(key) => {
            let fingerprint = sshkey::ssh_fingerprint(&key).map_err(invalid)?;
            (key, fingerprint, None)
        }
        None if new.key_type == "x509" => {
            let generated = super::x509::generate(&user)
                .await
                .map_err(ApiError::internal)?;
            (
                generated.certificate,
                generated.fingerprint,
                Some(generated.private_key),
            )
        }
        None => {
            let generated = tokio::task::spawn_blocking(sshkey::generate_rsa)
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
            (
                generated.public_key,
                generated.fingerprint,
                Some(generated.private_key),
            )
        }
    };
    let keypair = Keypair {
        user_id: user,
        name: new.name,
        id: 0,
        key_type: new.key_type,
        public_key,
        fingerprint,
        created_at: chrono::Utc::now().timestamp_micros(),
    };
    if !store::keypair_insert(svc.db(), &keypair).await? {
        return Err(ApiError::conflict(format!(
            "Key pair '{}' already exists.",
            keypair.name
        )));
    }
    let stored = store::keypair_get(svc.db(), &keypair.user_id, &keypair.name)
        .await?
        .ok_or_else(|| not_found(&keypair.name, &keypair.user_id))?;
    Ok((stored, private_key))
}

/// One key pair of the caller (or, for admins, of `user_id`).
pub async fn keypair_get(
    svc: &ComputeService,
    ctx: &RequestContext,
    name: &str,
    user_id: Option<&str>,
) -> Result<Keypair, ApiError> {
    let user = target_user(ctx, user_id, "show")?;
    store::keypair_get(svc.db(), user, name)
        .await?
        .ok_or_else(|| not_found(name, user))
}

/// A page of key pairs by name (marker: a name; 400 when it does not exist).
pub async fn keypair_list(
    svc: &ComputeService,
    ctx: &RequestContext,
    user_id: Option<&str>,
    marker: Option<&str>,
    limit: usize,
) -> Result<Vec<Keypair>, ApiError> {
    let user = target_user(ctx, user_id, "index")?;
    if let Some(marker) = marker
        && store::keypair_get(svc.db(), user, marker).await?.is_none()
    {
        return Err(ApiError::bad_request(format!(
            "Marker {marker} could not be found."
        )));
    }
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(store::keypair_list(svc.db(), user, marker, limit).await?)
}

/// Deletes a key pair.
pub async fn keypair_delete(
    svc: &ComputeService,
    ctx: &RequestContext,
    name: &str,
    user_id: Option<&str>,
) -> Result<(), ApiError> {
    let user = target_user(ctx, user_id, "delete")?;
    if !store::keypair_delete(svc.db(), user, name).await? {
        return Err(not_found(name, user));
    }
    Ok(())
}

/// How many key pairs `user_id` has (quota usage).
pub async fn keypair_count(svc: &ComputeService, user_id: &str) -> Result<i64, ApiError> {
    Ok(store::keypair_count(svc.db(), user_id).await?)
}
