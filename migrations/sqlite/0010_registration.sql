-- Clients that register themselves (RFC 7591/7592), under admin control.

-- Initial access tokens: a domain admin hands one to a tool or agent, which
-- registers with it as Bearer. Only a SHA-256 of the token is kept.
CREATE TABLE registration_tokens (
    id          TEXT PRIMARY KEY,
    domain_id   TEXT NOT NULL REFERENCES domains (id),
    -- Who created it: the owner of every application registered with it.
    creator_id  TEXT NOT NULL REFERENCES users (id),
    label       TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    -- What registered clients may ask for, space-separated.
    permissions TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    public_allowed INTEGER NOT NULL,
    max_uses    BIGINT NOT NULL,
    uses_left   BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at  BIGINT,
    CONSTRAINT registration_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX registration_tokens_domain ON registration_tokens (domain_id, created_at);

-- How an application came to be: NULL in the portal, the command line or
-- the management API; 'token' with an initial access token; 'open' by
-- open registration.
ALTER TABLE applications ADD COLUMN registered_via TEXT;
ALTER TABLE applications ADD COLUMN registration_token_id TEXT REFERENCES registration_tokens (id);
-- RFC 7592: the SHA-256 of the token that reads, updates and deletes it.
ALTER TABLE applications ADD COLUMN registration_access_hash TEXT;
-- The grant types it registered for, space-separated; NULL: every grant
-- its type allows (applications registered by people).
ALTER TABLE applications ADD COLUMN grant_types TEXT;
-- Its token_endpoint_auth_method, as registered (RFC 7591 §2).
ALTER TABLE applications ADD COLUMN auth_method TEXT;
CREATE UNIQUE INDEX applications_registration_access ON applications (registration_access_hash);

-- Open registration (public clients, no token): off unless an admin turns
-- it on; its applications belong to that admin.
ALTER TABLE domains ADD COLUMN open_registration_by TEXT REFERENCES users (id);
