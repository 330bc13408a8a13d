-- Upstreams (the systems behind the gateway) and the Cedar policies that govern them.
-- An upstream's secret is stored only sealed (XChaCha20-Poly1305 under the data key, bound
-- to the upstream's id and secret version); policies keep their history by version.

CREATE TABLE upstreams (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL CHECK (kind IN ('http', 'mcp')),
    url            TEXT NOT NULL,
    auth           TEXT NOT NULL,
    secret_sealed  BYTEA,
    secret_version BIGINT NOT NULL,
    routes         TEXT,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

CREATE TABLE policies (
    id         TEXT PRIMARY KEY,
    text       TEXT NOT NULL,
    version    BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- One row per change to the policy set; the newest version is the set's version.
CREATE TABLE policy_history (
    version   BIGINT PRIMARY KEY,
    policy_id TEXT NOT NULL,
    change    TEXT NOT NULL CHECK (change IN ('created', 'updated', 'deleted')),
    text      TEXT,
    at        BIGINT NOT NULL
);
