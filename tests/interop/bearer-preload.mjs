// Makes a Node process present a bearer token on every HTTP request it sends to one origin.
// The conformance suite's `server` command has no option for request headers or
// credentials, so the interoperability tests load this into the suite's process
// (node --import) to have it act as an agent holding a token:
//
//   WARDEN_INTEROP_BEARER         the token
//   WARDEN_INTEROP_BEARER_ORIGIN  the origin it is sent to (http://127.0.0.1:PORT), never elsewhere
//   WARDEN_INTEROP_PREFIX         the directory setup.sh printed (where undici is installed)
//
// The suite sends requests three ways, and each is covered: undici's global dispatcher
// carries both its own undici requests and Node's fetch (the SDK client's transport), and
// node:http's request() (hand-made requests with unusual headers) is wrapped. A request
// that already carries an Authorization header keeps it.
import http from 'node:http';
import { createRequire } from 'node:module';

const token = process.env.WARDEN_INTEROP_BEARER;
const origin = process.env.WARDEN_INTEROP_BEARER_ORIGIN;
const prefix = process.env.WARDEN_INTEROP_PREFIX;
if (!token || !origin || !prefix) {
    throw new Error('bearer-preload: set WARDEN_INTEROP_BEARER, WARDEN_INTEROP_BEARER_ORIGIN and WARDEN_INTEROP_PREFIX');
}
const { Agent, setGlobalDispatcher } = createRequire(`${prefix}/node_modules/`)('undici');
const expected = new URL(origin).origin;

/** The request's headers as name/value pairs, whatever shape undici was handed. */
function pairs(headers) {
    if (!headers) return [];
    if (Array.isArray(headers)) {
        const out = [];
        for (let i = 0; i + 1 < headers.length; i += 2) out.push([String(headers[i]), headers[i + 1]]);
        return out;
    }
    if (typeof headers[Symbol.iterator] === 'function') return [...headers].map(([k, v]) => [String(k), v]);
    return Object.entries(headers);
}

const withBearer = (dispatch) => (options, handler) => {
    const target = options.origin ? new URL(String(options.origin)).origin : undefined;
    if (target === expected) {
        const headers = pairs(options.headers);
        if (!headers.some(([name]) => name.toLowerCase() === 'authorization')) {
            headers.push(['authorization', `Bearer ${token}`]);
        }
        options = { ...options, headers: headers.flat() };
    }
    return dispatch(options, handler);
};

setGlobalDispatcher(new Agent().compose(withBearer));

/** Whether node:http request options (an options object, a URL or a string) go to the origin. */
function goesToOrigin(options) {
    if (typeof options === 'string' || options instanceof URL) return new URL(String(options)).origin === expected;
    if (!options || typeof options !== 'object') return false;
    const host = options.hostname ?? options.host?.split(':')[0];
    const port = options.port ?? (options.host?.split(':')[1] || 80);
    const target = new URL(expected);
    return host === target.hostname && String(port) === (target.port || '80');
}

const nodeRequest = http.request;
http.request = function requestWithBearer(options, ...rest) {
    if (goesToOrigin(options) && typeof options === 'object' && !(options instanceof URL)) {
        const headers = { ...(options.headers ?? {}) };
        if (!Object.keys(headers).some((name) => name.toLowerCase() === 'authorization')) {
            headers.authorization = `Bearer ${token}`;
        }
        options = { ...options, headers };
    } else if (goesToOrigin(options)) {
        // A URL or string with no options object: give it one carrying the header.
        const [second, ...more] = rest;
        if (second && typeof second === 'object') {
            rest = [{ ...second, headers: { authorization: `Bearer ${token}`, ...(second.headers ?? {}) } }, ...more];
        } else {
            rest = [{ headers: { authorization: `Bearer ${token}` } }, ...rest];
        }
    }
    return nodeRequest.call(this, options, ...rest);
};
