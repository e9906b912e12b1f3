"""Figure 12: ``verify`` and ingest throughput, against a goal of 20,000 events/s.

* **verify**: ``app.audit.verify(space)`` (every stored event's id, signature, chain link, payload
  and subject index, one range of the log per core, each in its own process; then the clash
  listing) on the large synthetic log of figure 2.
* **ingest**: the first N events of that log's export, parsed and handed to ``EventStore.ingest``
  1,000 at a time (what an import's batches and a relay's catch-up do) in a fresh installation.
* **import**: the same lines through ``app.exchange.import_events`` in another fresh installation,
  the views caught up as the ``import`` command does (every 10 batches, after batches with task
  events, and at the end).

The goal is absolute (events/s on this machine); as a measure of how fast the machine is during the
run, a reference is timed in the same run: one core checking the same events' signatures with
libsodium in a plain loop (no parsing, no other check, the signed bytes computed beforehand), i.e.
what a one-core verifier could do at best.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from nacl.bindings import crypto_sign_open

from bench.report import Check, Figure, Table, at_least
from bench.stats import fmt_rate, fmt_seconds
from bench.workload import Installation, make_installation
from datacore_msg.app import audit, exchange
from datacore_msg.eventlog import sigbatch
from datacore_msg.eventlog.envelope import body_encoding

GOAL_PER_S = 20_000
REFERENCE_EVENTS = 20_000


def _reference(lines: list[bytes]) -> tuple[float, int]:
    """Events/s of one core checking signatures in a loop, over the first lines."""
    items = []
    for _, event in exchange.parse_lines(lines[:REFERENCE_EVENTS]):
        assert not isinstance(event, Exception)
        items.append((bytes.fromhex(event.sig) + body_encoding(event)[0], bytes.fromhex(event.origin)))
    start = time.perf_counter()
    for signed, key in items:
        crypto_sign_open(signed, key)
    return len(items) / (time.perf_counter() - start), len(items)


def _ingest(folder: Path, lines: list[bytes], now_ms: int) -> tuple[float, int]:
    folder.mkdir(parents=True)
    inst = make_installation(folder)
    with inst.open() as space:
        items = exchange.parse_lines(lines)
        accepted = 0
        start = time.perf_counter()
        while batch := list(itertools.islice(items, exchange.BATCH_EVENTS)):
            report = space.store.ingest(batch, now_ms)
            assert not report.rejected, report.rejected[:3]
            accepted += len(report.accepted)
        seconds = time.perf_counter() - start
    assert accepted == len(lines)
    return seconds, accepted


def _import(folder: Path, lines: list[bytes]) -> tuple[float, int]:
    folder.mkdir(parents=True)
    inst = make_installation(folder)
    with inst.open() as space:
        start = time.perf_counter()
        result = exchange.import_events(space, lines)
        seconds = time.perf_counter() - start
    assert result.rejected_count == 0 and result.accepted == len(lines), result.rejected
    return seconds, result.accepted


def run(inst: Installation, import_events: int, tmp: Path) -> Figure:
    started = time.perf_counter()
    with inst.open() as space:
        start = time.perf_counter()
        verified = audit.verify(space)
        verify_s = time.perf_counter() - start
        assert not verified.problems, verified.problems[:3]
        now_ms = space.clock() + 3_600_000
        lines = [
            line.encode("utf-8") for line in itertools.islice(exchange.export_lines(space), import_events)
        ]
    reference, reference_n = _reference(lines)
    ingest_s, ingested = _ingest(tmp / "ingest", lines, now_ms)
    import_s, imported = _import(tmp / "import", lines)
    verify_rate = verified.events / verify_s
    ingest_rate = ingested / ingest_s
    import_rate = imported / import_s
    fig = Figure(
        12,
        "Verify and import throughput",
        [
            f"verify: `app.audit.verify` of the {verified.events:,} events of figure 2's log. "
            f"ingest: the first {ingested:,} events of its export, `EventStore.ingest` "
            f"{exchange.BATCH_EVENTS:,} at a time in a fresh installation (an import's batches, a "
            "relay's catch-up). import: the same lines through `app.exchange.import_events` in "
            "another fresh installation, views caught up as the command does (every "
            f"{exchange.CATCH_UP_BATCHES} batches, after batches with task events, at the end).",
            f"Goal: {GOAL_PER_S:,} events/s each (the ratio is ours / {GOAL_PER_S:,}). verify cuts the "
            f"log into {sigbatch.workers()} ranges, each checked by its own process; ingest checks "
            f"signatures on {sigbatch.workers()} threads (libsodium releases the GIL).",
        ],
    )
    goal = f"{GOAL_PER_S:,}/s (goal)"
    for name, rate in (("verify", verify_rate), ("ingest", ingest_rate), ("import", import_rate)):
        fig.checks.append(
            Check(f"{name} throughput", fmt_rate(rate), goal, rate / GOAL_PER_S, "ours / goal", at_least(1))
        )
    table = Table(
        ("run", "events", "time", "throughput", "vs one core's signature loop"),
        title="Throughput, and one core checking signatures in a plain loop as the machine's yardstick",
    )
    for name, count, seconds in (
        ("verify", verified.events, verify_s),
        ("ingest", ingested, ingest_s),
        ("import", imported, import_s),
    ):
        table.add(
            name,
            f"{count:,}",
            fmt_seconds(seconds),
            fmt_rate(count / seconds),
            f"{count / seconds / reference:.2f}×",
        )
    table.add(
        "one core, libsodium verify loop",
        f"{reference_n:,}",
        fmt_seconds(reference_n / reference),
        fmt_rate(reference),
        "1.00×",
    )
    fig.tables.append(table)
    fig.notes.append(
        f"Two free cores could check at most about {2 * reference:,.0f} signatures/s at the "
        "reference's pace, before any parsing, hashing, payload decoding or SQL: the ratio to the "
        "reference shows how much of the machine's verification speed each path keeps."
    )
    fig.seconds = time.perf_counter() - started
    return fig
