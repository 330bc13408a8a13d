// An MCP server built to the conformance suite's server scenarios, on the official
// TypeScript SDK (v2, @modelcontextprotocol/server), for both protocol revisions at one URL:
// 2025-11-25 in sessions (initialize, Mcp-Session-Id, server-to-client requests on the
// POST's stream) and 2026-07-28 statelessly (per-request _meta, server/discover,
// input_required results), answered by the SDK's modern handler.
//
// The tools, resources and prompts are the ones the suite's scenario descriptions name
// (read from the installed suite); the behaviour of each is written here.
//
// Usage: node conformance-server.mjs [PORT]   (0 or nothing: an ephemeral port)
// With CONFORMANCE_SERVER_BEARER set, every request must carry `Authorization: Bearer` and
// that value (401 otherwise): so a test can tell which credential reached the server.
// Prints "conformance-server listening on http://127.0.0.1:PORT/mcp" once it accepts.
import http from 'node:http';
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import {
    McpServer,
    ResourceTemplate,
    WebStandardStreamableHTTPServerTransport,
    acceptedContent,
    completable,
    fromJsonSchema,
    createMcpHandler,
    hostHeaderValidationResponse,
    inputRequired,
    isInitializeRequest,
    isLegacyRequest,
    localhostAllowedHostnames,
    localhostAllowedOrigins,
    originValidationResponse,
    ProtocolError,
    ProtocolErrorCode,
    ResourceNotFoundError,
} from '@modelcontextprotocol/server';
import { toNodeHandler } from '@modelcontextprotocol/node';
import * as z from 'zod';

// A 1x1 red PNG and a tiny silent WAV, the smallest media the content scenarios accept.
const PNG =
    'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=';

const JSON_SCHEMA_2020_12 = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    $defs: {
        address: {
            $anchor: 'addressDef',
            type: 'object',
            properties: { street: { type: 'string' }, city: { type: 'string' } },
        },
    },
    properties: {
        name: { type: 'string' },
        address: { $ref: '#/$defs/address' },
        contactMethod: { type: 'string', enum: ['phone', 'email'] },
        phone: { type: 'string' },
        email: { type: 'string' },
    },
    allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
    if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
    then: { required: ['phone'] },
    else: { required: ['email'] },
    additionalProperties: false,
};

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// requestState is echoed back by the client, so it is signed with a per-process key; the
// SDK's verify hook refuses state whose signature does not match (a -32602 error) and hands
// the handler the decoded payload through ctx.mcpReq.requestState().
const STATE_KEY = randomUUID();
function signState(payload) {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    const mac = createHmac('sha256', STATE_KEY).update(body).digest('base64url');
    return `${body}.${mac}`;
}
function openState(state) {
    const [body, mac] = typeof state === 'string' ? state.split('.') : [];
    const expected = body ? createHmac('sha256', STATE_KEY).update(body).digest('base64url') : '';
    if (!mac || mac.length !== expected.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(expected))) {
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'requestState failed its integrity check');
    }
    return JSON.parse(Buffer.from(body, 'base64url').toString());
}

const text = (value) => ({ content: [{ type: 'text', text: value }] });
const nameSchema = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] };
const askName = (message = 'What is your name?') =>
    inputRequired.elicit({ message, requestedSchema: nameSchema });

/** The 2026-07-28 client capabilities a request declared in its _meta. */
function declaredCapabilities(ctx) {
    return (
        ctx.mcpReq.envelope?.['io.modelcontextprotocol/clientCapabilities'] ??
        ctx.mcpReq._meta?.['io.modelcontextprotocol/clientCapabilities'] ??
        {}
    );
}

