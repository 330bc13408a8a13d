"""A small MCP server over stdio for Warden's end-to-end tests (standard library only).

It speaks newline-delimited JSON-RPC on stdin and stdout and records every message it
receives in the file named by its first argument, with its pid when it starts, so a test
can tell what reached it and which process it was. Its secret arrives as the environment
variable STDIO_TOKEN; the `whoami` tool answers with its SHA-256, never the value.

To show that Warden is not confused by what an untrusted server writes, every tool call is
preceded by a line that is not JSON, an answer under an id Warden never sent, a
notification, and (once per process) a line longer than Warden reads.
"""

import hashlib
import json
import os
import sys
import time

record = open(sys.argv[1], "a", encoding="utf-8")


def note(entry):
    record.write(json.dumps(entry) + "\n")
    record.flush()


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def text(value):
    return {"content": [{"type": "text", "text": value}]}


TOOLS = [
    {"name": "echo", "description": "Returns its argument",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}},
                     "required": ["text"]}},
    {"name": "whoami", "description": "The process id, the hash of the secret, the environment's names",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "reveal", "description": "Returns the secret itself (Warden must redact it)",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "slow", "description": "Answers after a minute",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "delete_everything", "description": "Deletes everything",
     "inputSchema": {"type": "object", "properties": {}}},
]

secret = os.environ.get("STDIO_TOKEN")
note({"started": os.getpid()})
sys.stderr.write("stdio test server up; its token is %s\n" % secret)
sys.stderr.flush()
sent_overlong = False

for line in sys.stdin:
    message = json.loads(line)
    method = message.get("method")
    params = message.get("params") or {}
    note({"method": method, "tool": params.get("name")})
    if "id" not in message:
        continue
    request_id = message["id"]
    if method == "initialize":
        result = {"protocolVersion": params.get("protocolVersion"),
                  "capabilities": {"tools": {}},
                  "serverInfo": {"name": "warden-stdio-test", "version": "1.0.0"}}
    elif method == "tools/list":
        result = {"tools": TOOLS}
    elif method == "tools/call":
        sys.stdout.write("this line is not JSON\n")
        send({"jsonrpc": "2.0", "id": 987654321, "result": text("an answer to no request")})
        send({"jsonrpc": "2.0", "method": "notifications/message",
              "params": {"level": "info", "data": "calling"}})
        if not sent_overlong:
            sent_overlong = True
            sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": request_id,
                                         "result": text("x" * (9 * 1024 * 1024))}) + "\n")
        name = params.get("name")
        if name == "echo":
            result = text(params.get("arguments", {}).get("text", ""))
        elif name == "whoami":
            digest = hashlib.sha256(secret.encode()).hexdigest() if secret is not None else None
            result = text(json.dumps({"pid": os.getpid(), "secret_sha256": digest,
                                      "env": sorted(os.environ.keys())}))
        elif name == "reveal":
            result = text("the secret is %s" % secret)
        elif name == "slow":
            time.sleep(60)
            result = text("slept")
        elif name == "delete_everything":
            result = text("everything is gone")
        else:
            send({"jsonrpc": "2.0", "id": request_id,
                  "error": {"code": -32602, "message": "no such tool"}})
            continue
    elif method == "ping":
        result = {}
    else:
        send({"jsonrpc": "2.0", "id": request_id,
              "error": {"code": -32601, "message": "method not found"}})
        continue
    send({"jsonrpc": "2.0", "id": request_id, "result": result})
