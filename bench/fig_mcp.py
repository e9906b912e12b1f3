"""Figure 9: an MCP tool call's round trip on a running ``datacore-msg mcp`` server.

An installation with a year of synthetic history (:func:`bench.workload.populate`, some messages
unread) is caught up; then one real server process (``python -m datacore_msg mcp --root ROOT``, as
Claude Code starts it) is driven over stdio by the MCP SDK's own client (``mcp.client.stdio`` and
``ClientSession``). A round trip is timed in the client from sending the request to holding the
parsed result: the JSON-RPC frames both ways, the server opening the space (settings, contacts, the
log), the catch-up, the library call and the result's encoding.

``list_inbox`` (the default: up to 20 messages, unread first) and ``send_message`` (to a person:
the agent's message appended, signed and fsynced, and the outbox view rewritten) alternate, after
a few untimed warm-up calls of each; the SDK's ``ping`` (no tool, no space) in the same session is
the floor the transport alone costs. For information, the same two tools are then called in this
process through the server's opener (no transport), with their CPU time: on a loaded machine the
wall time is mostly waiting for a core or for the disk. The goal is absolute (the issue's): p95 ≤
10 ms for each tool, shown as p95 / 10 ms.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

from bench.report import Check, Figure, Table, at_most
from bench.stats import Sample, fmt_seconds, percentile
from bench.workload import Installation, LogStats, make_installation, populate
from datacore_msg.app.space import Space, SpaceOpener
from datacore_msg.app.views import refresh
from datacore_msg.mcp import tools

WARMUP = 5
BUDGET_S = 0.010
HOUR_MS = 3_600_000


async def _measure(inst: Installation, calls: int) -> dict[str, Sample]:
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "datacore_msg", "mcp", "--root", str(inst.root)], env=inst.env()
    )
    samples = {"ping": Sample(), "list_inbox": Sample(), "send_message": Sample()}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()

        async def once(name: str, i: int) -> float:
            start = time.perf_counter()
            if name == "ping":
                await client.send_ping()
                return time.perf_counter() - start
            arguments: dict[str, Any] = {} if name == "list_inbox" else {"to": "tex", "text": f"bench {i}"}
            result = await client.call_tool(name, arguments)
            elapsed = time.perf_counter() - start
            assert not result.is_error, result
            return elapsed

        for i in range(WARMUP):
            for name in samples:
                await once(name, -i)
        for i in range(calls):
            for name, sample in samples.items():
                sample.add(await once(name, i))
    return samples


def _in_process(inst: Installation, calls: int) -> dict[str, tuple[Sample, Sample]]:
    """The same two tools called in this process through the server's opener, no transport:
    (wall time, CPU time of this process) per call, to tell the work from the machine's load."""
    opener = SpaceOpener(str(inst.root), None)

    def list_inbox(space: Space, _i: int) -> object:
        return tools.list_inbox(space)

    def send_message(space: Space, i: int) -> object:
        return tools.send_message(space, "tex", f"in process {i}")

    bodies: dict[str, Callable[[Space, int], object]] = {
        "list_inbox": list_inbox,
        "send_message": send_message,
    }
    out = {name: (Sample(), Sample()) for name in bodies}
    try:
        for i in range(WARMUP + calls):
            for name, body in bodies.items():
                wall, cpu = time.perf_counter(), time.process_time()
                with opener.open() as space:
                    body(space, i)
                if i >= WARMUP:
                    out[name][0].add(time.perf_counter() - wall)
                    out[name][1].add(time.process_time() - cpu)
    finally:
        opener.close()
    return out


def _p95(sample: Sample) -> float:
    return percentile(sample.times, 95)


def run(messages: int, calls: int, tmp: Path) -> Figure:
    started = time.perf_counter()
    base = tmp / "mcp"
    base.mkdir(parents=True)
    inst = make_installation(base)
    stats: LogStats = populate(inst, messages, time.time_ns() // 1_000_000 - HOUR_MS, 9)
    with inst.open() as space:
        refresh(space)
    samples = anyio.run(_measure, inst, calls)
    local = _in_process(inst, calls)

    fig = Figure(
        9,
        f"MCP tool call round trip at {stats.messages:,} messages",
        [
            f"One running `datacore-msg mcp` server, driven over stdio by the MCP SDK's client; "
            f"{calls} timed calls of each tool (after {WARMUP} warm-up calls), alternating with "
            f"the SDK's ping. The log holds {stats.events:,} events ({stats.messages:,} messages, "
            f"{stats.incoming:,} to the user).",
        ],
    )
    for name in ("list_inbox", "send_message"):
        p95 = _p95(samples[name])
        fig.checks.append(
            Check(
                f"`{name}` round trip (p95)",
                fmt_seconds(p95),
                fmt_seconds(BUDGET_S) + " (budget)",
                p95 / BUDGET_S,
                "p95 / budget",
                at_most(1),
            )
        )
    table = Table(("call", "median", "p90", "p95", "max"), title="Round trips")
    for name, sample in samples.items():
        table.add(
            name,
            fmt_seconds(sample.median),
            fmt_seconds(sample.p90),
            fmt_seconds(_p95(sample)),
            fmt_seconds(max(sample.times)),
        )
    fig.tables.append(table)
    inside = Table(
        ("tool", "wall median", "wall p95", "CPU median", "CPU p95"),
        title="The same tools in process, through the server's opener (no transport)",
    )
    for name, (wall, cpu) in local.items():
        inside.add(
            name,
            fmt_seconds(wall.median),
            fmt_seconds(_p95(wall)),
            fmt_seconds(cpu.median),
            fmt_seconds(_p95(cpu)),
        )
    fig.tables.append(inside)
    fig.notes.append(
        "Each call opens the space afresh (the server keeps only the log's SQLite connection), so "
        "the figure includes reading settings.local.yaml and contacts.yaml and the catch-up."
    )
    fig.notes.append(
        "`send_message` is durable before it answers: the append's commit and the outbox view's "
        "atomic write (file and folder) are three fsyncs, so its time follows the disk's fsync "
        "(see the machine table); the CPU columns are the work itself."
    )
    fig.seconds = time.perf_counter() - started
    return fig


__all__ = ["Installation", "run"]
