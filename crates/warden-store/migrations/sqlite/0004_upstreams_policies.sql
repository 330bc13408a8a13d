-- Upstreams (the systems behind the gateway) and the Cedar policies that govern them.
-- An upstream's secret is stored only sealed (XChaCha20-Poly1305 under the data key, bound
-- to the upstream's id and secret version); policies keep their history by version.

CREATE TABLE upstreams (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL CHECK (kind IN ('http', 'mcp')),
    url            TEXT NOT NULL,
    auth           TEXT NOT NULL,
    secret_sealed  BLOB,
    secret_version INTEGER NOT NULL,
    routes         TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE policies (
    id         TEXT PRIMARY KEY,
    text       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row per change to the policy set; the newest version is the set's version.
CREATE TABLE policy_history (
    version   INTEGER PRIMARY KEY,
    policy_id TEXT NOT NULL,
    change    TEXT NOT NULL CHECK (change IN ('created', 'updated', 'deleted')),
    text      TEXT,
    at        INTEGER NOT NULL
);
