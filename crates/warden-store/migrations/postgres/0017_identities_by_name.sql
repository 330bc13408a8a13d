-- The inventory is searched by exact name across kinds (the dashboard's and the API's
-- `name` filter); the unique (kind, name) index cannot serve that, as kind leads it.
CREATE INDEX identities_by_name ON identities (name, id);
