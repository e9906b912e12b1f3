"""The JetStream store beyond the contract: two instances on one stream (events one stores reach
the other's listener; racing on one origin never stores a fork or a gap), and a JetStream that
cannot be reached (nothing is reported stored, health says so, and it recovers)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from datacore_msg.errors import IntegrityError, StorageError
from datacore_msg.eventlog.envelope import Event
from datacore_msg.eventlog.signing import SigningKey
from datacore_msg.transport import frames
from datacore_msg.transport.relay_jetstream import JetStreamStore, check_stream_name, parse_servers, shown
from natsserver import NatsServer
from relayclient import NOW_MS, chain
from syncnet import nonce


def items(events: list[Event]) -> list[tuple[int, Event | IntegrityError]]:
    return list(enumerate(events))


@contextmanager
def instances(server_url: str, stream: str, count: int = 2) -> Iterator[list[JetStreamStore]]:
    """``count`` store instances on ``stream`` of ``server_url``, closed after."""
    stores = [JetStreamStore([server_url], stream) for _ in range(count)]
    try:
        yield stores
    finally:
        for store in stores:
            store.close()


@contextmanager
def store_on_own_server(folder: Path, stream: str) -> Iterator[tuple[NatsServer, JetStreamStore]]:
    """A nats-server of the test's own (to kill and start again) and a store on it, both closed after."""
    server = NatsServer(folder).start()
    try:
        store = JetStreamStore([server.url], stream)
        try:
            yield server, store
        finally:
            store.close()
    finally:
        server.close()


def poll(condition: Callable[[], bool], timeout: float) -> None:
    """Return once ``condition`` holds or ``timeout`` seconds passed (the test's asserts say which)."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def run_together(threads: list[threading.Thread], timeout: float) -> None:
    """Start ``threads`` at once, then wait for each (up to ``timeout`` seconds)."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)


def chained(store: JetStreamStore, origin: str) -> list[Event]:
    """Every stored event of ``origin``, checked to be one chain from seq 1 with no gap."""
    out: list[Event] = []
    while found := store.events_after(origin, out[-1].seq if out else 0, 100):
        out += found
    for n, event in enumerate(out):
        assert event.seq == n + 1
        assert event.prev == (out[n - 1].id if n else None)
    return out


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("nats://a:4222", ["nats://a:4222"]),
        ("nats://a:1,b:2,nats://c:3", ["nats://a:1", "nats://b:2", "nats://c:3"]),
    ],
)
def test_the_store_option_names_every_server(spec: str, expected: list[str]) -> None:
    assert parse_servers(spec) == expected


@pytest.mark.parametrize(
    "spec",
    ["nats://", "nats://a", "nats://a:x", "nats://a:1,", "nats://a:0", "nats://a:65536", "nats://a:99999"],
)
def test_a_bad_store_option_is_refused_saying_what_is_expected(spec: str) -> None:
    with pytest.raises(StorageError, match="HOST:PORT"):
        parse_servers(spec)


def test_credentials_in_the_store_option_reach_nats_but_are_never_shown() -> None:
    assert parse_servers("nats://u:pw@a:1,b:2") == ["nats://u:pw@a:1", "nats://b:2"]
    with pytest.raises(StorageError) as bad:
        parse_servers("nats://u:sekrit@a:x")
    assert "sekrit" not in str(bad.value) and "***@a:x" in str(bad.value)
    with pytest.raises(StorageError) as unreachable:
        JetStreamStore(["nats://u:sekrit@127.0.0.1:1"], "T", connect_timeout=0.5)
    assert "sekrit" not in str(unreachable.value) and "nats://***@127.0.0.1:1" in str(unreachable.value)
    assert shown("nats://u:se/cr@et@a:1, 'u:x@b:2'") == "nats://***@a:1, '***@b:2'"


def test_events_one_instance_stores_reach_the_others_listener(nats_server: NatsServer) -> None:
    with instances(nats_server.url, f"T{nonce()[:12]}") as (first, second):
        key = SigningKey.generate()
        events = chain(key, 30)

        async def run() -> list[Event]:
            heard: list[Event] = []
            second.listen(heard.extend)
            await asyncio.sleep(0.1)
            report = await first.ingest(items(events), NOW_MS)
            assert len(report.accepted) == 30
            deadline = time.monotonic() + 30
            while len(heard) < 30 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return heard

        heard = asyncio.run(run())
        assert [e.id for e in heard] == [e.id for e in events]
        assert second.heads() == {key.public_hex: 30}
        assert second.health().reachable and second.health().lag == 0


