-- What an approver sees and where an MCP upstream may be called from.
--
-- `approvals.request_sealed`: the exact held request (method, path, query, content type,
-- body or tool calls, credentials redacted) as JSON sealed under the data key, bound to the
-- approval's id. Kept only while the approval can still be used; set to NULL when it is
-- used, denied or expires.
--
-- `upstreams.allowed_origins`: a JSON array of browser origins an MCP upstream accepts
-- requests from besides the gateway's own; NULL when none were given.

ALTER TABLE approvals ADD COLUMN request_sealed BLOB;
ALTER TABLE upstreams ADD COLUMN allowed_origins TEXT;

CREATE INDEX approvals_holding_requests ON approvals (expires_at) WHERE request_sealed IS NOT NULL;
