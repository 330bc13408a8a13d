-- The inventory: accountable owners and the non-human identities they own.
-- Times are epoch milliseconds; ids are UUIDv7 text, so ordering by id is ordering by age.

CREATE TABLE owners (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('active', 'offboarded')),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    offboarded_at BIGINT
);

CREATE TABLE identities (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    name              TEXT NOT NULL,
    owner_id          TEXT NOT NULL REFERENCES owners (id),
    purpose           TEXT,
    environment       TEXT,
    labels            TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
    suspension_reason TEXT,
    source            TEXT NOT NULL,
    source_detail     TEXT,
    parent_id         TEXT REFERENCES identities (id),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    expires_at        BIGINT,
    last_used_at      BIGINT,
    UNIQUE (kind, name)
);

CREATE INDEX identities_by_owner ON identities (owner_id, id);
CREATE INDEX identities_by_parent ON identities (parent_id);
CREATE INDEX identities_by_status ON identities (status, id);

-- Labels are also kept as rows so that filtering by label uses an index on both backends.
CREATE TABLE identity_labels (
    identity_id TEXT NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (identity_id, key)
);

CREATE INDEX identity_labels_by_pair ON identity_labels (key, value);

-- Server-wide facts decided once: the admin token's keyed hash, the key fingerprints.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
