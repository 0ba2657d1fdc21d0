-- Compute service (Nova v2.1): block device mappings, nova's
-- `block_device_mapping` table (seed 002). One row per volume attached to an
-- instance (and per boot volume). Rows are deleted when the volume is
-- detached; `deleted` stays 0 and exists for nova's column set.
CREATE TABLE block_device_mapping (
    id BIGINT NOT NULL PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    instance_uuid TEXT NOT NULL,
    source_type TEXT NOT NULL,
    destination_type TEXT NOT NULL,
    device_name TEXT,
    device_type TEXT,
    disk_bus TEXT,
    guest_format TEXT,
    boot_index BIGINT,
    volume_id TEXT,
    snapshot_id TEXT,
    image_id TEXT,
    backup_id TEXT,
    volume_size BIGINT,
    volume_type TEXT,
    no_device BIGINT NOT NULL DEFAULT 0,
    delete_on_termination BIGINT NOT NULL DEFAULT 0,
    attachment_id TEXT,
    connection_info TEXT,
    tag TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT,
    deleted BIGINT NOT NULL DEFAULT 0
);
-- A device name is reserved once per instance, and a volume is mapped to an
-- instance once: the database settles two racing attaches.
CREATE UNIQUE INDEX block_device_mapping_device ON block_device_mapping (instance_uuid, device_name);
CREATE UNIQUE INDEX block_device_mapping_volume ON block_device_mapping (instance_uuid, volume_id);
CREATE INDEX block_device_mapping_volume_id ON block_device_mapping (volume_id);
