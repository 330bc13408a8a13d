-- Access labels: what an upstream and its MCP tools touch (`sensitive`, `external`,
-- `prod`...), read by toxic-combination rules and by policies through the task window.
-- Route labels live in the route map itself.
--
-- `labels`: a JSON array of label words, sorted, or NULL for none.
-- `tool_labels`: a JSON object from tool name to an array of label words, or NULL.

ALTER TABLE upstreams ADD COLUMN labels TEXT;
ALTER TABLE upstreams ADD COLUMN tool_labels TEXT;
