-- Local MCP servers over stdio: an upstream of kind `mcp-stdio` is a command Warden runs.
--
-- `upstreams.kind` gains `mcp-stdio`. `command`: the program (an absolute path, or a name
-- looked up on PATH); `args`: a JSON array of its arguments, NULL for none; `env_secret`:
-- the environment variable the upstream's secret is set in for the program. All NULL for
-- other kinds.

ALTER TABLE upstreams DROP CONSTRAINT upstreams_kind_check;
ALTER TABLE upstreams ADD CONSTRAINT upstreams_kind_check
    CHECK (kind IN ('http', 'mcp', 'mcp-stdio'));
ALTER TABLE upstreams ADD COLUMN command TEXT;
ALTER TABLE upstreams ADD COLUMN args TEXT;
ALTER TABLE upstreams ADD COLUMN env_secret TEXT;
ALTER TABLE upstreams ADD CONSTRAINT upstreams_stdio_has_command
    CHECK ((kind = 'mcp-stdio') = (command IS NOT NULL));
