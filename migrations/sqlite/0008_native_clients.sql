-- Native tools and agents (RFC 8252, OAuth 2.1): public applications
-- without a secret, and refresh tokens that rotate on every use.

-- 'confidential' (a secret, HTTP Basic or the body) or 'public' (no
-- secret: token_endpoint_auth_method none, authorization code with PKCE).
-- A public application's secret columns hold empty values that no
-- presented secret matches; it is refused before they are read.
ALTER TABLE applications ADD COLUMN client_type TEXT NOT NULL DEFAULT 'confidential';
-- Whether the authorization code grant may bring a refresh token when the
-- client asks for offline_access (1) or not (0, the default), and how long
-- one lives: unused (idle) and at most (absolute), in seconds.
ALTER TABLE applications ADD COLUMN refresh_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE applications ADD COLUMN refresh_idle_seconds BIGINT NOT NULL DEFAULT 604800;
ALTER TABLE applications ADD COLUMN refresh_absolute_seconds BIGINT NOT NULL DEFAULT 2592000;

-- One family per approval that brought a refresh token: every token
-- rotated from it belongs to it, and revoking it ends them all.
CREATE TABLE refresh_families (
    id                  TEXT PRIMARY KEY,
    application_id      TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id             TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    last_used_at        BIGINT NOT NULL,
    last_address        TEXT NOT NULL,
    revoked_at          BIGINT
);
CREATE INDEX refresh_families_user_app ON refresh_families (user_id, application_id);
CREATE INDEX refresh_families_application_id ON refresh_families (application_id);

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token: the token itself is never stored.
    token_hash  TEXT PRIMARY KEY,
    family_id   TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    issued_at   BIGINT NOT NULL,
    -- Unused until then (idle lifetime), never past the family's end.
    expires_at  BIGINT NOT NULL,
    -- Set when it was exchanged for its successor.
    spent_at    BIGINT
);
CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

-- The access tokens a family issued, revoked with it.
CREATE TABLE refresh_family_access_tokens (
    family_id  TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (family_id, jti)
);
