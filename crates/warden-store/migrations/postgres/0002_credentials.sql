-- The credential plane: agents' client credentials, revoked access tokens and the
-- token-signing key ring. Times are epoch milliseconds.

-- A client credential of an identity. Client secrets are stored only as their keyed hash
-- (hex HMAC-SHA-256 under the server pepper), looked up through the unique index; public
-- keys (RFC 7523 `private_key_jwt`) are stored as the JWK the agent registered.
CREATE TABLE credentials (
    id          TEXT PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities (id),
    kind        TEXT NOT NULL CHECK (kind IN ('client_secret', 'private_key_jwt')),
    secret_hash TEXT UNIQUE,
    public_jwk  TEXT,
    scope       TEXT,
    status      TEXT NOT NULL CHECK (status IN ('active', 'rotated', 'revoked')),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE INDEX credentials_by_identity ON credentials (identity_id, id);

-- Access tokens revoked before their expiry; rows past `expires_at` can be dropped.
CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,
    identity_id TEXT,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL
);

-- The token-signing key ring, each private key sealed under the data key (hex), so every
-- node sharing the database signs with the same keys. `retired_at` is NULL for the one
-- active key; a retired key is published until `not_after`.
CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    sealed     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    not_after  BIGINT
);
