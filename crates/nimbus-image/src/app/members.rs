//! Image members (`glance/api/v2/image_members.py`): the owner shares a
//! `shared` image with projects; each member accepts or rejects it.

use nimbus_common::{ApiError, RequestContext};

use super::ImageService;
use super::images::TAG_QUOTA;
use super::model::{Image, Member, MemberStatus, Visibility};
use super::policy::{is_owner, may_modify};
use crate::store;

/// Members per image (`image_member_quota`).
const MEMBER_QUOTA: usize = TAG_QUOTA;

fn only_shared(image: &Image) -> Result<(), ApiError> {
    if image.visibility == Visibility::Shared {
        Ok(())
    } else {
        Err(ApiError::forbidden("Only shared images have members."))
    }
}

fn member_not_found(member: &str, image: &str) -> ApiError {
    ApiError::not_found(format!("{member} is not a member of image {image}"))
}

impl ImageService {
    /// `POST /v2/images/{id}/members`.
    pub async fn member_create(
        &self,
        ctx: &RequestContext,
        id: &str,
        member: &str,
    ) -> Result<Member, ApiError> {
        let image = self.image_visible(ctx, id).await?;
        if !may_modify(ctx, &image) {
            return Err(ApiError::forbidden(
                "You are not permitted to create image members for the image.",
            ));
        }
        only_shared(&image)?;
        if member.is_empty() || member.chars().count() > 255 {
            return Err(ApiError::bad_request(
                "The member must be a project id of 1 to 255 characters.",
            ));
        }
        if store::members::member_list(self.pool(), id).await?.len() >= MEMBER_QUOTA {
            return Err(ApiError::over_limit(format!(
                "Maximum number of image members ({MEMBER_QUOTA}) exceeded."
            )));
        }
        store::members::member_create(self.pool(), id, member)
            .await?
            .ok_or_else(|| {
                ApiError::conflict(format!("Member {member} already exists for image {id}."))
            })
    }

    /// `GET /v2/images/{id}/members`: all of them for the owner, only
    /// itself for a member.
    pub async fn member_list(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<Vec<Member>, ApiError> {
        let image = self.image_visible(ctx, id).await?;
        only_shared(&image)?;
        let members = store::members::member_list(self.pool(), id).await?;
        if ctx.is_admin() || is_owner(ctx, &image) {
            return Ok(members);
        }
        Ok(members
            .into_iter()
            .filter(|m| Some(&m.member_id) == ctx.project_id.as_ref())
            .collect())
    }

    /// `GET /v2/images/{id}/members/{member}`.
    pub async fn member_show(
        &self,
        ctx: &RequestContext,
        id: &str,
        member: &str,
    ) -> Result<Member, ApiError> {
        let image = self.image_visible(ctx, id).await?;
        only_shared(&image)?;
        let own = ctx.project_id.as_deref() == Some(member);
        if !(ctx.is_admin() || is_owner(ctx, &image) || own) {
            return Err(member_not_found(member, id));
        }
        store::members::member_get(self.pool(), id, member)
            .await?
            .ok_or_else(|| member_not_found(member, id))
    }

    /// `PUT /v2/images/{id}/members/{member}`: only the member answers.
    pub async fn member_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        member: &str,
        status: &str,
    ) -> Result<Member, ApiError> {
        let image = self.image_visible(ctx, id).await?;
        only_shared(&image)?;
        let status = MemberStatus::parse(status)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid status value: {status}")))?;
        if ctx.project_id.as_deref() != Some(member) {
            if is_owner(ctx, &image) || ctx.is_admin() {
                return Err(ApiError::forbidden(
                    "You are not permitted to modify 'status' on this image member.",
                ));
            }
            return Err(member_not_found(member, id));
        }
        store::members::member_update(self.pool(), id, member, status)
            .await?
            .ok_or_else(|| member_not_found(member, id))
    }

    /// `DELETE /v2/images/{id}/members/{member}`: the owner removes a member.
    pub async fn member_delete(
        &self,
        ctx: &RequestContext,
        id: &str,
        member: &str,
    ) -> Result<(), ApiError> {
        let image = self.image_visible(ctx, id).await?;
        only_shared(&image)?;
        if !may_modify(ctx, &image) {
            return Err(ApiError::forbidden(
                "You are not permitted to delete image members for the image.",
            ));
        }
        if store::members::member_delete(self.pool(), id, member).await? {
            Ok(())
        } else {
            Err(member_not_found(member, id))
        }
    }
}
