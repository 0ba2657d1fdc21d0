-- Compute service (Nova v2.1): server locks, server tags and server groups.
-- `locked_by` is nova's column ('owner' or 'admin', NULL when unlocked);
-- `locked_reason` is what nova keeps in system_metadata. Tags and group
-- memberships go with their instance row; a group's members go with the
-- group. An instance is in at most one group (nova's get_by_instance_uuid).
ALTER TABLE compute_instances ADD COLUMN locked_by TEXT;
ALTER TABLE compute_instances ADD COLUMN locked_reason TEXT;

CREATE TABLE compute_instance_tags (
    instance_uuid TEXT NOT NULL REFERENCES compute_instances(uuid) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    PRIMARY KEY (instance_uuid, tag)
);

CREATE TABLE compute_server_groups (
    uuid TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    rules TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX compute_server_groups_project ON compute_server_groups (project_id, created_at);

CREATE TABLE compute_server_group_members (
    group_uuid TEXT NOT NULL REFERENCES compute_server_groups(uuid) ON DELETE CASCADE,
    instance_uuid TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    PRIMARY KEY (group_uuid, instance_uuid)
);
