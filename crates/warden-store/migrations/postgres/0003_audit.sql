-- The audit trail: one hash chain per deployment, and the signed checkpoints over it.
-- `record` is the whole event as JSON and is what the chain hashes; the other columns are
-- copies for querying, checked against the record by verification.

CREATE TABLE audit_events (
    sequence     BIGINT PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    time         BIGINT NOT NULL,
    node         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    actor        TEXT NOT NULL,
    on_behalf_of TEXT,
    owner        TEXT,
    task_id      TEXT,
    upstream     TEXT,
    action       TEXT,
    decision     TEXT,
    record       TEXT NOT NULL,
    hash         TEXT NOT NULL
);

CREATE INDEX audit_events_by_time ON audit_events (time);
CREATE INDEX audit_events_by_actor ON audit_events (actor, sequence);
CREATE INDEX audit_events_by_owner ON audit_events (owner, sequence);
CREATE INDEX audit_events_by_upstream ON audit_events (upstream, sequence);

CREATE TABLE audit_checkpoints (
    sequence BIGINT PRIMARY KEY,
    record   TEXT NOT NULL
);
