//! Who may see and change an image (Glance's default policy): admins
//! everything; owners their images; everyone public and community images;
//! members the shared images they are members of. An image the caller may
//! not see is 404, exactly like a missing one.

use nimbus_common::{ApiError, RequestContext};

use super::ImageService;
use super::model::{Image, Visibility};
use crate::store;

/// Whether the caller owns `image`.
pub fn is_owner(ctx: &RequestContext, image: &Image) -> bool {
    ctx.project_id.is_some() && ctx.project_id == image.owner
}

/// Whether the caller may change `image` (metadata, data, tags, members).
pub fn may_modify(ctx: &RequestContext, image: &Image) -> bool {
    ctx.is_admin() || (is_owner(ctx, image) && ctx.can_write())
}

/// 404 for an image nobody could find.
pub fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("No image found with ID {id}"))
}

impl ImageService {
    /// The image `id` if the caller may see it, else 404.
    pub async fn image_visible(&self, ctx: &RequestContext, id: &str) -> Result<Image, ApiError> {
        if !ctx.can_read() {
            return Err(ApiError::policy("get_image"));
        }
        let Some(image) = store::images::image_get(self.pool(), id).await? else {
            return Err(not_found(id));
        };
        if ctx.is_admin() || is_owner(ctx, &image) {
            return Ok(image);
        }
        let visible = match image.visibility {
            Visibility::Public | Visibility::Community => true,
            Visibility::Private => false,
            Visibility::Shared => match &ctx.project_id {
                Some(p) => store::members::member_get(self.pool(), id, p)
                    .await?
                    .is_some(),
                None => false,
            },
        };
        if visible {
            Ok(image)
        } else {
            Err(not_found(id))
        }
    }

    /// The image `id` if the caller may change it: 404 when it cannot see
    /// it, 403 when it can see but not change it.
    pub async fn image_modifiable(
        &self,
        ctx: &RequestContext,
        id: &str,
        action: &str,
    ) -> Result<Image, ApiError> {
        let image = self.image_visible(ctx, id).await?;
        if may_modify(ctx, &image) {
            Ok(image)
        } else {
            Err(ApiError::forbidden(format!(
                "You are not permitted to {action} this image."
            )))
        }
    }
}
