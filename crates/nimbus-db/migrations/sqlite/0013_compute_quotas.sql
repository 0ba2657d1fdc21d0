-- Compute service (Nova v2.1): quota limits that differ from the defaults
-- (user_id '' for a project's own limits, as nova's quotas and
-- project_user_quotas tables), and the services os-services lists with
-- their admin-set status. `id` is the integer id microversions below 2.53
-- show; `uuid` the id from 2.53.
CREATE TABLE compute_quotas (
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    resource TEXT NOT NULL,
    hard_limit BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id, resource)
);

CREATE TABLE compute_services (
    uuid TEXT PRIMARY KEY,
    id BIGINT NOT NULL UNIQUE,
    host TEXT NOT NULL,
    binary_name TEXT NOT NULL,
    disabled BIGINT NOT NULL,
    disabled_reason TEXT,
    forced_down BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT,
    UNIQUE (host, binary_name)
);
