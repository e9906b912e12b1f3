"""Whether a registered MCP server starts: ``mcp status`` runs its entry as Claude Code would.

The entry's command and arguments are started with its ``env`` over the SDK's default environment
(what Claude Code passes), in an empty scratch folder; the SDK's client initialises a session and
lists the tools. What came back is reported, never raised: the tools' names and the time, or why it
failed (it did not start, it exited, it did not answer in time) with the first line the process
wrote to stderr.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import anyio
import attrs
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

DEFAULT_TIMEOUT_S = 30.0


@attrs.frozen
class Probe:
    tools: tuple[str, ...]
    elapsed_ms: int
    problem: str | None = None
    stderr_line: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None


def probe(entry: dict[str, Any], timeout_s: float = DEFAULT_TIMEOUT_S) -> Probe:
    """Start ``entry`` (an ``mcpServers`` value), initialise a session, list its tools, stop it."""
    command = entry.get("command")
    args = entry.get("args") or []
    env = entry.get("env") or {}
    if not isinstance(command, str) or not command:
        return Probe((), 0, "the entry has no command")
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return Probe((), 0, "the entry's args are not a list of strings")
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        return Probe((), 0, "the entry's env is not an object of strings")
    with (
        tempfile.TemporaryDirectory(prefix="datacore-msg-mcp-probe-") as scratch,
        tempfile.TemporaryFile("w+", encoding="utf-8") as errlog,
    ):
        params = StdioServerParameters(command=command, args=args, env=env, cwd=scratch)
        started = time.monotonic()
        names: list[str] = []
        problem: str | None = None

        async def run() -> None:
            with anyio.fail_after(timeout_s):
                async with (
                    stdio_client(params, errlog=errlog) as (read, write),
                    ClientSession(read, write) as client,
                ):
                    await client.initialize()
                    names.extend(tool.name for tool in (await client.list_tools()).tools)

        try:
            anyio.run(run)
        except TimeoutError:
            problem = f"no answer within {timeout_s:g} s"
        except OSError as exc:
            problem = f"{command}: cannot start: {exc.strerror or exc}"
        except Exception as exc:  # whatever the session raised: that is what we report
            problem = f"did not answer as an MCP server ({_first(exc)})"
        elapsed = round((time.monotonic() - started) * 1000)
        errlog.seek(0)
        lines = errlog.read().strip().splitlines()
    return Probe(tuple(names), elapsed, problem, lines[0][:300] if lines else "")


def _first(exc: BaseException) -> str:
    """The innermost message of an exception (group), on one line."""
    inner = getattr(exc, "exceptions", None)  # an exception group (3.11; anyio's backport on 3.10)
    while isinstance(inner, tuple) and inner:
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
