-- Signing keys, revoked access tokens and per-day usage of each client.

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    -- PKCS#8 private key, AES-256-GCM under the master key.
    private_sealed BLOB NOT NULL,
    public_jwk     TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    -- Set when a newer key takes over; the key stays published until the
    -- tokens it signed have expired.
    retired_at     BIGINT
);

CREATE TABLE revoked_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at);

CREATE TABLE usage_daily (
    application_id TEXT NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    day            BIGINT NOT NULL,
    tokens_issued  BIGINT NOT NULL DEFAULT 0,
    auth_failures  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (application_id, day)
);
