-- Compute service (Nova v2.1): instances. Timestamps are microseconds since
-- the epoch. A deleted instance keeps its row with deleted = 1 (nova's soft
-- delete) so `changes-since` listings and instance actions still find it;
-- quota usage counts only rows with deleted = 0.
CREATE TABLE compute_instances (
    uuid TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    root_gb BIGINT NOT NULL,
    ephemeral_gb BIGINT NOT NULL,
    vm_state TEXT NOT NULL,
    task_state TEXT,
    power_state BIGINT NOT NULL,
    deleted BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX compute_instances_project ON compute_instances (project_id, deleted);
CREATE INDEX compute_instances_created ON compute_instances (created_at, uuid);
