-- Tenancy, console accounts, sessions and the audit log.
-- Times are Unix seconds; identifiers are UUID text.

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE domains (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id),
    name        TEXT NOT NULL,
    app_limit   BIGINT NOT NULL DEFAULT 63 CHECK (app_limit >= 0),
    created_at  BIGINT NOT NULL,
    CONSTRAINT domains_name_key UNIQUE (customer_id, name)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    domain_id     TEXT NOT NULL REFERENCES domains (id),
    email         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('super_admin', 'domain_admin', 'member')),
    password_hash TEXT,
    disabled_at   BIGINT,
    created_at    BIGINT NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);

-- Marks one-time events such as the first-run setup; the primary key makes
-- each of them happen at most once, even with several nodes racing.
CREATE TABLE milestones (
    name        TEXT PRIMARY KEY,
    reached_at  BIGINT NOT NULL
);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    user_id     TEXT REFERENCES users (id) ON DELETE CASCADE,
    data        BLOB NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          BIGINT NOT NULL,
    domain_id   TEXT,
    actor_id    TEXT,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT,
    address     TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX audit_log_domain_id ON audit_log (domain_id, id);

CREATE TABLE permissions (
    scope       TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
INSERT INTO permissions (scope, description, created_at) VALUES
    ('clients:read',  'List the client applications of the domain', 0),
    ('clients:write', 'Register, rotate and remove client applications', 0),
    ('audit:read',    'Read the audit log of the domain', 0);
