-- Domains an operator runs: created, renamed, limited and deleted by super
-- admins, with users moved between them.

-- A domain's name is unique whatever its case, as application names are.
CREATE UNIQUE INDEX domains_name_lower_key ON domains (customer_id, lower(name));

-- The domains page counts each domain's users, and a move or a deletion
-- finds them by domain.
CREATE INDEX users_domain_id ON users (domain_id);

-- The applications of a domain, removed ones included, for counts and
-- deletion (the name index holds only those in use).
CREATE INDEX applications_domain_id ON applications (domain_id);

INSERT INTO permissions (scope, description, created_at) VALUES
    ('domains:read',  'List the domains of the customer (super admins)', 0),
    ('domains:write', 'Create, rename and limit domains (super admins)', 0);
