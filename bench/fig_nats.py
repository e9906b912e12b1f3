"""Figure 14: the relay on NATS JetStream — live delivery across two instances, catch-up from the
stream, fan-out with one and with two instances; the SQLite relay measured in the same run.

A real ``nats-server -js`` (file storage, one node) on loopback and real relay processes
(``relay serve --store nats://...``); the baselines are the SQLite relay (``--data``), started the
same way in the same run.

* **Live delivery A → relay → JetStream → relay → B.** A is connected to one instance, B to the
  other; A pushes messages already in its log, the clock stops when B's log holds them all (each
  verified by the first instance, stored with JetStream's PubAck, read by the second instance's
  consumer, verified and made durable by B). Then single messages, each timed to B's store.
  Baseline: the same through one SQLite relay (:func:`bench.fig_relay._live`).
* **Catch-up** of N events from the stream (several origins, published beforehand, untimed) to a
  peer with an empty log: one ``sync``.
* **Fan-out** of one event per round to P admitted idle peers: all on one instance, then half on
  each of two instances (the publisher on the first): latency from the send to each peer's receipt.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.fig_relay import (
    SECRET,
    _catch_up,
    _fan_out,
    _free_port,
    _helper,
    _history,
    _latency_table,
    _live,
    _live_between,
    _Proc,
    _relay,
)
from bench.relay_helpers import raise_fd_limit
from bench.report import Check, Figure, Table, at_least, at_most
from bench.stats import Sample, fmt_rate, fmt_seconds, percentile
from bench.workload import insert_rows
from datacore_msg.eventlog.envelope import Event
from datacore_msg.transport.relay_source import event_text
from datacore_msg.transport.relay_store import open_relay_store

STREAM = "BENCH"


def _nats_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
    port, monitor = _free_port(), _free_port()
    argv = [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor), "-sd", str(folder)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{monitor}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return proc, f"nats://127.0.0.1:{port}"
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("nats-server did not start")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _nats_relay(tmp: Path, store: str, stream: str) -> tuple[_Proc, str]:
    relay, url, _ = _relay(tmp, "--store", store, "--stream", stream)
    return relay, url


async def _seed(server: str, stream: str, events: list[Event]) -> None:
    """Publish ``events`` (valid, each origin's in seq order) to a new stream, pipelined: the
    catch-up part measures reading, not the relay's ingest."""
    import nats
    from nats.js import api

    nc = await nats.connect(server)
    js = nc.jetstream()
    await js.add_stream(
        api.StreamConfig(
            name=stream,
            subjects=[f"{stream}.>"],
            storage=api.StorageType.FILE,
            allow_direct=True,
            max_msg_size=1024 * 1024,
        )
    )
    for start in range(0, len(events), 1_000):
        acks = [
            await js.publish_async(
                f"{stream}.{e.origin}", event_text(e).encode(), headers={"Nats-Msg-Id": e.id}
            )
            for e in events[start : start + 1_000]
        ]
        await asyncio.gather(*acks)
    await nc.close()


def _fan_out_over(relays: list[str], peers: int, rounds: int) -> Sample:
    """``peers`` idle admitted peers spread evenly over ``relays`` (two helper processes each);
    the publisher on the first relay."""
    from contextlib import ExitStack

    with ExitStack() as stack:
        helpers = []
        share = peers // len(relays)
        for url in relays:
            for half in (share // 2, share - share // 2):
                helpers.append(stack.enter_context(_helper("peers", url, str(half), SECRET)))
        time.sleep(1.0)
        return asyncio.run(_fan_out(relays[0], SECRET, helpers, rounds))


def _measure(tmp: Path, live_events: int, singles: int, catch_up_events: int, peers: int, rounds: int) -> Any:
    raise_fd_limit()
    base = tmp / "nats"
    base.mkdir(parents=True)
    out: dict[str, Any] = {}
    relay, url, _ = _relay(base / "sqlite-relay")
    try:
        bulk, latency, counts, _ = asyncio.run(_live(url, base / "sqlite-live", live_events, singles))
        out["sqlite"] = (bulk, latency)
    finally:
        relay.close()
    server, nats_url = _nats_server(base / "js")
    try:
        one, url_one = _nats_relay(base / "unused-one", nats_url, STREAM)
        two, url_two = _nats_relay(base / "unused-two", nats_url, STREAM)
        try:
            (base / "nats-live").mkdir()
            bulk, latency, counts, _ = asyncio.run(
                _live_between(url_one, url_two, base / "nats-live", live_events, singles)
            )
            assert counts == [live_events + singles] * 2, counts
            out["nats"] = (bulk, latency)
        finally:
            one.close()
            two.close()
        # the fan-out's peers expect only the publisher's events: streams of their own
        for name, count in (("fan_one", 1), ("fan_two", 2)):
            relays = [_nats_relay(base / f"unused-{name}-{n}", nats_url, name.upper()) for n in range(count)]
            try:
                out[name] = _fan_out_over([url for _, url in relays], peers, rounds)
            finally:
                for proc, _ in relays:
                    proc.close()
        history = _history(catch_up_events)
        seeded = open_relay_store(base / "sqlite-catch-up")
        insert_rows(seeded.conn, seeded.path, iter(history), 5_000)  # valid events, stored as rows
        seeded.close()
        relay, url, _ = _relay(base / "sqlite-catch-up")
        try:
            out["sqlite_catch_up"] = _catch_up(url, base / "sqlite-away", catch_up_events)
        finally:
            relay.close()
        asyncio.run(_seed(nats_url, "CATCHUP", history))
        relay, url = _nats_relay(base / "unused-three", nats_url, "CATCHUP")
        try:
            out["catch_up"] = _catch_up(url, base, catch_up_events)
        finally:
            relay.close()
    finally:
        _stop(server)
    return out


def run(tmp: Path, quick: bool, sizes: tuple[int, int, int, int, int] | None = None) -> Figure:
    """``sizes``: live events, single messages, catch-up events, peers, rounds (else by ``quick``)."""
    started = time.perf_counter()
    live_events, singles, catch_up_events, peers, rounds = sizes or (
        (2_000, 30, 10_000, 200, 5) if quick else (20_000, 200, 100_000, 2_000, 10)
    )
    fig = Figure(
        14,
        "The relay on NATS JetStream: live delivery across two instances, catch-up, fan-out",
        [
            f"One nats-server -js (file storage) on loopback, relay processes with --store nats://. "
            f"Live: {live_events:,} messages A → relay 1 → JetStream → relay 2 → B, then {singles} "
            f"single messages; the SQLite relay in the same run. Catch-up: {catch_up_events:,} events "
            f"from the stream. Fan-out: {peers:,} admitted idle peers, {rounds} rounds of one event, "
            "on one instance and spread over two.",
        ],
    )
    if not (shutil.which("nats-server") or Path("/usr/sbin/nats-server").exists()):
        fig.notes.append("**nats-server is not installed (apt-get install nats-server): not measured.**")
        return fig
    m = _measure(tmp, live_events, singles, catch_up_events, peers, rounds)
    sqlite_bulk, sqlite_latency = m["sqlite"]
    nats_bulk, nats_latency = m["nats"]
    sqlite_rate, nats_rate = live_events / sqlite_bulk, live_events / nats_bulk
    p99 = percentile(nats_latency.times, 99)
    catch_s, received = m["catch_up"]
    catch_rate = received / catch_s
    sqlite_catch_s, sqlite_received = m["sqlite_catch_up"]
    sqlite_catch_rate = sqlite_received / sqlite_catch_s
    fan_one, fan_two = m["fan_one"], m["fan_two"]
    fig.checks += [
        Check(
            "live delivery across two instances, throughput",
            fmt_rate(nats_rate),
            fmt_rate(sqlite_rate) + " (SQLite relay)",
            nats_rate / sqlite_rate,
            "JetStream / SQLite",
            at_least(0.5),
        ),
        Check(
            "single message A → relay → JetStream → relay → B, p99",
            fmt_seconds(p99),
            "10 ms (goal); SQLite relay p99 " + fmt_seconds(percentile(sqlite_latency.times, 99)),
            p99 / 0.010,
            "p99 / 10 ms",
            at_most(1),
        ),
        Check(
            f"catch-up of {catch_up_events:,} events from JetStream",
            fmt_rate(catch_rate),
            f"20,000/s (goal); SQLite relay {fmt_rate(sqlite_catch_rate)}",
            catch_rate / 20_000,
            "events/s / 20,000",
            at_least(1),
        ),
    ]
    fig.tables.append(
        _latency_table(
            ("single message, two instances on JetStream", nats_latency),
            ("single message, one SQLite relay", sqlite_latency),
            (f"fan-out to {peers:,} peers, one instance", fan_one),
            (f"fan-out to {peers:,} peers, two instances", fan_two),
        )
    )
    other = Table(("measure", "value"), title="Throughput")
    other.add(
        "live delivery, two instances on JetStream", f"{fmt_rate(nats_rate)} ({fmt_seconds(nats_bulk)})"
    )
    other.add("live delivery, one SQLite relay", f"{fmt_rate(sqlite_rate)} ({fmt_seconds(sqlite_bulk)})")
    other.add("catch-up from JetStream", f"{fmt_rate(catch_rate)} ({fmt_seconds(catch_s)})")
    other.add(
        "catch-up from the SQLite relay", f"{fmt_rate(sqlite_catch_rate)} ({fmt_seconds(sqlite_catch_s)})"
    )
    for name, sample in (("one instance", fan_one), ("two instances", fan_two)):
        slowest = percentile(sample.times, 99)
        other.add(f"fan-out deliveries per second, {name} (peers / p99)", fmt_rate(peers / slowest))
    fig.tables.append(other)
    fig.notes += [
        "Catch-up is one `sync` of a peer with an empty log: the peer verifies and stores every "
        "batch (signatures, one durable transaction each), which bounds both relays alike; the "
        "SQLite relay's figure in the same run is the ceiling this peer allows.",
        "Each event is one JetStream message. A batch's events of one origin are published "
        "pipelined: the first with the expected last sequence of the origin's subject (what keeps "
        "two instances from storing a fork), each next one with the expected last message id of "
        "the stream = its predecessor's event id, so a message is stored only right after its "
        "predecessor and anything landing inside the run (another instance) makes the rest be "
        "checked again; the PubAcks are awaited together, one round trip per run, not per event.",
        "Fan-out with two instances: every instance reads the stream once through its consumer and "
        "serves its own peers from memory, so the work per event grows with the instances (one "
        "consumer delivery each) while the peers per instance halve; on this 2-core machine the "
        "instances, the peers' helper processes and nats-server share the same cores, so the "
        "figure says more about the machine than about the design. On separate hosts, fan-out "
        "capacity grows about linearly with instances until nats-server's delivery to the "
        "consumers (one per instance) becomes the limit.",
    ]
    fig.seconds = time.perf_counter() - started
    return fig


def main() -> None:  # a quick look during development: python -m bench.fig_nats
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        fig = run(Path(tmp), True, (300, 10, 2_000, 40, 3))
        print("\n".join(fig.markdown()))
        print(json.dumps([(c.name, round(c.ratio, 2)) for c in fig.checks]))


if __name__ == "__main__":
    main()
