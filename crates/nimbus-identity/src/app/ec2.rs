//! EC2 credentials (`/v3/users/{id}/credentials/OS-EC2`): an access and
//! secret pair for one project, kept as Keystone keeps them, in the
//! credential table with type `ec2` and the sha256 of the access key as id.

use nimbus_common::{ApiError, RequestContext};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Identity;
use super::app_creds::require_unrestricted;
use super::resources::not_found;
use crate::model::Credential;
use crate::store;
use crate::token::TokenPayload;

/// The credential type of EC2 keys.
pub const EC2: &str = "ec2";

/// The JSON blob of an EC2 credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ec2Blob {
    /// Access key.
    pub access: String,
    /// Secret key.
    pub secret: String,
    /// Always null here (no trusts).
    #[serde(default)]
    pub trust_id: Option<String>,
}

/// An EC2 credential as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ec2Credential {
    /// Owner.
    pub user_id: String,
    /// Project (`tenant_id` on the wire).
    pub project_id: Option<String>,
    /// Access key, secret and trust.
    pub blob: Ec2Blob,
}

/// Keystone's credential id for an access key.
pub fn access_key_id(access: &str) -> String {
    hex::encode(Sha256::digest(access.as_bytes()))
}

fn to_ec2(c: Credential) -> Result<Ec2Credential, ApiError> {
    let blob: Ec2Blob = serde_json::from_str(&c.blob)
        .map_err(|e| ApiError::internal(format!("credential {} blob: {e}", c.id)))?;
    Ok(Ec2Credential {
        user_id: c.user_id,
        project_id: c.project_id,
        blob,
    })
}

/// A token from an application credential only reaches its own project's keys.
fn delegation_allows(token: &TokenPayload, project_id: Option<&str>) -> bool {
    token.app_cred.is_none() || (project_id.is_some() && project_id == token.project_id())
}

impl Identity {
    fn ec2_require_owner(&self, ctx: &RequestContext, user_id: &str) -> Result<(), ApiError> {
        if ctx.is_admin() || ctx.user_id == user_id {
            Ok(())
        } else {
            Err(not_found("user", user_id))
        }
    }

    async fn ec2_user_exists(&self, user_id: &str) -> Result<(), ApiError> {
        match store::users::user_get(self.pool(), user_id).await? {
            Some(_) => Ok(()),
            None => Err(not_found("user", user_id)),
        }
    }

    /// `POST .../credentials/OS-EC2` with `tenant_id`.
    pub async fn ec2_create(
        &self,
        ctx: &RequestContext,
        token: &TokenPayload,
        user_id: &str,
        project_id: &str,
    ) -> Result<Ec2Credential, ApiError> {
        self.ec2_require_owner(ctx, user_id)?;
        require_unrestricted(token)?;
        self.ec2_user_exists(user_id).await?;
        if store::projects::project_get(self.pool(), project_id)
            .await?
            .is_none()
        {
            return Err(not_found("project", project_id));
        }
        if !delegation_allows(token, Some(project_id)) {
            return Err(ApiError::forbidden(
                "EC2 credential project does not match the project scope of the delegated token",
            ));
        }
        let blob = Ec2Blob {
            access: uuid::Uuid::new_v4().simple().to_string(),
            secret: uuid::Uuid::new_v4().simple().to_string(),
            trust_id: None,
        };
        let cred = Credential {
            id: access_key_id(&blob.access),
            user_id: user_id.to_string(),
            project_id: Some(project_id.to_string()),
            kind: EC2.to_string(),
            blob: serde_json::to_string(&blob).map_err(ApiError::internal)?,
        };
        if !store::credentials::credential_create(self.pool(), &cred).await? {
            return Err(ApiError::conflict("Duplicate EC2 access key."));
        }
        to_ec2(cred)
    }

    /// `GET .../credentials/OS-EC2`.
    pub async fn ec2_list(
        &self,
        ctx: &RequestContext,
        token: &TokenPayload,
        user_id: &str,
    ) -> Result<Vec<Ec2Credential>, ApiError> {
        self.ec2_require_owner(ctx, user_id)?;
        self.ec2_user_exists(user_id).await?;
        store::credentials::credential_list(self.pool(), user_id, EC2)
            .await?
            .into_iter()
            .filter(|c| delegation_allows(token, c.project_id.as_deref()))
            .map(to_ec2)
            .collect()
    }

    /// One of the user's EC2 credentials by access key; 404 otherwise.
    async fn ec2_owned(
        &self,
        ctx: &RequestContext,
        token: &TokenPayload,
        user_id: &str,
        access: &str,
    ) -> Result<Credential, ApiError> {
        self.ec2_require_owner(ctx, user_id)?;
        self.ec2_user_exists(user_id).await?;
        let missing = || not_found("credential", access);
        let cred = store::credentials::credential_get(self.pool(), &access_key_id(access))
            .await?
            .filter(|c| c.kind == EC2 && c.user_id == user_id)
            .ok_or_else(missing)?;
        if !delegation_allows(token, cred.project_id.as_deref()) {
            return Err(ApiError::forbidden(
                "EC2 credential project does not match the project scope of the delegated token",
            ));
        }
        Ok(cred)
    }

    /// `GET .../credentials/OS-EC2/{access}`.
    pub async fn ec2_get(
        &self,
        ctx: &RequestContext,
        token: &TokenPayload,
        user_id: &str,
        access: &str,
    ) -> Result<Ec2Credential, ApiError> {
        to_ec2(self.ec2_owned(ctx, token, user_id, access).await?)
    }

    /// `DELETE .../credentials/OS-EC2/{access}`.
    pub async fn ec2_delete(
        &self,
        ctx: &RequestContext,
        token: &TokenPayload,
        user_id: &str,
        access: &str,
    ) -> Result<(), ApiError> {
        let cred = self.ec2_owned(ctx, token, user_id, access).await?;
        if !store::credentials::credential_delete(self.pool(), &cred.id).await? {
            return Err(not_found("credential", access));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_id_is_keystones_sha256_hex() {
        assert_eq!(
            access_key_id("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
