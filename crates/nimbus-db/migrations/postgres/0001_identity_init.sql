-- Identity (Keystone v3 subset): domains, projects, users, roles, assignments,
-- and the token revocation list. Timestamps are microseconds since the epoch.
CREATE TABLE identity_domains (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE identity_projects (
    id TEXT PRIMARY KEY,
    domain_id TEXT NOT NULL REFERENCES identity_domains(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE identity_users (
    id TEXT PRIMARY KEY,
    domain_id TEXT NOT NULL REFERENCES identity_domains(id),
    name TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    password_hash TEXT,
    default_project_id TEXT,
    description TEXT NOT NULL DEFAULT '',
    email TEXT,
    created_at BIGINT NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE identity_roles (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE identity_implied_roles (
    prior_role_id TEXT NOT NULL REFERENCES identity_roles(id) ON DELETE CASCADE,
    implied_role_id TEXT NOT NULL REFERENCES identity_roles(id) ON DELETE CASCADE,
    PRIMARY KEY (prior_role_id, implied_role_id)
);

-- target_type is 'project' or 'domain'; target_id names one of those.
CREATE TABLE identity_role_assignments (
    user_id TEXT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    role_id TEXT NOT NULL REFERENCES identity_roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, target_type, target_id, role_id)
);
CREATE INDEX identity_role_assignments_target ON identity_role_assignments (target_type, target_id);

-- A token matches an event when every non-null column equals the token's and
-- the token was issued at or before issued_before.
CREATE TABLE identity_revocation_events (
    id TEXT PRIMARY KEY,
    audit_id TEXT,
    user_id TEXT,
    project_id TEXT,
    domain_id TEXT,
    issued_before BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
