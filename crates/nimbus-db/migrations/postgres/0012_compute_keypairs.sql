-- Compute service (Nova v2.1): key pairs, owned by a user (not a project).
-- `id` is nova's integer id, shown by `GET /os-keypairs/{name}`.
CREATE TABLE compute_keypairs (
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    id BIGINT NOT NULL UNIQUE,
    key_type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, name)
);