@pytest.mark.parametrize("stored", [0, 5])
def test_two_instances_racing_on_one_origin_store_one_chain(nats_server: NatsServer, stored: int) -> None:
    stream = f"T{nonce()[:12]}"
    with instances(nats_server.url, stream) as stores:
        key = SigningKey.generate()
        base = chain(key, stored)
        if base:
            asyncio.run(stores[0].ingest(items(base), NOW_MS))
        # each instance gets a different continuation of the stored chain (a fork made by the
        # origin's key: from seq 1 when nothing is stored), in several rounds at once
        prev = base[-1].id if base else None
        forks = [chain(key, 20, first=stored + 1, prev=prev, pad=f"fork{n}") for n in range(2)]
        reports: list[list[object]] = [[], []]

        def run(n: int) -> None:
            for start in range(0, 20, 4):
                try:
                    batch = items(forks[n][start : start + 4])
                    reports[n].append(asyncio.run(stores[n].ingest(batch, NOW_MS)))
                except StorageError as exc:  # gave up racing: nothing reported stored
                    reports[n].append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
        run_together(threads, 120)
        with instances(nats_server.url, stream, 1) as [reader]:
            held = chained(reader, key.public_hex)
        assert held[:stored] == base
        winners = {e.data["pad"] for e in held[stored:]}
        assert len(winners) == 1, "a fork was stored, or nothing"
        accepted = [e.id for rs in reports for r in rs if not isinstance(r, Exception) for e in r.accepted]  # type: ignore[attr-defined]
        assert sorted(accepted) == sorted(e.id for e in held[stored:])


def test_an_unreachable_jetstream_stores_nothing_says_so_and_recovers(tmp_path: Path) -> None:
    with store_on_own_server(tmp_path / "js", "DOWN") as (server, store):
        key = SigningKey.generate()
        events = chain(key, 10)
        assert len(asyncio.run(store.ingest(items(events[:4]), NOW_MS)).accepted) == 4
        server.kill()
        with pytest.raises(StorageError, match="JetStream"):
            asyncio.run(store.ingest(items(events[4:]), NOW_MS))
        poll(lambda: not store.health().reachable, 30)
        assert not store.health().reachable
        server.start()
        poll(lambda: store.health().reachable, 60)
        report = asyncio.run(store.ingest(items(events[4:]), NOW_MS))
        # the refused run is published pipelined, so any of its publishes may sit in the NATS client's
        # reconnect buffer and be stored once the server is back (each still carrying its expected
        # predecessor, so never as a fork or a gap): the batch sent again finds those stored
        # (duplicates) and stores the rest, in order, exactly once
        stored_before = report.duplicates
        assert 0 <= stored_before <= 6 and report.rejected == []
        assert [e.seq for e in report.accepted] == list(range(5 + stored_before, 11))
        assert store.heads() == {key.public_hex: 10}
        assert [e.id for e in chained(store, key.public_hex)] == [e.id for e in events]


def test_a_store_that_cannot_reach_jetstream_at_start_says_where_it_looked(tmp_path: Path) -> None:
    from relayproc import free_port

    with pytest.raises(StorageError, match=r"JetStream at nats://127\.0\.0\.1:\d+ cannot be reached"):
        JetStreamStore([f"nats://127.0.0.1:{free_port()}"], "NONE", connect_timeout=1)


def test_an_instance_whose_cached_tip_is_behind_reads_it_again_rather_than_refuse(
    nats_server: NatsServer,
) -> None:
    with instances(nats_server.url, f"T{nonce()[:12]}") as (first, second):
        key = SigningKey.generate()
        events = chain(key, 10)
        assert len(asyncio.run(first.ingest(items(events[:5]), NOW_MS)).accepted) == 5
        tip = first._log.tips[key.public_hex]
        assert len(asyncio.run(second.ingest(items(events[5:8]), NOW_MS)).accepted) == 3
        poll(lambda: first.heads().get(key.public_hex) == 8, 30)
        # a consumer lagging behind: the first instance's cached tip still says seq 5
        first._log.tips[key.public_hex] = tip
        report = asyncio.run(first.ingest(items(events[8:]), NOW_MS))
        assert [e.seq for e in report.accepted] == [9, 10] and report.rejected == []
        assert [e.id for e in chained(first, key.public_hex)] == [e.id for e in events]


