"""Drives an MCP server with the official Python SDK's client (`mcp`), as an agent would,
and prints what each step saw as one JSON object, so a test can check every step even when
one fails.

Usage: python python_client.py URL   (MCP_BEARER, if set, is sent as the bearer token)

Steps: list tools; call `echo`; call `delete_everything`; list resources; read
`notes://welcome`; list prompts; get `greeting`. Each is {"ok": ...} or {"error": {...}}
where an MCP error (a JSON-RPC error the server or gateway answered) has its code, message
and data, and any other failure its type and text.
"""

import asyncio
import json
import os
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError


def failure(error: BaseException) -> dict:
    # An exception group from the SDK's task group: report the innermost cause.
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    if isinstance(error, MCPError):
        return {"mcp": True, "code": error.error.code, "message": error.error.message, "data": error.error.data}
    return {"mcp": False, "type": type(error).__name__, "message": str(error)}


async def step(report: dict, name: str, action) -> None:
    try:
        report[name] = {"ok": await action()}
    except BaseException as error:  # noqa: BLE001 - every failure is reported, none hidden
        report[name] = {"error": failure(error)}


def texts(blocks) -> str:
    return "".join(getattr(block, "text", "") for block in blocks)


async def main(url: str) -> dict:
    headers = {}
    if os.environ.get("MCP_BEARER"):
        headers["Authorization"] = f"Bearer {os.environ['MCP_BEARER']}"
    report: dict = {}
    try:
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                report["connect"] = {"ok": {"protocol": client.protocol_version}}

                async def tools():
                    return sorted(tool.name for tool in (await client.list_tools()).tools)

                async def echo():
                    result = await client.call_tool("echo", {"text": "hello through warden"})
                    return {"text": texts(result.content), "isError": bool(result.is_error)}

                async def delete():
                    result = await client.call_tool("delete_everything", {})
                    return {"text": texts(result.content), "isError": bool(result.is_error)}

                async def resources():
                    return sorted(str(r.uri) for r in (await client.list_resources()).resources)

                async def read():
                    result = await client.read_resource("notes://welcome")
                    return "".join(getattr(c, "text", "") for c in result.contents)

                async def prompts():
                    return sorted(p.name for p in (await client.list_prompts()).prompts)

                async def prompt():
                    result = await client.get_prompt("greeting", {"name": "Ada"})
                    return "".join(getattr(m.content, "text", "") for m in result.messages)

                for name, action in [
                    ("tools", tools),
                    ("echo", echo),
                    ("denied", delete),
                    ("resources", resources),
                    ("read", read),
                    ("prompts", prompts),
                    ("prompt", prompt),
                ]:
                    await step(report, name, action)
    except BaseException as error:  # noqa: BLE001
        report.setdefault("connect", {"error": failure(error)})
        if "connect" in report and "ok" in report["connect"]:
            report["close"] = {"error": failure(error)}
    return report


print(json.dumps(asyncio.run(main(sys.argv[1])), default=str))
