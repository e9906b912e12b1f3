"""A real ``datacore-msg mcp`` process driven by the MCP SDK's own client over stdio."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.types import CallToolResult, TextContent

#: Seconds a call may take on a loaded machine before the test fails.
CALL_TIMEOUT_S = 60


@asynccontextmanager
async def session(inst: Any) -> AsyncIterator[ClientSession]:
    """An initialised client session with a new server process for ``inst``'s space."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "datacore_msg", "mcp", "--root", str(inst.root)],
        env=inst.env(),
    )
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT_S) as client,
    ):
        await client.initialize()
        yield client


async def call(client: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    """A tool's structured result, checked against its text block, which must hold the same JSON;
    an error result is returned as its ``{"error": …}``."""
    result = await client.call_tool(tool, arguments)
    assert isinstance(result, CallToolResult)
    data = result.structured_content
    assert isinstance(data, dict), result
    [block] = result.content
    assert isinstance(block, TextContent)
    assert json.loads(block.text) == data
    assert ("error" in data) == result.is_error, data
    return data


async def ok(client: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    data = await call(client, tool, **arguments)
    assert "error" not in data, data
    return data