def test_a_catch_up_read_jetstream_cannot_answer_raises_rather_than_read_short(tmp_path: Path) -> None:
    with store_on_own_server(tmp_path / "js", "SHORT") as (server, store):
        key = SigningKey.generate()
        assert len(asyncio.run(store.ingest(items(chain(key, 6)), NOW_MS)).accepted) == 6
        assert [e.seq for e in store.events_after(key.public_hex, 2, 10)] == [3, 4, 5, 6]
        server.kill()
        # the heads still say 6: an empty answer would be taken for "nothing more", and a sync
        # would end OK without events JetStream acknowledged
        with pytest.raises(StorageError, match="JetStream"):
            store.events_after(key.public_hex, 2, 10)
        assert store.events_after(key.public_hex, 6, 10) == []  # nothing held after the head


def test_settle_returns_only_once_the_heads_hold_what_another_instance_stored(
    nats_server: NatsServer,
) -> None:
    with instances(nats_server.url, f"T{nonce()[:12]}") as (first, second):
        key = SigningKey.generate()
        events = chain(key, 8)
        assert len(asyncio.run(first.ingest(items(events[:3]), NOW_MS)).accepted) == 3
        # the first instance's tail stalls (as during a stream leader election)...
        first._call(first._log._tail.unsubscribe())
        assert len(asyncio.run(second.ingest(items(events[3:]), NOW_MS)).accepted) == 5
        assert first.heads() == {key.public_hex: 3}
        # ...so a connection would be sent stale heads: settle waits for the tail (started again by
        # the watch) to pass everything JetStream acknowledged, and only then returns
        first._call(first._log.settle(60), 70)
        assert first.heads() == {key.public_hex: 8}
        assert [e.id for e in chained(first, key.public_hex)] == [e.id for e in events]
        with pytest.raises(StorageError, match="consumer is behind"):
            first._call(first._log._tail.unsubscribe())
            asyncio.run(second.ingest(items(chain(SigningKey.generate(), 1)), NOW_MS))
            first._call(first._log.settle(0.2))


def test_pipelined_runs_interleaved_with_other_writers_still_store_one_chain_per_origin(
    nats_server: NatsServer,
) -> None:
    """A run of one origin is published pipelined (only its first message checked against the
    subject's tip, each next one against the stream's last message id): other origins' messages
    and another instance's fork of the same origin landing in between must make the rest be
    checked again, never let a fork or a gap into the stream."""
    stream = f"T{nonce()[:12]}"
    with instances(nats_server.url, stream, 3) as stores:
        long, busy = SigningKey.generate(), SigningKey.generate()
        runs = {"mine": chain(long, 90, pad="mine"), "fork": chain(long, 90, pad="fork")}
        others = chain(busy, 90)
        reports: list[object] = []

        def ingest_in(store: JetStreamStore, events: list[Event], size: int) -> None:
            for start in range(0, len(events), size):
                try:
                    reports.append(asyncio.run(store.ingest(items(events[start : start + size]), NOW_MS)))
                except StorageError as exc:
                    reports.append(exc)

        threads = [
            threading.Thread(target=ingest_in, args=(stores[0], runs["mine"], 30)),
            threading.Thread(target=ingest_in, args=(stores[1], runs["fork"], 45)),
            threading.Thread(target=ingest_in, args=(stores[2], others, 2)),
        ]
        run_together(threads, 180)
        with instances(nats_server.url, stream, 1) as [reader]:
            held = chained(reader, long.public_hex)
            assert [e.id for e in chained(reader, busy.public_hex)] == [e.id for e in others]
        assert held and len({e.data["pad"] for e in held}) == 1, "a fork was stored"
        accepted = [e.id for r in reports if not isinstance(r, Exception) for e in r.accepted]  # type: ignore[attr-defined]
        assert sorted(accepted) == sorted([e.id for e in held] + [e.id for e in others])


