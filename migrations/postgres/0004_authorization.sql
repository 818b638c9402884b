-- The authorization code grant (SPEC §5): remembered consent and the codes
-- handed to an application's callback.

CREATE TABLE consents (
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    -- The permissions the user approved, space-separated.
    scope          TEXT NOT NULL,
    granted_at     BIGINT NOT NULL,
    PRIMARY KEY (user_id, application_id)
);
CREATE INDEX consents_application_id ON consents (application_id);

CREATE TABLE authorization_codes (
    -- SHA-256 of the code: the code itself is never stored.
    code_hash        TEXT PRIMARY KEY,
    application_id   TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri     TEXT NOT NULL,
    scope            TEXT NOT NULL,
    code_challenge   TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    used_at          BIGINT,
    -- The access token issued for the code, revoked if the code is replayed.
    token_id         TEXT,
    token_expires_at BIGINT
);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);
CREATE INDEX authorization_codes_user_app ON authorization_codes (user_id, application_id);
