-- Local MCP servers over stdio: an upstream of kind `mcp-stdio` is a command Warden runs.
--
-- `upstreams.kind` gains `mcp-stdio`. SQLite cannot change a CHECK constraint in place, so
-- the table is rebuilt with the same columns (nothing references it by foreign key).
-- `command`: the program (an absolute path, or a name looked up on PATH); `args`: a JSON
-- array of its arguments, NULL for none; `env_secret`: the environment variable the
-- upstream's secret is set in for the program. All NULL for other kinds.

CREATE TABLE upstreams_0011 (
    id                      TEXT PRIMARY KEY,
    name                    TEXT NOT NULL UNIQUE,
    kind                    TEXT NOT NULL CHECK (kind IN ('http', 'mcp', 'mcp-stdio')),
    url                     TEXT NOT NULL,
    auth                    TEXT NOT NULL,
    secret_sealed           BLOB,
    secret_version          INTEGER NOT NULL,
    routes                  TEXT,
    created_at              INTEGER NOT NULL,
    updated_at              INTEGER NOT NULL,
    allowed_origins         TEXT,
    secret_leak_fingerprint TEXT,
    command                 TEXT,
    args                    TEXT,
    env_secret              TEXT,
    CHECK ((kind = 'mcp-stdio') = (command IS NOT NULL))
);

INSERT INTO upstreams_0011 (id, name, kind, url, auth, secret_sealed, secret_version, routes,
                            created_at, updated_at, allowed_origins, secret_leak_fingerprint)
SELECT id, name, kind, url, auth, secret_sealed, secret_version, routes,
       created_at, updated_at, allowed_origins, secret_leak_fingerprint
FROM upstreams;

DROP TABLE upstreams;
ALTER TABLE upstreams_0011 RENAME TO upstreams;
CREATE INDEX upstreams_by_secret_leak_fingerprint ON upstreams (secret_leak_fingerprint);
