-- Compute service (Nova v2.1): flavors, their extra specs and the projects a
-- private flavor is shared with. `flavorid` is the API id; `id` is nova's
-- internal integer (a sort key). Deleted flavors are removed with their
-- specs and access rows (nova's API database hard-deletes them too).
-- `rxtx_factor` is kept as text: only TEXT, BIGINT and NULL mean the same
-- on both backends through sqlx's Any driver.
CREATE TABLE compute_flavors (
    flavorid TEXT PRIMARY KEY,
    id BIGINT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    vcpus BIGINT NOT NULL,
    memory_mb BIGINT NOT NULL,
    root_gb BIGINT NOT NULL,
    ephemeral_gb BIGINT NOT NULL,
    swap BIGINT NOT NULL,
    rxtx_factor TEXT NOT NULL,
    is_public BIGINT NOT NULL,
    disabled BIGINT NOT NULL,
    description TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT
);

CREATE TABLE compute_flavor_extra_specs (
    flavorid TEXT NOT NULL REFERENCES compute_flavors(flavorid) ON DELETE CASCADE,
    spec_key TEXT NOT NULL,
    spec_value TEXT NOT NULL,
    PRIMARY KEY (flavorid, spec_key)
);

CREATE TABLE compute_flavor_projects (
    flavorid TEXT NOT NULL REFERENCES compute_flavors(flavorid) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    PRIMARY KEY (flavorid, project_id)
);
CREATE INDEX compute_flavor_projects_project ON compute_flavor_projects (project_id);
