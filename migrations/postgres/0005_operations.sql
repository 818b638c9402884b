-- Admin operations: secret rotation with a grace period, removal that can be
-- undone for 30 days, one-time password links, and an audit log that can be
-- filtered and paged quickly however long it grows.

-- The secret a rotation replaced keeps working until its deadline. Each
-- secret has its own last use; last_used_at stays the application's.
ALTER TABLE applications ADD COLUMN secret_last_used_at BIGINT;
UPDATE applications SET secret_last_used_at = last_used_at;
ALTER TABLE applications ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE applications ADD COLUMN previous_secret_expires_at BIGINT;
ALTER TABLE applications ADD COLUMN previous_last_used_at BIGINT;
ALTER TABLE applications ADD COLUMN rotated_at BIGINT;
-- A removed application is refused at once and purged after 30 days.
ALTER TABLE applications ADD COLUMN removed_at BIGINT;
-- Tokens issued before a restore stay refused.
ALTER TABLE applications ADD COLUMN restored_at BIGINT;

-- Names are unique among the applications in use only.
DROP INDEX applications_name_key;
CREATE UNIQUE INDEX applications_name_key ON applications (domain_id, lower(name)) WHERE removed_at IS NULL;
CREATE INDEX applications_removed_at ON applications (removed_at) WHERE removed_at IS NOT NULL;
CREATE INDEX applications_previous_secret ON applications (previous_secret_expires_at) WHERE previous_secret_expires_at IS NOT NULL;

-- A link with which a new user sets their password: only its SHA-256 is kept.
CREATE TABLE password_links (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX password_links_user_id ON password_links (user_id);

-- The application an entry concerns, by client ID, for filtering.
ALTER TABLE audit_log ADD COLUMN client_id TEXT;
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_actor_id ON audit_log (actor_id, id);
CREATE INDEX audit_log_client_id ON audit_log (client_id, id);
CREATE INDEX audit_log_at ON audit_log (at, id);
