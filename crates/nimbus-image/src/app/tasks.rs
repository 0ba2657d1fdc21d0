//! Import tasks, as glance records them: one `api_image_import` task per
//! `POST /v2/images/{id}/import`, `processing` while the data moves, then
//! `success` or `failure` with the reason, kept for glance's
//! `task_time_to_live` (48 hours) after it ends.

use nimbus_common::{ApiError, RequestContext};
use nimbus_db::now_micros;
use serde_json::json;

use super::ImageService;
use crate::store::tasks::{self as store, Task};

/// How long a finished task stays listed (glance's `task_time_to_live`).
const TASK_TTL_MICROS: i64 = 48 * 3600 * 1_000_000;

impl ImageService {
    /// Records the start of an import of `image_id` by `method` into `store`.
    pub(crate) async fn task_begin(
        &self,
        ctx: &RequestContext,
        image_id: &str,
        method: &str,
        store: &str,
    ) -> Result<String, ApiError> {
        let now = now_micros();
        let task = Task {
            id: uuid::Uuid::new_v4().to_string(),
            task_type: "api_image_import".into(),
            status: "processing".into(),
            owner: ctx.project_id.clone(),
            image_id: image_id.into(),
            input: json!({
                "image_id": image_id,
                "import_req": {"method": {"name": method}, "stores": [store]},
                "backend": [store],
            })
            .to_string(),
            result: None,
            message: String::new(),
            request_id: ctx.request_id.clone(),
            user_id: ctx.user_id.clone(),
            created_at: now,
            updated_at: now,
            expires_at: None,
        };
        store::task_insert(self.pool(), &task).await?;
        Ok(task.id)
    }

    /// Ends task `id`: `success`, or `failure` with `error`'s message.
    pub(crate) async fn task_end(&self, id: &str, image_id: &str, error: Option<&ApiError>) {
        let now = now_micros();
        let (status, result, message) = match error {
            None => (
                "success",
                Some(json!({"image_id": image_id}).to_string()),
                String::new(),
            ),
            Some(e) => ("failure", None, e.message().to_string()),
        };
        if let Err(e) = store::task_finish(
            self.pool(),
            id,
            status,
            result.as_deref(),
            &message,
            now,
            now + TASK_TTL_MICROS,
        )
        .await
        {
            tracing::warn!(task = %id, error = %e, "recording the end of an import task failed");
        }
    }

    /// Forgets task `id` of an import refused before it started.
    pub(crate) async fn task_discard(&self, id: &str) {
        if let Err(e) = store::task_delete(self.pool(), id).await {
            tracing::warn!(task = %id, error = %e, "removing a refused import task failed");
        }
    }

    /// `GET /v2/images/{id}/tasks`: the tasks of an image the caller sees.
    pub async fn image_tasks(&self, ctx: &RequestContext, id: &str) -> Result<Vec<Task>, ApiError> {
        let image = self.image_visible(ctx, id).await?;
        Ok(store::tasks_for_image(self.pool(), &image.id, now_micros()).await?)
    }
}