function buildServer() {
    const server = new McpServer(
        { name: 'warden-conformance-server', version: '1.0.0' },
        {
            capabilities: { logging: {}, completions: {}, resources: { subscribe: true, listChanged: true } },
            requestState: { verify: (state) => openState(state) },
            cacheHints: {
                'tools/list': { ttlMs: 60000, cacheScope: 'public' },
                'prompts/list': { ttlMs: 60000, cacheScope: 'public' },
                'resources/list': { ttlMs: 60000, cacheScope: 'public' },
                'resources/templates/list': { ttlMs: 60000, cacheScope: 'public' },
                'resources/read': { ttlMs: 10000, cacheScope: 'public' },
            },
        },
    );

    // Content of every kind.
    server.registerTool('test_simple_text', { description: 'Returns a simple text' }, async () =>
        text('This is a simple text response for testing.'),
    );
    server.registerTool('test_image_content', { description: 'Returns an image' }, async () => ({
        content: [{ type: 'image', data: PNG, mimeType: 'image/png' }],
    }));
    server.registerTool('test_audio_content', { description: 'Returns audio' }, async () => ({
        content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }],
    }));
    server.registerTool('test_embedded_resource', { description: 'Returns an embedded resource' }, async () => ({
        content: [
            {
                type: 'resource',
                resource: {
                    uri: 'test://embedded-resource',
                    mimeType: 'text/plain',
                    text: 'This is an embedded resource content.',
                },
            },
        ],
    }));
    server.registerTool('test_multiple_content_types', { description: 'Returns text, image and resource' }, async () => ({
        content: [
            { type: 'text', text: 'Multiple content types test:' },
            { type: 'image', data: PNG, mimeType: 'image/png' },
            {
                type: 'resource',
                resource: {
                    uri: 'test://mixed-content-resource',
                    mimeType: 'application/json',
                    text: JSON.stringify({ test: 'data', value: 123 }),
                },
            },
        ],
    }));
    server.registerTool('test_error_handling', { description: 'Always fails' }, async () => ({
        isError: true,
        content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }],
    }));

    // JSON Schema 2020-12 keywords the suite expects to survive tools/list untouched.
    server.registerTool(
        'json_schema_2020_12_tool',
        { description: 'Takes a JSON Schema 2020-12 input', inputSchema: fromJsonSchema(JSON_SCHEMA_2020_12) },
        async (args) => text(`Received ${JSON.stringify(args)}`),
    );

    // A parameter mirrored into an Mcp-Param-Region header (SEP-2243), which the SDK checks
    // against the body.
    server.registerTool(
        'test_custom_header',
        {
            description: 'Takes a region that clients also send as a header',
            inputSchema: fromJsonSchema({
                type: 'object',
                properties: { region: { type: 'string', 'x-mcp-header': 'Region' } },
                required: ['region'],
            }),
        },
        async ({ region }) => text(`Region: ${region}`),
    );

    // Notifications while a call runs.
    server.registerTool('test_tool_with_logging', { description: 'Logs while it runs' }, async (ctx) => {
        for (const [i, message] of ['Tool execution started', 'Tool processing data', 'Tool execution completed'].entries()) {
            if (i > 0) await sleep(50);
            await ctx.mcpReq.log('info', message);
        }
        return text('Tool with logging executed successfully');
    });
    server.registerTool('test_tool_with_progress', { description: 'Reports progress' }, async (ctx) => {
        const token = ctx.mcpReq._meta?.progressToken;
        for (const progress of [0, 50, 100]) {
            if (progress > 0) await sleep(50);
            if (token !== undefined) {
                await ctx.mcpReq.notify({
                    method: 'notifications/progress',
                    params: { progressToken: token, progress, total: 100 },
                });
            }
        }
        return text(`Progress tool completed (token ${token ?? 'none'})`);
    });

    // Server-to-client requests, written once: on 2025-11-25 the SDK sends them on the
    // call's stream, on 2026-07-28 they go back as input_required results.
    server.registerTool(
        'test_sampling',
        { description: 'Asks the client for a completion', inputSchema: z.object({ prompt: z.string() }) },
        async ({ prompt }, ctx) => {
            const answer = ctx.mcpReq.inputResponses?.sample;
            if (!answer) {
                return inputRequired({
                    inputRequests: {
                        sample: inputRequired.createMessage({
                            messages: [{ role: 'user', content: { type: 'text', text: prompt } }],
                            maxTokens: 100,
                        }),
                    },
                });
            }
            const reply = answer.content?.text ?? JSON.stringify(answer.content);
            return text(`LLM response: ${reply}`);
        },
    );
    server.registerTool(
        'test_elicitation',
        { description: 'Asks the user for input', inputSchema: z.object({ message: z.string() }) },
        async ({ message }, ctx) => {
            const answer = ctx.mcpReq.inputResponses?.user;
            if (!answer) {
                return inputRequired({
                    inputRequests: {
                        user: inputRequired.elicit({
                            message,
                            requestedSchema: {
                                type: 'object',
                                properties: {
                                    username: { type: 'string', description: "User's response" },
                                    email: { type: 'string', description: "User's email address" },
                                },
                                required: ['username', 'email'],
                            },
                        }),
                    },
                });
            }
            return text(`User response: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
        },
    );
    server.registerTool('test_elicitation_sep1034_defaults', { description: 'Elicitation with defaults' }, async (ctx) => {
        const answer = ctx.mcpReq.inputResponses?.defaults;
        if (!answer) {
            return inputRequired({
                inputRequests: {
                    defaults: inputRequired.elicit({
                        message: 'Please review and update the form fields with defaults',
                        requestedSchema: {
                            type: 'object',
                            properties: {
                                name: { type: 'string', description: 'User name', default: 'John Doe' },
                                age: { type: 'integer', description: 'User age', default: 30 },
                                score: { type: 'number', description: 'User score', default: 95.5 },
                                status: {
                                    type: 'string',
                                    description: 'User status',
                                    enum: ['active', 'inactive', 'pending'],
                                    default: 'active',
                                },
                                verified: { type: 'boolean', description: 'Verification status', default: true },
                            },
                        },
                    }),
                },
            });
        }
        return text(`Elicitation completed: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
    });
    server.registerTool('test_elicitation_sep1330_enums', { description: 'Elicitation with enums' }, async (ctx) => {
        const answer = ctx.mcpReq.inputResponses?.enums;
        if (!answer) {
            return inputRequired({
                inputRequests: {
                    enums: inputRequired.elicit({
                        message: 'Please select options from the enum fields',
                        requestedSchema: {
                            type: 'object',
                            properties: {
                                untitledSingle: { type: 'string', description: 'Untitled single-select', enum: ['option1', 'option2', 'option3'] },
                                titledSingle: {
                                    type: 'string',
                                    description: 'Titled single-select',
                                    oneOf: [
                                        { const: 'value1', title: 'First Option' },
                                        { const: 'value2', title: 'Second Option' },
                                        { const: 'value3', title: 'Third Option' },
                                    ],
                                },
                                legacyEnum: {
                                    type: 'string',
                                    description: 'Legacy titled enum',
                                    enum: ['opt1', 'opt2', 'opt3'],
                                    enumNames: ['Option One', 'Option Two', 'Option Three'],
                                },
                                untitledMulti: {
                                    type: 'array',
                                    description: 'Untitled multi-select',
                                    items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
                                },
                                titledMulti: {
                                    type: 'array',
                                    description: 'Titled multi-select',
                                    items: {
                                        anyOf: [
                                            { const: 'value1', title: 'First Choice' },
                                            { const: 'value2', title: 'Second Choice' },
                                            { const: 'value3', title: 'Third Choice' },
                                        ],
                                    },
                                },
                            },
                        },
                    }),
                },
            });
        }
        return text(`Elicitation completed: action=${answer.action}, content=${JSON.stringify(answer.content ?? {})}`);
    });

    // The 2026-07-28 multi-round-trip scenarios.
    server.registerTool('test_input_required_result_elicitation', { description: 'Asks for a name' }, async (ctx) => {
        const content = acceptedContent(ctx.mcpReq.inputResponses, 'user_name');
        if (typeof content?.name !== 'string') return inputRequired({ inputRequests: { user_name: askName() } });
        return text(`Hello, ${content.name}!`);
    });
    server.registerTool('test_input_required_result_sampling', { description: 'Asks for a completion' }, async (ctx) => {
        const answer = ctx.mcpReq.inputResponses?.capital_question;
        if (!answer) {
            return inputRequired({
                inputRequests: {
                    capital_question: inputRequired.createMessage({
                        messages: [{ role: 'user', content: { type: 'text', text: 'What is the capital of France?' } }],
                        maxTokens: 100,
                    }),
                },
            });
        }
        return text(`The model answered: ${answer.content?.text ?? ''}`);
    });
    server.registerTool('test_input_required_result_list_roots', { description: 'Asks for the roots' }, async (ctx) => {
        const answer = ctx.mcpReq.inputResponses?.client_roots;
        if (!Array.isArray(answer?.roots)) {
            return inputRequired({ inputRequests: { client_roots: inputRequired.listRoots() } });
        }
        return text(`Roots: ${answer.roots.map((root) => root.uri).join(', ')}`);
    });
    server.registerTool('test_input_required_result_request_state', { description: 'Round-trips state' }, async (ctx) => {
        const responses = ctx.mcpReq.inputResponses;
        if (!responses?.confirm) {
            return inputRequired({
                inputRequests: {
                    confirm: inputRequired.elicit({
                        message: 'Please confirm',
                        requestedSchema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] },
                    }),
                },
                requestState: signState({ round: 1 }),
            });
        }
        const state = ctx.mcpReq.requestState() ?? { round: 0 };
        return text(`state-ok: round ${state.round} confirmed`);
    });
    server.registerTool('test_input_required_result_multiple_inputs', { description: 'Asks three things' }, async (ctx) => {
        const responses = ctx.mcpReq.inputResponses ?? {};
        const keys = ['user_name', 'greeting', 'client_roots'];
        if (!keys.every((key) => responses[key])) {
            return inputRequired({
                inputRequests: {
                    user_name: askName(),
                    greeting: inputRequired.createMessage({
                        messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }],
                        maxTokens: 50,
                    }),
                    client_roots: inputRequired.listRoots(),
                },
                requestState: signState({ round: 1 }),
            });
        }
        return text(`All inputs received: ${keys.join(', ')}`);
    });
    server.registerTool('test_input_required_result_multi_round', { description: 'Asks twice' }, async (ctx) => {
        const responses = ctx.mcpReq.inputResponses ?? {};
        const state = ctx.mcpReq.requestState() ?? { round: 0 };
        if (state.round === 1 && responses.step1) {
            const name = acceptedContent(responses, 'step1')?.name ?? '';
            return inputRequired({
                inputRequests: {
                    step2: inputRequired.elicit({
                        message: 'Step 2: What is your favorite color?',
                        requestedSchema: { type: 'object', properties: { color: { type: 'string' } }, required: ['color'] },
                    }),
                },
                requestState: signState({ round: 2, name }),
            });
        }
        if (state.round === 2 && responses.step2) {
            const color = acceptedContent(responses, 'step2')?.color ?? '';
            return text(`Done: ${state.name} likes ${color}`);
        }
        return inputRequired({
            inputRequests: { step1: askName('Step 1: What is your name?') },
            requestState: signState({ round: 1 }),
        });
    });
    server.registerTool('test_input_required_result_tampered_state', { description: 'Signs its state' }, async (ctx) => {
        if (ctx.mcpReq.requestState() === undefined) {
            return inputRequired({ inputRequests: { user_name: askName() }, requestState: signState({ round: 1 }) });
        }
        return text('state verified');
    });
    server.registerTool('test_input_required_result_capabilities', { description: 'Asks only what the client can answer' }, async (ctx) => {
        const responses = ctx.mcpReq.inputResponses;
        if (responses && Object.keys(responses).length > 0) return text('Inputs received');
        const capabilities = declaredCapabilities(ctx);
        const inputRequests = {};
        if (capabilities.elicitation) inputRequests.user_name = askName();
        if (capabilities.sampling) {
            inputRequests.greeting = inputRequired.createMessage({
                messages: [{ role: 'user', content: { type: 'text', text: 'Generate a greeting' } }],
                maxTokens: 50,
            });
        }
        if (capabilities.roots) inputRequests.client_roots = inputRequired.listRoots();
        if (Object.keys(inputRequests).length === 0) return text('The client declared no capability to ask with');
        return inputRequired({ inputRequests });
    });

    // The server-stateless scenario's diagnostic tools: one that needs a capability the
    // client may not have declared, one that asks for input, one that logs.
    // It asks for a completion; the SDK answers -32021 itself when sampling is undeclared.
    server.registerTool('test_missing_capability', { description: 'Needs the sampling capability' }, async (ctx) => {
        const answer = ctx.mcpReq.inputResponses?.sample;
        if (!answer) {
            return inputRequired({
                inputRequests: {
                    sample: inputRequired.createMessage({
                        messages: [{ role: 'user', content: { type: 'text', text: 'Say hello' } }],
                        maxTokens: 20,
                    }),
                },
            });
        }
        return text(`The model answered: ${answer.content?.text ?? ''}`);
    });
    server.registerTool('test_streaming_elicitation', { description: 'Asks for a name' }, async (ctx) => {
        const content = acceptedContent(ctx.mcpReq.inputResponses, 'user_name');
        if (typeof content?.name !== 'string') return inputRequired({ inputRequests: { user_name: askName() } });
        return text(`Hello, ${content.name}!`);
    });
    server.registerTool('test_logging_tool', { description: 'Logs once' }, async (ctx) => {
        await ctx.mcpReq.log('info', 'test_logging_tool ran');
        return text('logged');
    });

    // Resources.
    server.registerResource(
        'static-text',
        'test://static-text',
        { description: 'A static text resource', mimeType: 'text/plain' },
        async (uri) => ({
            contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }],
        }),
    );
    server.registerResource(
        'static-binary',
        'test://static-binary',
        { description: 'A static binary resource', mimeType: 'image/png' },
        async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'image/png', blob: PNG }] }),
    );
    server.registerResource(
        'watched-resource',
        'test://watched-resource',
        { description: 'A resource to subscribe to', mimeType: 'text/plain' },
        async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: 'Watched resource content.' }] }),
    );
    server.registerResource(
        'template',
        new ResourceTemplate('test://template/{id}/data', {
            list: undefined,
            complete: { id: (value) => ['123', '456', '789'].filter((id) => id.startsWith(value)) },
        }),
        { description: 'A resource template', mimeType: 'application/json' },
        async (uri, { id }) => ({
            contents: [
                {
                    uri: uri.href,
                    mimeType: 'application/json',
                    text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }),
                },
            ],
        }),
    );

    // Prompts.
    server.registerPrompt('test_simple_prompt', { description: 'A simple prompt' }, async () => ({
        messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }],
    }));
    server.registerPrompt(
        'test_prompt_with_arguments',
        {
            description: 'A prompt with arguments',
            argsSchema: z.object({
                arg1: completable(z.string().describe('First test argument'), (value) =>
                    ['paris', 'park', 'party'].filter((word) => word.startsWith(value)),
                ),
                arg2: z.string().describe('Second test argument'),
            }),
        },
        async ({ arg1, arg2 }) => ({
            messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1}', arg2='${arg2}'` } }],
        }),
    );
    server.registerPrompt(
        'test_prompt_with_embedded_resource',
        { description: 'A prompt embedding a resource', argsSchema: z.object({ resourceUri: z.string().describe('URI to embed') }) },
        async ({ resourceUri }) => ({
            messages: [
                {
                    role: 'user',
                    content: {
                        type: 'resource',
                        resource: { uri: resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
                    },
                },
                { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } },
            ],
        }),
    );
    server.registerPrompt('test_prompt_with_image', { description: 'A prompt with an image' }, async () => ({
        messages: [
            { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
            { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } },
        ],
    }));
    server.registerPrompt('test_input_required_result_prompt', { description: 'A prompt that asks first' }, async (ctx) => {
        const context = acceptedContent(ctx.mcpReq.inputResponses, 'user_context')?.context;
        if (typeof context !== 'string') {
            return inputRequired({
                inputRequests: {
                    user_context: inputRequired.elicit({
                        message: 'What context should the prompt use?',
                        requestedSchema: { type: 'object', properties: { context: { type: 'string' } }, required: ['context'] },
                    }),
                },
            });
        }
        return { messages: [{ role: 'user', content: { type: 'text', text: `Use this context: ${context}` } }] };
    });

    // Subscriptions are accepted and tracked per server instance (one per session).
    const subscribed = new Set();
    server.server.setRequestHandler?.('resources/subscribe', async (request) => {
        subscribed.add(request.params.uri);
        return {};
    });
    server.server.setRequestHandler?.('resources/unsubscribe', async (request) => {
        subscribed.delete(request.params.uri);
        return {};
    });
    return server;
}

