-- Client applications and the permissions granted to them.

CREATE TABLE applications (
    id            TEXT PRIMARY KEY,
    domain_id     TEXT NOT NULL REFERENCES domains (id),
    owner_id      TEXT NOT NULL REFERENCES users (id),
    name          TEXT NOT NULL,
    description   TEXT NOT NULL,
    website_url   TEXT NOT NULL,
    callback_url  TEXT NOT NULL,
    icon          BLOB,
    icon_type     TEXT,
    client_id     TEXT NOT NULL,
    -- argon2id of the client secret, for verification.
    secret_hash   TEXT NOT NULL,
    -- AES-256-GCM of the client secret under the master key, for reveal.
    secret_sealed BLOB NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    CONSTRAINT applications_client_id_key UNIQUE (client_id)
);
CREATE UNIQUE INDEX applications_name_key ON applications (domain_id, lower(name));
CREATE INDEX applications_owner_id ON applications (owner_id);

CREATE TABLE application_permissions (
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    scope          TEXT NOT NULL REFERENCES permissions (scope),
    PRIMARY KEY (application_id, scope)
);
