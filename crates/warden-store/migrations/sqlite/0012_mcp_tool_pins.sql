-- The definitions of MCP tools as the gateway first saw them, per upstream, against "rug
-- pulls": a server that changes what a tool does after it was trusted.
--
-- `accepted_digest` is the SHA-256 of the tool's definition (name, title, description,
-- input and output schemas, annotations) as accepted: the first one the gateway saw, or the
-- one an administrator accepted since. `seen_digest` is the latest seen. While they differ
-- the state is `changed`: the gateway hides the tool and refuses its calls until an
-- administrator accepts the new definition (`warden upstream tools NAME --accept TOOL`).

CREATE TABLE mcp_tool_pins (
    upstream_id      TEXT NOT NULL REFERENCES upstreams (id) ON DELETE CASCADE,
    tool             TEXT NOT NULL,
    accepted_digest  TEXT NOT NULL,
    seen_digest      TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('accepted', 'changed')),
    first_seen_at    BIGINT NOT NULL,
    changed_at       BIGINT,
    accepted_at      BIGINT NOT NULL,
    accepted_by      TEXT,
    PRIMARY KEY (upstream_id, tool)
);
