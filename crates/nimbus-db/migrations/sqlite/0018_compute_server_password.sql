-- Compute service (Nova v2.1): the encrypted password a guest posts to the
-- metadata service (`POST /openstack/latest/password`), shown by
-- `GET /servers/{id}/os-server-password`. Nova keeps it in system_metadata
-- as `password_0`..`password_3` (255 characters each, 1020 at most); one
-- column holds the same text. A cleared password is a missing row.
CREATE TABLE compute_instance_passwords (
    instance_uuid TEXT PRIMARY KEY REFERENCES compute_instances(uuid) ON DELETE CASCADE,
    password TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
