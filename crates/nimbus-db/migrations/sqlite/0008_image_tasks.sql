-- Image service (Glance v2): the tasks an import runs (glance's `tasks`
-- table, type api_image_import), listed by GET /v2/images/{id}/tasks.
-- Timestamps are microseconds since the epoch; input and result are JSON.
CREATE TABLE image_tasks (
    id TEXT PRIMARY KEY,
    task_type TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT,
    image_id TEXT NOT NULL,
    input TEXT NOT NULL,
    result TEXT,
    message TEXT NOT NULL,
    request_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX image_tasks_image ON image_tasks (image_id, created_at);
