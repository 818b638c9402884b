-- What a security review asked of sessions and consent.

-- A remembered consent holds for the redirect URI it was given for only.
-- Consents from before were given without one: they are asked again.
ALTER TABLE consents ADD COLUMN redirect_uri TEXT NOT NULL DEFAULT '';

-- Sessions are kept under the SHA-256 of their id, so that a copy of the
-- table cannot be replayed as cookies, and end at an absolute time
-- besides their idle expiry. Sessions stored by their id in clear end now.
DELETE FROM sessions;
ALTER TABLE sessions ADD COLUMN absolute_expires_at BIGINT NOT NULL DEFAULT 0;