def test_an_event_that_fits_a_frame_but_not_a_jetstream_message_is_rejected_not_a_store_failure(
    nats_server: NatsServer,
) -> None:
    """A peer's event may be as big as a frame; with its headers it is over NATS's max payload.
    It is rejected (with what follows it of its origin), not reported as a JetStream that cannot
    store anything, which the peer would retry forever."""
    stream = f"T{nonce()[:12]}"
    store = JetStreamStore([nats_server.url], stream)
    try:
        key = SigningKey.generate()
        first = chain(key, 1)[0]
        probe = chain(key, 1, first=2, prev=first.id)[0]
        pad = frames.MAX_FRAME_BYTES - 100 - len(json.dumps(probe.to_json(), separators=(",", ":")))
        big = chain(key, 1, pad="x" * pad, first=2, prev=first.id)[0]
        after = chain(key, 1, first=3, prev=big.id)[0]
        assert (
            frames.MAX_FRAME_BYTES - 200
            < len(json.dumps(big.to_json(), separators=(",", ":")))
            < (frames.MAX_FRAME_BYTES - 50)
        )
        report = asyncio.run(store.ingest(items([first, big, after]), NOW_MS))
        assert [e.id for e in report.accepted] == [first.id]
        assert [n for n, _ in report.rejected] == [1, 2]
        assert "bytes one JetStream message holds" in report.rejected[0][1]
        assert store.heads()[key.public_hex] == 1
        other = chain(SigningKey.generate(), 3)
        assert len(asyncio.run(store.ingest(items(other), NOW_MS)).accepted) == 3
    finally:
        store.close()


def test_a_stream_jetstream_will_not_create_is_refused_at_once_saying_why(nats_server: NatsServer) -> None:
    started = time.monotonic()
    with pytest.raises(StorageError, match=r"refused to create the stream .*replicas > 1"):
        JetStreamStore([nats_server.url], f"T{nonce()[:12]}", replicas=3)  # one server: no cluster
    assert time.monotonic() - started < 10  # not retried until the connect timeout (15 s)


def test_a_stream_found_with_other_replicas_than_asked_is_used_and_said(nats_server: NatsServer) -> None:
    stream = f"T{nonce()[:12]}"
    JetStreamStore([nats_server.url], stream).close()
    again = JetStreamStore([nats_server.url], stream, replicas=3)
    try:
        assert again.notes == [
            f"stream {stream} exists with 1 replica(s), not the 3 --replicas asks for; it is used as it "
            "is (change it with the nats CLI)"
        ]
    finally:
        again.close()
    same = JetStreamStore([nats_server.url], stream)
    try:
        assert same.notes == []
    finally:
        same.close()


@pytest.mark.parametrize("name", ["S" * 256, "Ünï", "a.b", "a>", ""])
def test_a_stream_name_nats_would_refuse_is_refused_before_connecting(name: str) -> None:
    with pytest.raises(StorageError, match="stream name"):
        check_stream_name(name)


def test_a_nats_login_from_the_environment_is_used_and_never_shown(tmp_path: Path) -> None:
    """The relay's NATS login (``NATS_USER`` / ``NATS_PASSWORD`` for ``relay serve``) reaches a
    server that requires one; without it the server refuses, in one line that gives the server's reason
    and shows no password."""
    server = NatsServer(tmp_path / "js", login=("relay", "pw-0123456789")).start()
    try:
        with pytest.raises(StorageError) as refused:
            JetStreamStore([server.url], "LOGIN", connect_timeout=3)
        assert "cannot be reached" in str(refused.value) and "\n" not in str(refused.value)
        with pytest.raises(StorageError) as wrong:
            JetStreamStore([server.url], "LOGIN", connect_timeout=3, login=("relay", "not-it-42"))
        assert "not-it-42" not in str(wrong.value)
        for error in (refused.value, wrong.value):  # NATS's reason, not the connect's TimeoutError
            assert "Authorization Violation" in str(error), error
        store = JetStreamStore([server.url], "LOGIN", login=("relay", "pw-0123456789"))
        try:
            key = SigningKey.generate()
            assert len(asyncio.run(store.ingest(items(chain(key, 2)), NOW_MS)).accepted) == 2
            assert "pw-0123456789" not in store.describe()
        finally:
            store.close()
    finally:
        server.close()


@pytest.mark.parametrize(
    ("user", "password", "expected"),
    [("", "", None), ("relay", "pw", ("relay", "pw")), ("relay", "", "both"), ("", "pw", "both")],
)
def test_the_nats_login_is_both_variables_or_neither(
    monkeypatch: pytest.MonkeyPatch, user: str, password: str, expected: object
) -> None:
    from datacore_msg.cli.relay_commands import _nats_login
    from datacore_msg.errors import ConfigError

    monkeypatch.setenv("NATS_USER", user)
    monkeypatch.setenv("NATS_PASSWORD", password)
    if expected == "both":
        with pytest.raises(ConfigError, match="both NATS_USER and NATS_PASSWORD"):
            _nats_login()
    else:
        assert _nats_login() == expected
