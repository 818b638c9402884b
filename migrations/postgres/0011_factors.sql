-- Second factors for console users: passkeys (WebAuthn) and TOTP, recovery
-- codes, and which roles a domain requires them of.

CREATE TABLE user_factors (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL CHECK (kind IN ('totp', 'passkey')),
    name          TEXT NOT NULL,
    -- TOTP: the shared secret, sealed under the master key (base64).
    secret        TEXT,
    -- TOTP: the last time step whose code was accepted; an older or equal
    -- step's code is refused (RFC 6238 §5.2).
    last_step     BIGINT,
    -- Passkey: its credential id (base64url) and the public key with its
    -- signature counter, as webauthn-rs keeps them (JSON).
    credential_id TEXT,
    passkey       TEXT,
    created_at    BIGINT NOT NULL,
    -- TOTP counts once a code from the app confirmed it; a passkey at once.
    confirmed_at  BIGINT,
    last_used_at  BIGINT,
    CONSTRAINT user_factors_credential_key UNIQUE (credential_id)
);
CREATE INDEX user_factors_user ON user_factors (user_id);

-- Single-use recovery codes: only a SHA-256 of each is kept.
CREATE TABLE recovery_codes (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- Which roles must have a second factor in the domain (space-separated),
-- and for how many days a user who has none may still sign in without.
ALTER TABLE domains ADD COLUMN mfa_roles TEXT NOT NULL DEFAULT 'super_admin domain_admin';
ALTER TABLE domains ADD COLUMN mfa_grace_days BIGINT NOT NULL DEFAULT 7;
-- When the user was first told to set up a second factor: the grace
-- period counts from there. Cleared when an admin resets their factors.
ALTER TABLE users ADD COLUMN mfa_asked_at BIGINT;
