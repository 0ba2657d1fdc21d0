-- Identity: application credentials and stored credentials (EC2). Timestamps
-- are microseconds since the epoch.

-- An application credential acts as its user on one project with a subset of
-- the user's roles there. Only the secret's argon2 hash is kept.
CREATE TABLE identity_application_credentials (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT,
    secret_hash TEXT NOT NULL,
    expires_at BIGINT,
    unrestricted BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE identity_application_credential_roles (
    application_credential_id TEXT NOT NULL
        REFERENCES identity_application_credentials(id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES identity_roles(id) ON DELETE CASCADE,
    PRIMARY KEY (application_credential_id, role_id)
);

-- Keystone's credential table: `type` is 'ec2' (id = sha256 of the access
-- key, blob = {"access","secret","trust_id"} as JSON text).
CREATE TABLE identity_credentials (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES identity_users(id) ON DELETE CASCADE,
    project_id TEXT,
    type TEXT NOT NULL,
    blob TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX identity_credentials_user ON identity_credentials (user_id, type);

-- Deleting an application credential revokes the tokens issued from it.
ALTER TABLE identity_revocation_events ADD COLUMN app_cred_id TEXT;
