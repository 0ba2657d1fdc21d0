-- Block storage (Cinder v3): volumes, types, snapshots, attachments, quotas.
-- Timestamps are microseconds since the epoch; flags are BIGINT 0/1.
-- Metadata maps are JSON objects in TEXT columns (read whole, never queried).
-- Deleted rows are removed; every row here is live.
CREATE TABLE volume_types (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT,
    is_public BIGINT NOT NULL,
    extra_specs TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Cinder's default type, created by its own migration with this name.
INSERT INTO volume_types (id, name, description, is_public, extra_specs, created_at, updated_at)
VALUES ('1f2b4f5e-7c8d-4a3b-9e6f-0d1c2b3a4f5e', '__DEFAULT__', 'Default Volume Type', 1, '{}', 0, 0);

CREATE TABLE volume_volumes (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT,
    description TEXT,
    size BIGINT NOT NULL,
    status TEXT NOT NULL,
    attach_status TEXT NOT NULL,
    volume_type_id TEXT NOT NULL REFERENCES volume_types (id),
    availability_zone TEXT NOT NULL,
    bootable BIGINT NOT NULL,
    snapshot_id TEXT,
    source_volid TEXT,
    metadata TEXT NOT NULL,
    image_metadata TEXT,
    provider_location TEXT,
    provider_auth TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX volume_volumes_project ON volume_volumes (project_id, created_at);

CREATE TABLE volume_snapshots (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    volume_id TEXT NOT NULL REFERENCES volume_volumes (id),
    name TEXT,
    description TEXT,
    status TEXT NOT NULL,
    size BIGINT NOT NULL,
    metadata TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX volume_snapshots_project ON volume_snapshots (project_id, created_at);
CREATE INDEX volume_snapshots_volume ON volume_snapshots (volume_id);

CREATE TABLE volume_attachments (
    id TEXT PRIMARY KEY,
    volume_id TEXT NOT NULL REFERENCES volume_volumes (id),
    project_id TEXT NOT NULL,
    instance_uuid TEXT,
    attach_status TEXT NOT NULL,
    attach_mode TEXT NOT NULL,
    connector TEXT,
    connection_info TEXT,
    mountpoint TEXT,
    attached_at BIGINT,
    detached_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX volume_attachments_volume ON volume_attachments (volume_id);

CREATE TABLE volume_quotas (
    project_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, resource)
);
