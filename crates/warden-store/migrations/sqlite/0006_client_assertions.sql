-- RFC 7523 client assertions already used, so that one is accepted once, ever, on every
-- node: a row per (client, jti), kept until the assertion could no longer be valid
-- (its `exp` plus the clock leeway, epoch milliseconds). A conflicting insert is a replay.

CREATE TABLE used_client_assertions (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);

CREATE INDEX used_client_assertions_by_expiry ON used_client_assertions (expires_at);
