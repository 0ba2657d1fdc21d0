//! Volume types: `__DEFAULT__` always exists; admins may add and remove
//! others (names and descriptions only: one backend serves them all).

use std::collections::BTreeMap;

use nimbus_common::{ApiError, RequestContext};

use super::model::{DEFAULT_TYPE, VolumeType};
use super::{VolumeService, check_text, new_id, require_read};
use crate::store;

fn type_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Volume type {id} could not be found."))
}

impl VolumeService {
    /// Types the caller may see (private ones only for admins).
    pub async fn type_list(&self, ctx: &RequestContext) -> Result<Vec<VolumeType>, ApiError> {
        require_read(ctx, "volume_extension:types_manage")?;
        let all = store::types::type_list(self.pool()).await?;
        Ok(all
            .into_iter()
            .filter(|t| t.is_public || ctx.is_admin())
            .collect())
    }

    /// One type by id (or name); `default` is the default type.
    pub async fn type_get(&self, ctx: &RequestContext, id: &str) -> Result<VolumeType, ApiError> {
        require_read(ctx, "volume_extension:types_manage")?;
        let key = if id == "default" { DEFAULT_TYPE } else { id };
        match store::types::type_find(self.pool(), key).await? {
            Some(t) if t.is_public || ctx.is_admin() => Ok(t),
            _ => Err(type_not_found(id)),
        }
    }

    /// `POST /types` (admin).
    pub async fn type_create(
        &self,
        ctx: &RequestContext,
        name: &str,
        description: Option<String>,
        is_public: bool,
        extra_specs: BTreeMap<String, String>,
    ) -> Result<VolumeType, ApiError> {
        ctx.require_admin("volume_extension:types_manage")?;
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 255 {
            return Err(ApiError::bad_request(
                "Invalid input for field/attribute name.",
            ));
        }
        let t = VolumeType {
            id: new_id(),
            name: name.to_string(),
            description: check_text("description", description.as_deref())?,
            is_public,
            extra_specs,
        };
        if !store::types::type_create(self.pool(), &t).await? {
            return Err(ApiError::conflict(format!(
                "Volume Type {name} already exists."
            )));
        }
        Ok(t)
    }

    /// `DELETE /types/{id}` (admin): not the default, not one in use.
    pub async fn type_delete(&self, ctx: &RequestContext, id: &str) -> Result<(), ApiError> {
        ctx.require_admin("volume_extension:types_manage")?;
        let t = store::types::type_find(self.pool(), id)
            .await?
            .ok_or_else(|| type_not_found(id))?;
        if t.name == DEFAULT_TYPE {
            return Err(ApiError::bad_request(
                "Default volume type can not be deleted",
            ));
        }
        if !store::types::type_delete(self.pool(), &t.id).await? {
            return Err(ApiError::bad_request(format!(
                "Target volume type is still in use. Volume Type {} deletion is not allowed with volumes present with the type.",
                t.id
            )));
        }
        Ok(())
    }
}

impl VolumeService {
    /// The name of type `id` (what volume views show).
    pub async fn type_name(&self, id: &str) -> Result<String, ApiError> {
        Ok(store::types::type_find(self.pool(), id)
            .await?
            .map(|t| t.name)
            .unwrap_or_else(|| id.to_string()))
    }
}
