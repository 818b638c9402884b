-- How many clients that registered themselves (open registration) a domain
-- holds at most, so that strangers never take the room its admins need.
ALTER TABLE domains ADD COLUMN open_registration_quota BIGINT NOT NULL DEFAULT 20;
