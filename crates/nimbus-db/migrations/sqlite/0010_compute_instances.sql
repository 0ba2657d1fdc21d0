-- Compute service (Nova v2.1): instances, their metadata, and the instance
-- actions with their events. Timestamps are microseconds since the epoch.
-- A deleted instance keeps its row with deleted = 1 (nova's soft delete) so
-- `changes-since` listings and instance actions still find it; quota usage
-- counts only rows with deleted = 0. The flavor is copied into the row at
-- boot (nova's instance.flavor): later flavor edits do not change servers.
CREATE TABLE compute_instances (
    uuid TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    display_description TEXT,
    hostname TEXT NOT NULL,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    root_gb BIGINT NOT NULL,
    ephemeral_gb BIGINT NOT NULL,
    swap_mb BIGINT NOT NULL,
    flavor_id TEXT NOT NULL,
    flavor_name TEXT NOT NULL,
    flavor_extra_specs TEXT NOT NULL,
    image_ref TEXT NOT NULL,
    kernel_id TEXT NOT NULL,
    ramdisk_id TEXT NOT NULL,
    key_name TEXT,
    key_data TEXT,
    user_data TEXT,
    config_drive TEXT NOT NULL,
    block_devices TEXT NOT NULL,
    reservation_id TEXT NOT NULL,
    launch_index BIGINT NOT NULL,
    availability_zone TEXT NOT NULL,
    host TEXT NOT NULL,
    access_ip_v4 TEXT,
    access_ip_v6 TEXT,
    vm_state TEXT NOT NULL,
    task_state TEXT,
    power_state BIGINT NOT NULL,
    launched_at BIGINT,
    terminated_at BIGINT,
    fault_code BIGINT,
    fault_message TEXT,
    fault_details TEXT,
    fault_created_at BIGINT,
    deleted BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX compute_instances_project ON compute_instances (project_id, deleted);
CREATE INDEX compute_instances_created ON compute_instances (created_at, uuid);

CREATE TABLE compute_instance_metadata (
    instance_uuid TEXT NOT NULL REFERENCES compute_instances(uuid) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (instance_uuid, key)
);

CREATE TABLE compute_instance_actions (
    id TEXT PRIMARY KEY,
    instance_uuid TEXT NOT NULL,
    request_id TEXT NOT NULL,
    action TEXT NOT NULL,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    message TEXT,
    start_time BIGINT NOT NULL,
    finish_time BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX compute_instance_actions_instance ON compute_instance_actions (instance_uuid, start_time);

CREATE TABLE compute_instance_action_events (
    id TEXT PRIMARY KEY,
    action_id TEXT NOT NULL REFERENCES compute_instance_actions(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    start_time BIGINT NOT NULL,
    finish_time BIGINT,
    result TEXT,
    traceback TEXT,
    details TEXT
);
CREATE INDEX compute_instance_action_events_action ON compute_instance_action_events (action_id, start_time);
