-- Human approvals: requests the gateway held for a person to approve or deny, each bound to
-- the exact request (agent, upstream, method, path, a keyed digest of method, query and body,
-- task). Nothing secret is kept: the digest is an HMAC under the server's key. Times are
-- epoch milliseconds; `policy_ids` is a JSON array of text.

CREATE TABLE approvals (
    id           TEXT PRIMARY KEY,
    agent_id     TEXT NOT NULL REFERENCES identities (id),
    agent_name   TEXT NOT NULL,
    owner_email  TEXT NOT NULL,
    on_behalf_of TEXT,
    upstream     TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    body_digest  TEXT NOT NULL,
    task_id      TEXT,
    action       TEXT NOT NULL,
    resource     TEXT NOT NULL,
    reason       TEXT,
    policy_ids   TEXT NOT NULL,
    token_jti    TEXT,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used', 'expired')),
    requested_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    decided_by   TEXT,
    decided_at   INTEGER,
    comment      TEXT,
    used_at      INTEGER
);

CREATE INDEX approvals_by_status ON approvals (status, id);
CREATE INDEX approvals_by_agent ON approvals (agent_id, id);