// 2025-11-25: one transport and server per session, made by initialize.
const sessions = new Map();
async function serveLegacy(request) {
    const sessionId = request.headers.get('mcp-session-id');
    if (sessionId) {
        const transport = sessions.get(sessionId);
        if (!transport) return new Response('unknown session', { status: 404 });
        return transport.handleRequest(request);
    }
    const body = request.method === 'POST' ? await request.clone().json().catch(() => undefined) : undefined;
    if (!body || !isInitializeRequest(body)) {
        return Response.json(
            { jsonrpc: '2.0', id: body?.id ?? null, error: { code: -32600, message: 'initialize first: no Mcp-Session-Id' } },
            { status: 400 },
        );
    }
    const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => sessions.set(id, transport),
        onsessionclosed: (id) => sessions.delete(id),
    });
    transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
    await buildServer().connect(transport);
    return transport.handleRequest(request, { parsedBody: body });
}

// 2026-07-28: the SDK's per-request handler; 2025-era traffic never reaches it.
const modern = createMcpHandler(() => buildServer(), { legacy: 'reject' });

const requiredBearer = process.env.CONFORMANCE_SERVER_BEARER;
const allowedHosts = localhostAllowedHostnames();
const allowedOrigins = localhostAllowedOrigins();
const handler = {
    fetch: async (request) => {
        // DNS rebinding protection: this server only answers to localhost names.
        const refused =
            hostHeaderValidationResponse(request, allowedHosts) ?? originValidationResponse(request, allowedOrigins);
        if (refused) return refused;
        if (requiredBearer && request.headers.get('authorization') !== `Bearer ${requiredBearer}`) {
            return Response.json({ error: 'invalid_token' }, { status: 401, headers: { 'www-authenticate': 'Bearer' } });
        }
        if (new URL(request.url).pathname !== '/mcp') return new Response('not found', { status: 404 });
        return (await isLegacyRequest(request)) ? serveLegacy(request) : modern.fetch(request);
    },
};

const node = toNodeHandler(handler, { onerror: (error) => console.error('conformance-server:', error) });
const listener = http.createServer((req, res) => node(req, res));
listener.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
    console.log(`conformance-server listening on http://127.0.0.1:${listener.address().port}/mcp`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
