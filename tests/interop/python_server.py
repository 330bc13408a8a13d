"""A small MCP server written with the official Python SDK (`mcp`), served over streamable
HTTP at its natural `/mcp` path, for the SDK client tests through Warden's gateway.

It has one harmless tool (`echo`), one a policy should refuse (`delete_everything`), a
resource (`notes://welcome`) and a prompt (`greeting`). Every tool it runs is appended, one
name a line, to the file named by its second argument, so a test can tell what ran.

Usage: python python_server.py HOST RAN_FILE
Prints "python-server listening on http://HOST:PORT/mcp" once it accepts (the port is
chosen by the system).
"""

import asyncio
import socket
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

host, ran_file = sys.argv[1], sys.argv[2]
server = MCPServer("warden-interop-python", version="1.0.0")


def ran(tool: str) -> None:
    with open(ran_file, "a", encoding="utf-8") as out:
        out.write(tool + "\n")


@server.tool()
def echo(text: str) -> str:
    """Returns its argument."""
    ran("echo")
    return text


@server.tool()
def delete_everything() -> str:
    """Deletes everything."""
    ran("delete_everything")
    return "everything is gone"


@server.resource("notes://welcome", name="welcome", description="The welcome note", mime_type="text/plain")
def welcome() -> str:
    return "Welcome to the notes server."


@server.prompt()
def greeting(name: str) -> str:
    """Greets someone by name."""
    return f"Please greet {name} warmly."


async def main() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    app = server.streamable_http_app(host=host)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    print(f"python-server listening on http://{host}:{port}/mcp", flush=True)
    await uvicorn.Server(config).serve(sockets=[listener])


asyncio.run(main())
