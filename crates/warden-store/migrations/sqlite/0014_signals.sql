-- Signals: what Warden tells people (webhooks) and other systems (Shared Signals streams)
-- about what happened. The audit trail is the outbox: `signal_cursor` holds the sequence of
-- the last audit record fanned out, and fanning out moves it forward in the same transaction
-- that inserts the deliveries, with a compare-and-set, so several nodes on one database
-- never fan the same record out twice. Deliveries are then claimed by one node at a time
-- (`lease_until`; `FOR UPDATE SKIP LOCKED` on PostgreSQL).

CREATE TABLE signal_cursor (
    name      TEXT PRIMARY KEY,
    sequence  BIGINT NOT NULL
);

-- `secret_salt` with the server pepper derives the signing secret; the secret itself is
-- never stored.
CREATE TABLE webhooks (
    id           TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    events       TEXT NOT NULL,
    secret_salt  TEXT NOT NULL,
    description  TEXT,
    created_at   BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_sequence  BIGINT NOT NULL,
    event           TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT,
    UNIQUE (webhook_id, event_sequence)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);

-- A receiver authenticates to the stream management API with a bearer token issued by an
-- administrator; only its keyed hash is stored.
CREATE TABLE ssf_receivers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

-- `config` is the stream configuration as JSON (without the push authorization header,
-- which is sealed under the data key in `push_authorization`).
CREATE TABLE ssf_streams (
    id                  TEXT PRIMARY KEY,
    receiver_id         TEXT NOT NULL REFERENCES ssf_receivers (id) ON DELETE CASCADE,
    config              TEXT NOT NULL,
    push_authorization  TEXT,
    status              TEXT NOT NULL CHECK (status IN ('enabled', 'paused', 'disabled')),
    reason              TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- Subjects removed from a stream (the default is every subject).
CREATE TABLE ssf_excluded_subjects (
    stream_id  TEXT NOT NULL REFERENCES ssf_streams (id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    PRIMARY KEY (stream_id, subject)
);

-- Security events waiting for a stream: pushed (then `delivered`) or polled (then `acked`).
CREATE TABLE ssf_events (
    jti             TEXT PRIMARY KEY,
    stream_id       TEXT NOT NULL REFERENCES ssf_streams (id) ON DELETE CASCADE,
    claims          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX ssf_events_due ON ssf_events (stream_id, status, next_attempt_at);
