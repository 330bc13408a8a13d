// Drives an MCP server with an official TypeScript SDK client, as an agent would, and prints
// what each step saw as one JSON object, so a test can check every step even when one fails.
//
// Usage: node ts_client.mjs v1|v2 URL   (MCP_BEARER, if set, is sent as the bearer token)
//   v1: @modelcontextprotocol/sdk, the published 1.x line (protocol 2025-11-25)
//   v2: @modelcontextprotocol/client, the 2.x line, pinned to protocol 2026-07-28
//
// Steps as in python_client.py. An MCP error (a JSON-RPC error answered by the server or the
// gateway) is reported with its code, message and data; anything else by its class and text.
const [line, url] = process.argv.slice(2);
const sdk =
    line === 'v1'
        ? {
              ...(await import('@modelcontextprotocol/sdk/client/index.js')),
              ...(await import('@modelcontextprotocol/sdk/client/streamableHttp.js')),
              mcpError: (await import('@modelcontextprotocol/sdk/types.js')).McpError,
          }
        : line === 'v2'
          ? { ...(await import('@modelcontextprotocol/client')) }
          : undefined;
if (!sdk || !url) {
    console.error('usage: node ts_client.mjs v1|v2 URL');
    process.exit(2);
}
const McpErrorClass = sdk.mcpError ?? sdk.ProtocolError;

function failure(error) {
    if (error instanceof McpErrorClass) {
        return { mcp: true, code: error.code, message: error.message, data: error.data ?? null };
    }
    return { mcp: false, type: error?.constructor?.name ?? typeof error, message: String(error?.message ?? error) };
}

const texts = (blocks) => blocks.map((block) => block.text ?? '').join('');
const headers = process.env.MCP_BEARER ? { Authorization: `Bearer ${process.env.MCP_BEARER}` } : {};
const report = {};
const options = line === 'v2' ? { versionNegotiation: { mode: { pin: '2026-07-28' } } } : {};
const client = new sdk.Client({ name: `warden-interop-ts-${line}`, version: '1.0.0' }, options);
try {
    const transport = new sdk.StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
    await client.connect(transport);
    report.connect = { ok: { protocol: client.getNegotiatedProtocolVersion?.() ?? transport.protocolVersion ?? null } };
    const steps = {
        tools: async () => (await client.listTools()).tools.map((tool) => tool.name).sort(),
        echo: async () => {
            const result = await client.callTool({ name: 'echo', arguments: { text: 'hello through warden' } });
            return { text: texts(result.content), isError: Boolean(result.isError) };
        },
        denied: async () => {
            const result = await client.callTool({ name: 'delete_everything', arguments: {} });
            return { text: texts(result.content), isError: Boolean(result.isError) };
        },
        resources: async () => (await client.listResources()).resources.map((r) => r.uri).sort(),
        read: async () => (await client.readResource({ uri: 'notes://welcome' })).contents.map((c) => c.text ?? '').join(''),
        prompts: async () => (await client.listPrompts()).prompts.map((p) => p.name).sort(),
        prompt: async () =>
            (await client.getPrompt({ name: 'greeting', arguments: { name: 'Ada' } })).messages
                .map((m) => m.content.text ?? '')
                .join(''),
    };
    for (const [name, action] of Object.entries(steps)) {
        try {
            report[name] = { ok: await action() };
        } catch (error) {
            report[name] = { error: failure(error) };
        }
    }
} catch (error) {
    report.connect = { error: failure(error) };
}
await client.close().catch(() => {});
console.log(JSON.stringify(report));
process.exit(0);
