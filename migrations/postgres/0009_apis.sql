-- APIs (resource servers, RFC 8707): a token names the one it is for in
-- aud, and holds only that API's permissions.
CREATE TABLE apis (
    id         TEXT PRIMARY KEY,
    -- An absolute URI: the aud of its tokens and the resource clients name.
    identifier TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT apis_identifier_key UNIQUE (identifier)
);

-- The API a permission belongs to; NULL: Keyport's own management API,
-- whose identifier is the public URL (every permission so far).
ALTER TABLE permissions ADD COLUMN api_id TEXT REFERENCES apis (id);

-- The API an authorization request named, if any: the default resource of
-- the tokens its code and refresh tokens buy.
ALTER TABLE authorization_codes ADD COLUMN resource TEXT;
ALTER TABLE refresh_families ADD COLUMN resource TEXT;
